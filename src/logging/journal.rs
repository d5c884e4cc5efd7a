//! A client for journald's native protocol: one datagram per record, one
//! field per line (`KEY=value\n`), or, for a value holding a newline, the
//! binary form `KEY\n<u64 little-endian length><value>\n`.
//!
//! Written here rather than taken from systemd-journal-logger because that
//! crate always talks to /run/systemd/journal/socket, and the tests need a
//! socket of their own.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use log::{Level, Record};

/// A connected-on-demand journal socket.
pub struct Journal {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Journal {
    pub fn new(path: &Path) -> std::io::Result<Journal> {
        Ok(Journal {
            socket: UnixDatagram::unbound()?,
            path: path.to_path_buf(),
        })
    }

    /// Sends one record; the caller falls back to stderr on error.
    pub fn send(&self, record: &Record<'_>) -> std::io::Result<()> {
        self.socket.send_to(&encode(record), &self.path).map(|_| ())
    }
}

/// syslog priority of a log level.
fn priority(level: Level) -> &'static str {
    match level {
        Level::Error => "3",
        Level::Warn => "4",
        Level::Info => "6",
        Level::Debug | Level::Trace => "7",
    }
}

/// The datagram for one record: PRIORITY, MESSAGE, SYSLOG_IDENTIFIER, where
/// in the code, and each key-value as a field of its own.
pub fn encode(record: &Record<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    put(&mut buf, "PRIORITY", priority(record.level()).as_bytes());
    put(&mut buf, "MESSAGE", record.args().to_string().as_bytes());
    put(&mut buf, "SYSLOG_IDENTIFIER", b"anprd");
    put(&mut buf, "TARGET", record.target().as_bytes());
    if let Some(file) = record.file() {
        put(&mut buf, "CODE_FILE", file.as_bytes());
    }
    if let Some(line) = record.line() {
        put(&mut buf, "CODE_LINE", line.to_string().as_bytes());
    }
    struct Fields<'a>(&'a mut Vec<u8>);
    impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            let name = field_name(key.as_str());
            if !name.is_empty() {
                put(self.0, &name, value.to_string().as_bytes());
            }
            Ok(())
        }
    }
    let _ = record.key_values().visit(&mut Fields(&mut buf));
    buf
}

/// journald field names: upper-case letters, digits and '_', not starting
/// with '_' (reserved for trusted fields) or a digit, at most 64 bytes.
pub fn field_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    while name.starts_with(|c: char| c == '_' || c.is_ascii_digit()) {
        name.remove(0);
    }
    name.truncate(64);
    name
}

fn put(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value);
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_with_a_newline_takes_the_binary_form() {
        let mut buf = Vec::new();
        put(&mut buf, "MESSAGE", b"two\nlines");
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert_eq!(buf, want);
    }

    #[test]
    fn key_values_become_fields_with_journal_names() {
        let record = Record::builder()
            .level(Level::Warn)
            .args(format_args!("camera lost"))
            .target("anprd::capture")
            .key_values(&[
                ("MESSAGE_ID", "95794101df2e4e06a2b6dfc59289d87d"),
                ("camera-id", "cam-1"),
            ])
            .build();
        let text = String::from_utf8(encode(&record)).unwrap();
        assert!(
            text.starts_with("PRIORITY=4\nMESSAGE=camera lost\n"),
            "{text}"
        );
        assert!(
            text.contains("\nMESSAGE_ID=95794101df2e4e06a2b6dfc59289d87d\n"),
            "{text}"
        );
        assert!(text.contains("\nCAMERA_ID=cam-1\n"), "{text}");
        assert_eq!(field_name("_9x"), "X");
    }
}
