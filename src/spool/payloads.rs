//! Payloads kept in files beside sled, one per read.
//!
//! sled 0.34 keeps what it stores resident: with reads of a real size (a
//! 3 KB plate patch and a 25 KB overview) an outage's backlog grew the
//! process by up to 250 MB at 20,000 reads, and reopening a 430 MB spool
//! took 445 MB, whatever `cache_capacity` said (`cargo bench --bench
//! spool_memory`). A site box cannot afford a backlog in memory, and a
//! restart during a long outage must not need more memory than the box has.
//! So a payload larger than [`INLINE_MAX`] lives in its own file under
//! `payloads/` in the spool's directory, and sled keeps only the read's
//! header with the payload's length and CRC (`frame.rs`).
//!
//! The order of writes is what makes this durable:
//! - **store**: the files are written and synced, then the directory, and
//!   only then is the record committed to sled; a crash in between leaves
//!   files no record names, removed at the next open;
//! - **remove** (acknowledged, expired, dropped) and **shed**: the file is
//!   unlinked only after sled has flushed the change, so a crash that undoes
//!   the change in sled never finds the file gone.
//!
//! A file is named by the record's key and its [`Stage`]: shedding writes the
//! smaller payload under a new name, so the record and its file change
//! together at sled's commit, never one without the other.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::Stage;

/// Payloads up to this many bytes stay in sled: a text read (about 450
/// bytes) does, any read carrying an image does not.
pub const INLINE_MAX: usize = 1024;

/// The directory of payload files inside the spool's directory.
const DIR: &str = "payloads";

pub(super) struct Payloads {
    dir: PathBuf,
}

impl Payloads {
    /// The payload directory of the spool at `spool`.
    pub fn new(spool: &Path) -> Payloads {
        Payloads {
            dir: spool.join(DIR),
        }
    }

    /// Creates the directory if it is missing (a new spool, or a fresh one
    /// after a quarantine moved the old one aside with its files).
    pub fn create_dir(&self) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
    }

    pub fn path(&self, key: u64, stage: Stage) -> PathBuf {
        self.dir.join(format!("{key:016x}.{}", stage as u8))
    }

    /// Writes each `(key, stage, bytes)` and makes them durable: every file
    /// synced, then the directory that names them.
    pub fn write(&self, files: &[(u64, Stage, &[u8])]) -> std::io::Result<()> {
        for &(key, stage, bytes) in files {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(self.path(key, stage))?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        if !files.is_empty() {
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    pub fn read(&self, key: u64, stage: Stage) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(key, stage))
    }

    /// Unlinks the payload of `key` at every stage it may have had.
    pub fn remove(&self, key: u64) {
        for stage in [Stage::Full, Stage::NoOverview, Stage::TextOnly] {
            self.remove_one(key, stage);
        }
    }

    pub fn remove_one(&self, key: u64, stage: Stage) {
        // Already gone is fine; anything else leaves a file the next open
        // removes.
        let _ = std::fs::remove_file(self.path(key, stage));
    }

    /// Removes every file `keep` does not claim (by key and stage), and any
    /// file whose name is not a payload's. Returns how many were removed.
    pub fn sweep(&self, keep: impl Fn(u64, Stage) -> bool) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let kept = name
                .to_str()
                .and_then(parse_name)
                .is_some_and(|(key, stage)| keep(key, stage));
            if !kept && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// `(key, stage)` from a payload file's name.
fn parse_name(name: &str) -> Option<(u64, Stage)> {
    let (key, stage) = name.split_once('.')?;
    if key.len() != 16 {
        return None;
    }
    let key = u64::from_str_radix(key, 16).ok()?;
    let stage = match stage {
        "0" => Stage::Full,
        "1" => Stage::NoOverview,
        "2" => Stage::TextOnly,
        _ => return None,
    };
    Some((key, stage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_not_payloads() {
        let dir = tempfile::tempdir().unwrap();
        let p = Payloads::new(dir.path());
        p.create_dir().unwrap();
        let path = p.path(0x1234, Stage::NoOverview);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "0000000000001234.1");
        assert_eq!(parse_name(name), Some((0x1234, Stage::NoOverview)));
        for odd in [
            "1234.1",
            "0000000000001234.3",
            "0000000000001234",
            "zzzzzzzzzzzzzzzz.0",
        ] {
            assert_eq!(parse_name(odd), None, "{odd}");
        }
    }

    #[test]
    fn sweep_keeps_what_is_claimed_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = Payloads::new(dir.path());
        p.create_dir().unwrap();
        p.write(&[
            (1, Stage::Full, b"one"),
            (2, Stage::Full, b"two"),
            (2, Stage::NoOverview, b"two, shed"),
        ])
        .unwrap();
        std::fs::write(dir.path().join(DIR).join("stray"), b"?").unwrap();
        let removed = p.sweep(|k, s| (k, s) == (2, Stage::NoOverview)).unwrap();
        assert_eq!(removed, 3);
        assert_eq!(p.read(2, Stage::NoOverview).unwrap(), b"two, shed");
        assert!(p.read(1, Stage::Full).is_err());
        p.remove(2);
        assert_eq!(std::fs::read_dir(dir.path().join(DIR)).unwrap().count(), 0);
    }
}
