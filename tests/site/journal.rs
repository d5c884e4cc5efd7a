//! A listener for journald's native protocol, standing in for
//! systemd-journald: it owns the datagram socket the daemon logs to and
//! parses each record, including the binary length-prefixed field form.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One journal record: field name to value.
pub type Entry = BTreeMap<String, Vec<u8>>;

pub struct JournalListener {
    pub path: PathBuf,
    records: Arc<Mutex<Vec<Entry>>>,
}

impl JournalListener {
    pub fn bind(dir: &Path) -> JournalListener {
        let path = dir.join("journal.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = records.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            while let Ok(n) = socket.recv(&mut buf) {
                let entry =
                    parse(&buf[..n]).unwrap_or_else(|e| panic!("bad journal datagram: {e}"));
                sink.lock().unwrap().push(entry);
            }
        });
        JournalListener { path, records }
    }

    pub fn records(&self) -> Vec<Entry> {
        self.records.lock().unwrap().clone()
    }

    /// Waits for a record for which `pred` holds and returns it.
    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Entry) -> bool) -> Entry {
        let until = Instant::now() + timeout;
        loop {
            if let Some(e) = self.records().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < until,
                "no journal record {what} within {timeout:?}; got:\n{}",
                self.records()
                    .iter()
                    .map(show)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A field as text.
pub fn field<'a>(entry: &'a Entry, name: &str) -> Option<&'a str> {
    entry
        .get(name)
        .map(|v| std::str::from_utf8(v).expect("UTF-8 field"))
}

pub fn show(entry: &Entry) -> String {
    entry
        .iter()
        .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses one native-protocol datagram, as journald does.
pub fn parse(mut data: &[u8]) -> Result<Entry, String> {
    let mut entry = Entry::new();
    while !data.is_empty() {
        let line_end = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("field without newline")?;
        let line = &data[..line_end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let name = std::str::from_utf8(&line[..eq]).map_err(|e| e.to_string())?;
            entry.insert(name.to_string(), line[eq + 1..].to_vec());
            data = &data[line_end + 1..];
        } else {
            let name = std::str::from_utf8(line).map_err(|e| e.to_string())?;
            let rest = &data[line_end + 1..];
            let len_bytes: [u8; 8] = rest.get(..8).ok_or("short length")?.try_into().unwrap();
            let len = u64::from_le_bytes(len_bytes) as usize;
            let value = rest.get(8..8 + len).ok_or("short value")?;
            if rest.get(8 + len) != Some(&b'\n') {
                return Err(format!("binary field {name} not followed by a newline"));
            }
            entry.insert(name.to_string(), value.to_vec());
            data = &rest[8 + len + 1..];
        }
        let name = entry.keys().last().unwrap();
        if !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            || name.starts_with('_')
        {
            return Err(format!("invalid field name {name:?}"));
        }
    }
    Ok(entry)
}
