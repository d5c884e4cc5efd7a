//! Opening sled, and moving a spool that cannot be opened out of the way.
//!
//! A spool whose files are damaged would otherwise fail every start: a crash
//! loop that also stops capture. It is renamed into `<name>.quarantine/`
//! beside it (never deleted: it may hold evidence someone can recover) and a
//! fresh spool is started.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::logging::message_id;

/// sled's page cache; its default (1 GiB) is far more than an edge box should give.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The open database and its trees. Clones are cheap handles.
#[derive(Clone)]
pub(super) struct Handles {
    pub db: sled::Db,
    pub reads: sled::Tree,
    /// Records that could not be decoded, set aside so they cannot stall the queue.
    pub corrupt: sled::Tree,
}

/// Why sled could not be opened.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenFailure {
    #[error("{0}")]
    Sled(#[from] sled::Error),
    #[error("sled panicked: {0}")]
    Panic(String),
}

impl OpenFailure {
    /// Damage to the files, as opposed to a problem a restart or an operator
    /// fixes (permissions, a missing mount, a full disk).
    pub fn is_damage(&self) -> bool {
        match self {
            OpenFailure::Panic(_) => true,
            OpenFailure::Sled(
                sled::Error::Corruption { .. }
                | sled::Error::ReportableBug(_)
                | sled::Error::Unsupported(_),
            ) => true,
            OpenFailure::Sled(sled::Error::Io(e)) => matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ),
            OpenFailure::Sled(_) => false,
        }
    }
}

/// How long an open waits for sled's file lock: sled finishes writes of a
/// database just dropped (a reopen) on background threads.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Opens sled at `path`. sled can panic on damaged files; that is caught
/// and reported as damage.
pub(super) fn open(path: &Path) -> Result<Handles, OpenFailure> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match open_once(path) {
            Err(OpenFailure::Sled(sled::Error::Io(e)))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn open_once(path: &Path) -> Result<Handles, OpenFailure> {
    catch_unwind(AssertUnwindSafe(|| -> Result<Handles, sled::Error> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let reads = db.open_tree("reads")?;
        let corrupt = db.open_tree("corrupt")?;
        Ok(Handles { db, reads, corrupt })
    }))
    .map_err(|p| OpenFailure::Panic(panic_text(&p)))?
    .map_err(OpenFailure::Sled)
}

/// Renames the spool at `path` into `<path>.quarantine/<UTC time>` and says where.
pub(super) fn quarantine(path: &Path, why: &OpenFailure) -> std::io::Result<PathBuf> {
    let mut folder = path.as_os_str().to_owned();
    folder.push(".quarantine");
    let folder = PathBuf::from(folder);
    std::fs::create_dir_all(&folder)?;
    let stamp = crate::record::rfc3339_millis(crate::record::now_millis()).replace(':', "");
    let mut to = folder.join(&stamp);
    let mut n = 1;
    while to.exists() {
        to = folder.join(format!("{stamp}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &to)?;
    log::error!(
        MESSAGE_ID = message_id::SPOOL_QUARANTINED;
        "spool {} cannot be opened ({why}); moved aside to {} and a fresh spool started. \
         Reads in it were not sent; keep it for recovery",
        path.display(),
        to.display()
    );
    Ok(to)
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
