//! A stand-in for journald's socket: receives what a process sends with
//! journald's native protocol, record by record and field by field.
//!
//! anprd logs to `/run/systemd/journal/socket` when it exists. A test runs
//! the daemon in a private mount namespace ([`JournalSocket::wrap`]) where
//! that path leads here, so it sees every record and every field exactly as
//! journald would, without touching the host's journal.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One journal record: field name → value.
pub type Record = BTreeMap<String, Vec<u8>>;

pub struct JournalSocket {
    path: PathBuf,
    records: Arc<Mutex<Vec<Record>>>,
    _dir: tempfile::TempDir,
}

impl JournalSocket {
    pub fn bind() -> JournalSocket {
        let dir = tempfile::tempdir().expect("temp dir for the journal socket");
        let path = dir.path().join("socket");
        let socket = UnixDatagram::bind(&path).expect("bind the journal socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = records.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            // Ends when the test process does.
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => sink.lock().unwrap().push(parse(&buf[..n])),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        });
        JournalSocket {
            path,
            records,
            _dir: dir,
        }
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    /// The `MESSAGE` of every record so far.
    pub fn messages(&self) -> Vec<String> {
        self.records()
            .iter()
            .filter_map(|r| r.get("MESSAGE"))
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    /// A shell command line that makes `/run/systemd/journal/socket` lead to
    /// this socket in a new mount namespace, then runs `then` (already
    /// quoted). Needs root (`unshare -m`).
    pub fn wrap(&self, then: &str) -> String {
        format!(
            "mount -t tmpfs anprd-test /run/systemd && mkdir -p /run/systemd/journal && \
             ln -s {sock} /run/systemd/journal/socket && {then}",
            sock = shell_quote(&self.path)
        )
    }
}

/// Parses one datagram: `KEY=value\n`, or `KEY\n` + u64 LE length + value + `\n`.
fn parse(mut data: &[u8]) -> Record {
    let mut record = Record::new();
    while !data.is_empty() {
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &data[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            record.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                line[eq + 1..].to_vec(),
            );
            data = &data[nl + 1..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &data[nl + 1..];
            if rest.len() < 8 {
                break;
            }
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let value = rest[8..].get(..len).unwrap_or(&rest[8..]).to_vec();
            record.insert(key, value);
            data = rest.get(8 + len + 1..).unwrap_or(&[]);
        }
    }
    record
}

pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// `program` run as root: directly when we are root, else by `sudo -n`.
pub fn as_root(program: &str) -> Command {
    if nix::unistd::geteuid().is_root() {
        Command::new(program)
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", program]);
        cmd
    }
}

/// Whether namespaces can be made (`unshare -m -u`, as root).
pub fn can_unshare() -> bool {
    as_root("unshare")
        .args(["-m", "-u", "true"])
        .status()
        .is_ok_and(|s| s.success())
}
