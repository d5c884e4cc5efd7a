//! Logging: to journald when it is there, to stderr otherwise.
//!
//! Messages name cameras and reads by their opaque ids only. Nothing that
//! places the site (labels, source URLs, hostnames) may be logged: the
//! journal is shipped off the box by some sites' tooling.

use std::io::Write as _;
use std::path::Path;

use log::{LevelFilter, Log, Metadata, Record};

/// Where journald listens for native-protocol records.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Which sink [`init`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Stderr,
}

/// Installs the process logger at `level`. Call once, early.
pub fn init(level: LevelFilter) -> Sink {
    let sink = if Path::new(JOURNAL_SOCKET).exists() {
        match systemd_journal_logger::JournalLog::new() {
            Ok(journal) => journal
                .with_syslog_identifier("anprd".into())
                .install()
                .map(|()| Sink::Journal)
                .unwrap_or(Sink::Stderr),
            Err(_) => install_stderr(),
        }
    } else {
        install_stderr()
    };
    log::set_max_level(level);
    sink
}

/// Changes the level of the installed logger (configuration reload).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

fn install_stderr() -> Sink {
    // Ignore "already installed": tests may call init more than once.
    let _ = log::set_boxed_logger(Box::new(StderrLog));
    Sink::Stderr
}

/// One line per record: UTC time, level, message.
struct StderrLog;

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) || !record.target().starts_with("anprd") {
            return;
        }
        let now = crate::record::rfc3339_millis(crate::record::now_millis());
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{now} {:<5} {}", record.level(), record.args());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}
