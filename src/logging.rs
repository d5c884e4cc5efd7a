//! Logging: to journald when it is there, to stderr otherwise.
//!
//! Messages name cameras and reads by their opaque ids only. Nothing that
//! places the site (labels, source URLs, hostnames) may be logged: the
//! journal is shipped off the box by some sites' tooling.

mod journal;

use std::io::Write as _;
use std::path::PathBuf;

use log::{LevelFilter, Log, Metadata, Record};

pub use journal::{encode as journal_record, field_name as journal_field_name};

/// Where journald listens for native-protocol records.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// Overrides `JOURNAL_SOCKET` (tests run a listener of their own).
pub const JOURNAL_SOCKET_ENV: &str = "ANPRD_JOURNAL_SOCKET";

/// The journal socket to use: `$ANPRD_JOURNAL_SOCKET`, else journald's own.
fn journal_socket() -> PathBuf {
    std::env::var_os(JOURNAL_SOCKET_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(JOURNAL_SOCKET))
}

/// Which sink [`init`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Stderr,
}

/// Installs the process logger at `level`. Call once, early.
pub fn init(level: LevelFilter) -> Sink {
    let path = journal_socket();
    let sink = match path.exists().then(|| journal::Journal::new(&path)) {
        Some(Ok(journal)) => match log::set_boxed_logger(Box::new(JournalLog(journal))) {
            Ok(()) => Sink::Journal,
            Err(_) => Sink::Stderr,
        },
        _ => install_stderr(),
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

/// To journald; a record the journal refuses goes to stderr instead.
struct JournalLog(journal::Journal);

impl Log for JournalLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) || !record.target().starts_with("anprd") {
            return;
        }
        if self.0.send(record).is_err() {
            StderrLog.log(record);
        }
    }

    fn flush(&self) {}
}

/// One line per record: UTC time, level, message, then key-values.
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
        struct Pairs(String);
        impl<'kvs> log::kv::VisitSource<'kvs> for Pairs {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push_str(&format!(" {key}={value}"));
                Ok(())
            }
        }
        let mut pairs = Pairs(String::new());
        let _ = record.key_values().visit(&mut pairs);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{now} {:<5} {}{}",
            record.level(),
            record.args(),
            pairs.0
        );
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Stable journald MESSAGE_IDs, one per event an operator acts on. Never
/// change a value: operators filter on them (`journalctl MESSAGE_ID=…`), and
/// docs/operations.md lists them. Log with key-values, e.g.
/// `log::warn!(MESSAGE_ID = message_id::SPOOL_DROP, READ_ID:% = read.read_id; "…")`,
/// and name a camera with `CAMERA_ID = id`.
pub mod message_id {
    /// A camera stopped delivering frames; anprd reopens it with backoff.
    pub const CAMERA_LOST: &str = "95794101df2e4e06a2b6dfc59289d87d";
    /// A lost camera delivers frames again.
    pub const CAMERA_RECOVERED: &str = "1e44615f1131469da793b2a3bd8a5638";
    /// The broker connection dropped or cannot be made; reads wait in the spool.
    pub const BROKER_LOST: &str = "bd07b33bb25d416ea3976f344723ca84";
    /// The broker connection is back; waiting reads are sent.
    pub const BROKER_RECOVERED: &str = "e33ea2e6bdfc422d84de49dcebe55805";
    /// The spool reached max_bytes.
    pub const SPOOL_CAP: &str = "4d524c4b49004ca38db1fc4db89fb18e";
    /// Images were removed from stored reads to make room; the text reads are kept.
    pub const SPOOL_SHED: &str = "fb4e1eab37bb470e97a0e8d088ec0b4f";
    /// Whole stored reads were dropped to make room.
    pub const SPOOL_DROP: &str = "ffd43e622e1a4512bb6fcf4394e1f2c8";
    /// Stored reads older than max_age were removed unsent.
    pub const SPOOL_EXPIRED: &str = "3e418870b67c4a5abc08040405ee7e69";
    /// A corrupt spool or record was moved aside (never deleted).
    pub const SPOOL_QUARANTINED: &str = "0e798fcabea44a20981f18c9b792fb21";
    /// Reads could not be stored (disk full, I/O error).
    pub const SPOOL_WRITE_FAILED: &str = "6df33ff18f2347b3ac43418af58438f5";
    /// The system clock is not synchronised; reads carry a flag.
    pub const CLOCK_UNSYNCHRONISED: &str = "897613e0c03c4191a57b1bce7f193c6b";
    /// The pipeline stopped making progress; systemd's watchdog will restart anprd.
    pub const WATCHDOG_STALL: &str = "e8217ee4bd7547688c5f27c5bffca6b4";
    /// Mqtt:// without TLS is in use (allow_insecure = true).
    pub const INSECURE_TRANSPORT: &str = "b7b866dba0d24b09ae61f6d7abc4d0cb";
    /// No spool encryption key: reads are stored unencrypted.
    pub const NO_SPOOL_KEY: &str = "e1d1e861fa5f4f0e8bc76ea725e401bb";
}
