//! The spool: a durable FIFO of reads between recognition and the broker.
//!
//! Reads live in sled under a big-endian `u64` sequence key, so key order is
//! arrival order (FIFO overall, hence per camera) and the sequence keeps
//! rising across restarts. A read is only "stored" once flushed, and only
//! removed once the broker acknowledged it, so a crash or an outage loses
//! nothing. An in-memory index (rebuilt by one scan at open) keeps counts,
//! bytes and ages, so [`Spool::stats`] is cheap and the forwarder can walk the
//! queue without scanning sled.
//!
//! The size cap counts the bytes of keys and values, not sled's files (which
//! run larger: sled logs and compacts). When an append would pass the cap the
//! oldest reads are dropped, each logged and counted.

pub mod frame;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use crate::capture::UtcMillis;
use crate::config::SpoolConfig;
use crate::record::Read;
use crate::seal::{SealError, Sealer};

pub use frame::Entry;
pub use writer::spawn_writer;

/// sled's page cache; its default (1 GiB) is far more than an edge box should give.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes a key adds to the accounted size.
const KEY_BYTES: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SpoolStats {
    /// Reads stored and not yet acknowledged by the broker.
    pub pending: u64,
    /// Their size as accounted against `max_bytes`.
    pub bytes: u64,
    /// Capture time of the oldest pending read.
    pub oldest_captured_at: Option<UtcMillis>,
    /// Reads dropped unsent to respect `max_bytes`, since open.
    pub dropped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: cannot open: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("spool {path}: {source}")]
    Db { path: PathBuf, source: sled::Error },
    #[error("spool {path}: read {read_id} of camera {camera_id}: {source}")]
    Frame {
        path: PathBuf,
        read_id: Uuid,
        camera_id: String,
        source: frame::FrameError,
    },
    /// Sealed records the configured key cannot open: refused whole rather
    /// than set aside one by one, which would empty the queue.
    #[error("spool {path}: {sealed} stored reads cannot be opened: {source}")]
    Sealed {
        path: PathBuf,
        sealed: usize,
        source: SealError,
    },
    #[error("spool {path}: {count} reads need {bytes} bytes, more than max_bytes {max_bytes}")]
    TooLarge {
        path: PathBuf,
        count: usize,
        bytes: u64,
        max_bytes: u64,
    },
}

/// A cheap handle on the spool; clones share one database.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    db: sled::Db,
    reads: sled::Tree,
    /// Records that could not be decoded, set aside so they cannot stall the queue.
    corrupt: sled::Tree,
    max_bytes: u64,
    /// Seals values on the way in, opens them on the way out (`crate::seal`).
    sealer: Sealer,
    index: Mutex<Index>,
    /// Appends run one at a time, so the cap decision holds until they land.
    append_lock: Mutex<()>,
}

/// What the spool knows about a pending read without touching sled.
#[derive(Debug, Clone, Copy)]
struct Meta {
    read_id: Uuid,
    captured_at: UtcMillis,
    bytes: u64,
}

#[derive(Default)]
struct Index {
    entries: BTreeMap<u64, Meta>,
    /// (captured_at, key): the oldest capture in O(log n).
    by_age: BTreeSet<(UtcMillis, u64)>,
    bytes: u64,
    dropped: u64,
    /// Highest key ever seen, so keys keep rising whatever sled's id counter says.
    high_water: Option<u64>,
}

impl Index {
    fn insert(&mut self, key: u64, meta: Meta) {
        if let Some(old) = self.entries.insert(key, meta) {
            self.by_age.remove(&(old.captured_at, key));
            self.bytes -= old.bytes;
        }
        self.by_age.insert((meta.captured_at, key));
        self.bytes += meta.bytes;
        self.high_water = Some(self.high_water.map_or(key, |h| h.max(key)));
    }

    /// The reads that give way so `incoming` more bytes fit under `max_bytes`:
    /// the oldest first. The one place that decides what a full spool sheds.
    fn make_room(&self, incoming: u64, max_bytes: u64) -> Vec<u64> {
        let mut victims = Vec::new();
        let mut bytes = self.bytes;
        for (&key, meta) in &self.entries {
            if bytes + incoming <= max_bytes {
                break;
            }
            bytes -= meta.bytes;
            victims.push(key);
        }
        victims
    }

    fn remove(&mut self, key: u64) -> Option<Meta> {
        let meta = self.entries.remove(&key)?;
        self.by_age.remove(&(meta.captured_at, key));
        self.bytes -= meta.bytes;
        Some(meta)
    }
}

impl Spool {
    /// Opens (or creates) the spool and indexes what it holds.
    pub fn open(cfg: &SpoolConfig) -> Result<Spool, SpoolError> {
        Spool::open_sealed(cfg, Sealer::clear())
    }

    /// Opens the spool, sealing what it stores with `sealer`. Fails if it
    /// holds sealed reads that `sealer` cannot open (no key, wrong key).
    pub fn open_sealed(cfg: &SpoolConfig, sealer: Sealer) -> Result<Spool, SpoolError> {
        let path = cfg.path.clone();
        let open_err = |source| SpoolError::Open {
            path: path.clone(),
            source,
        };
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(open_err)?;
        let reads = db.open_tree("reads").map_err(open_err)?;
        let corrupt = db.open_tree("corrupt").map_err(open_err)?;
        let spool = Spool {
            inner: Arc::new(Inner {
                path: path.clone(),
                db,
                reads,
                corrupt,
                max_bytes: cfg.max_bytes,
                sealer,
                index: Mutex::new(Index::default()),
                append_lock: Mutex::new(()),
            }),
        };
        spool.scan()?;
        Ok(spool)
    }

    /// Builds the index from disk, setting aside records that do not decode.
    fn scan(&self) -> Result<(), SpoolError> {
        let mut index = Index::default();
        let mut bad = Vec::new();
        let (mut opened, mut unopened) = (0, Vec::new());
        for item in self.inner.reads.iter() {
            let (k, stored) = item.map_err(|e| self.db_err(e))?;
            let v = match key_of(&k).map(|key| self.inner.sealer.open(key, &stored)) {
                Some(Ok(v)) => {
                    opened += usize::from(crate::seal::is_sealed(&stored));
                    v
                }
                Some(Err(e)) => {
                    unopened.push((k, e));
                    continue;
                }
                None => std::borrow::Cow::Borrowed(&stored[..]),
            };
            match (key_of(&k), frame::decode_header(&v)) {
                (Some(key), Ok(h)) => index.insert(
                    key,
                    Meta {
                        read_id: h.read_id,
                        captured_at: h.captured_at,
                        bytes: KEY_BYTES + stored.len() as u64,
                    },
                ),
                (Some(key), Err(e)) => bad.push((k, format!("record {key}: {e}"))),
                (None, _) => bad.push((k, "key is not 8 bytes".to_string())),
            }
        }
        // None opens: the key is missing or wrong, and the reads are intact.
        // Some open: the others were altered or moved, so set them aside.
        if opened == 0
            && let Some((_, first)) = unopened.pop()
        {
            return Err(SpoolError::Sealed {
                path: self.inner.path.clone(),
                sealed: unopened.len() + 1,
                source: first,
            });
        }
        for (k, e) in unopened {
            let key = key_of(&k).unwrap_or_default();
            bad.push((k, format!("record {key}: {e}")));
        }
        for (k, why) in bad {
            log::error!(
                "spool {}: {why}; moved aside to the corrupt tree",
                self.inner.path.display()
            );
            self.move_aside(&k)?;
        }
        *self.index() = index;
        Ok(())
    }

    /// Inserts and flushes; returns only when the reads are durable on disk.
    ///
    /// If they would pass `max_bytes`, the oldest pending reads are dropped
    /// first (each logged). Fails without storing anything if the reads alone
    /// exceed the cap or cannot be framed.
    pub fn append(&self, reads: &[Read]) -> Result<(), SpoolError> {
        if reads.is_empty() {
            return Ok(());
        }
        let _one_at_a_time = self
            .inner
            .append_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut framed = Vec::with_capacity(reads.len());
        for r in reads {
            let bytes = frame::encode(r).map_err(|source| SpoolError::Frame {
                path: self.inner.path.clone(),
                read_id: r.read_id,
                camera_id: r.camera_id.clone(),
                source,
            })?;
            framed.push(bytes);
        }
        let seal_bytes = self.inner.sealer.overhead() as u64;
        let incoming: u64 = framed
            .iter()
            .map(|f| KEY_BYTES + seal_bytes + f.len() as u64)
            .sum();
        if incoming > self.inner.max_bytes {
            return Err(SpoolError::TooLarge {
                path: self.inner.path.clone(),
                count: reads.len(),
                bytes: incoming,
                max_bytes: self.inner.max_bytes,
            });
        }

        let (victims, mut next) = {
            let index = self.index();
            let victims = index.make_room(incoming, self.inner.max_bytes);
            (victims, index.high_water.map_or(0, |h| h + 1))
        };

        let mut batch = sled::Batch::default();
        for &key in &victims {
            batch.remove(&key.to_be_bytes());
        }
        let mut added = Vec::with_capacity(reads.len());
        for (r, f) in reads.iter().zip(framed) {
            let id = self.inner.db.generate_id().map_err(|e| self.db_err(e))?;
            let key = id.max(next);
            next = key + 1;
            let f = self.inner.sealer.seal(key, f);
            added.push((
                key,
                Meta {
                    read_id: r.read_id,
                    captured_at: r.captured_at,
                    bytes: KEY_BYTES + f.len() as u64,
                },
            ));
            batch.insert(&key.to_be_bytes(), f);
        }
        self.inner
            .reads
            .apply_batch(batch)
            .map_err(|e| self.db_err(e))?;
        if let Err(e) = self.inner.db.flush() {
            // Not durable, so not stored: take the reads back out (best effort)
            // rather than let them surface later as if they had been.
            let mut undo = sled::Batch::default();
            for (key, _) in &added {
                undo.remove(&key.to_be_bytes());
            }
            let _ = self.inner.reads.apply_batch(undo);
            return Err(self.db_err(e));
        }

        let mut index = self.index();
        for key in victims {
            // Gone already if the broker acknowledged it meanwhile: then it was sent, not dropped.
            if let Some(meta) = index.remove(key) {
                index.dropped += 1;
                log::warn!(
                    "spool full (max_bytes {}): dropped oldest unsent read {} (captured {})",
                    self.inner.max_bytes,
                    meta.read_id,
                    crate::record::rfc3339_millis(meta.captured_at)
                );
            }
        }
        for (key, meta) in added {
            index.insert(key, meta);
        }
        Ok(())
    }

    pub fn stats(&self) -> SpoolStats {
        let index = self.index();
        SpoolStats {
            pending: index.entries.len() as u64,
            bytes: index.bytes,
            oldest_captured_at: index.by_age.first().map(|&(t, _)| t),
            dropped: index.dropped,
        }
    }

    /// The first pending read with a key after `after` (from the start if
    /// `None`), in key order. Records that no longer decode are set aside
    /// (logged) and skipped.
    pub fn next_after(&self, after: Option<u64>) -> Result<Option<(u64, Entry)>, SpoolError> {
        let mut from = after;
        loop {
            let lower = from.map_or(Bound::Unbounded, Bound::Excluded);
            let key = match self.index().entries.range((lower, Bound::Unbounded)).next() {
                Some((&k, _)) => k,
                None => return Ok(None),
            };
            if let Some(entry) = self.get(key)? {
                return Ok(Some((key, entry)));
            }
            from = Some(key);
        }
    }

    /// The pending read under `key`, if it is still there.
    pub fn get(&self, key: u64) -> Result<Option<Entry>, SpoolError> {
        let Some(v) = self
            .inner
            .reads
            .get(key.to_be_bytes())
            .map_err(|e| self.db_err(e))?
        else {
            // Acknowledged or dropped meanwhile; whoever removed it fixes the index.
            return Ok(None);
        };
        let opened = self.inner.sealer.open(key, &v).map_err(|e| e.to_string());
        match opened.and_then(|v| frame::decode(&v).map_err(|e| e.to_string())) {
            Ok(entry) => Ok(Some(entry)),
            Err(e) => {
                log::error!(
                    "spool {}: record {key}: {e}; moved aside to the corrupt tree",
                    self.inner.path.display()
                );
                self.set_aside(key)?;
                Ok(None)
            }
        }
    }

    /// Removes a read the broker acknowledged. Not flushed on its own: if a
    /// crash undoes it, the read is sent twice, which receivers tolerate.
    /// Returns whether it was still pending.
    pub fn remove(&self, key: u64) -> Result<bool, SpoolError> {
        self.inner
            .reads
            .remove(key.to_be_bytes())
            .map_err(|e| self.db_err(e))?;
        Ok(self.index().remove(key).is_some())
    }

    /// Makes everything so far durable.
    pub fn flush(&self) -> Result<(), SpoolError> {
        self.inner.db.flush().map(drop).map_err(|e| self.db_err(e))
    }

    /// Pending keys in order (for tools and tests; copies the index).
    pub fn keys(&self) -> Vec<u64> {
        self.index().entries.keys().copied().collect()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Records set aside because they could not be decoded.
    pub fn corrupt_count(&self) -> usize {
        self.inner.corrupt.len()
    }

    /// Moves a pending read that can never be sent (undecodable, or unfit
    /// for a topic) out of the queue into the `corrupt` tree, kept for
    /// inspection. Returns whether it was pending.
    pub fn set_aside(&self, key: u64) -> Result<bool, SpoolError> {
        self.move_aside(&key.to_be_bytes())?;
        Ok(self.index().remove(key).is_some())
    }

    fn move_aside(&self, key: &[u8]) -> Result<(), SpoolError> {
        if let Some(v) = self.inner.reads.remove(key).map_err(|e| self.db_err(e))? {
            self.inner
                .corrupt
                .insert(key, v)
                .map_err(|e| self.db_err(e))?;
        }
        Ok(())
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // The index is plain data; a panic elsewhere cannot leave it half-updated
        // in a way worse than a stale count, so keep going.
        self.inner.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db_err(&self, source: sled::Error) -> SpoolError {
        SpoolError::Db {
            path: self.inner.path.clone(),
            source,
        }
    }
}

fn key_of(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, max_bytes: u64) -> SpoolConfig {
        SpoolConfig {
            path: dir.join("spool"),
            max_bytes,
            ..Default::default()
        }
    }

    fn read(cam: &str, captured_at: UtcMillis, image_bytes: usize) -> Read {
        Read {
            read_id: Uuid::now_v7(),
            gateway_id: "gw-1".into(),
            camera_id: cam.into(),
            captured_at,
            vrm: "AB12CDE".into(),
            confidence: 0.9,
            char_confidence: vec![0.9; 7],
            plate_box: [1, 2, 3, 4],
            plate_jpeg: vec![0xff; 3],
            overview_jpeg: vec![0xd8; image_bytes],
            frames: 1,
            preview: false,
            supersedes: None,
            clock_unsynchronised: false,
        }
    }

    fn drain(spool: &Spool) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut cursor = None;
        while let Some((k, e)) = spool.next_after(cursor).unwrap() {
            cursor = Some(k);
            out.push(e);
        }
        out
    }

    #[test]
    fn appended_reads_come_back_in_order_with_their_payloads() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 1 << 30)).unwrap();
        let reads: Vec<Read> = (0..5)
            .map(|i| read(["a", "b"][i % 2], 1000 + i as i64, 10))
            .collect();
        spool.append(&reads[..2]).unwrap();
        spool.append(&reads[2..]).unwrap();
        let got = drain(&spool);
        assert_eq!(got.len(), 5);
        for (e, r) in got.iter().zip(&reads) {
            assert_eq!(e.read_id, r.read_id);
            assert_eq!(e.camera_id, r.camera_id);
            assert_eq!(e.payload, r.to_payload());
        }
        let keys = spool.keys();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        let s = spool.stats();
        assert_eq!(s.pending, 5);
        assert_eq!(s.oldest_captured_at, Some(1000));
        assert_eq!(s.dropped, 0);
        assert!(s.bytes > 5 * 10);
    }

    #[test]
    fn reads_survive_reopen_and_keys_keep_rising() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let first = read("a", 5, 10);
        let (keys_before, stats_before) = {
            let spool = Spool::open(&c).unwrap();
            spool.append(&[first.clone(), read("b", 7, 20)]).unwrap();
            (spool.keys(), spool.stats())
        };
        let spool = Spool::open(&c).unwrap();
        assert_eq!(spool.stats(), stats_before);
        assert_eq!(spool.keys(), keys_before);
        assert_eq!(drain(&spool)[0].payload, first.to_payload());

        // Empty the spool, reopen: new keys still come after every old one.
        for k in spool.keys() {
            assert!(spool.remove(k).unwrap());
        }
        spool.flush().unwrap();
        drop(spool);
        let spool = Spool::open(&c).unwrap();
        assert_eq!(spool.stats().pending, 0);
        assert_eq!(spool.stats().bytes, 0);
        spool.append(&[read("a", 9, 1)]).unwrap();
        assert!(spool.keys()[0] > *keys_before.last().unwrap());
    }

    #[test]
    fn remove_takes_one_read_and_updates_stats() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 1 << 30)).unwrap();
        spool
            .append(&[read("a", 300, 10), read("a", 100, 10), read("a", 200, 10)])
            .unwrap();
        let keys = spool.keys();
        let before = spool.stats();
        assert_eq!(before.oldest_captured_at, Some(100));
        assert!(spool.remove(keys[1]).unwrap());
        assert!(
            !spool.remove(keys[1]).unwrap(),
            "second remove finds nothing"
        );
        let after = spool.stats();
        assert_eq!(after.pending, 2);
        assert!(after.bytes < before.bytes);
        assert_eq!(after.oldest_captured_at, Some(200));
        assert_eq!(spool.keys(), vec![keys[0], keys[2]]);
        assert_eq!(spool.next_after(Some(keys[0])).unwrap().unwrap().0, keys[2]);
    }

    #[test]
    fn the_cap_drops_the_oldest_reads_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let one = KEY_BYTES + frame::encode(&read("a", 1, 1000)).unwrap().len() as u64;
        let spool = Spool::open(&cfg(dir.path(), one * 3 + one / 2)).unwrap();
        let reads: Vec<Read> = (0..5).map(|i| read("a", i, 1000)).collect();
        for r in &reads {
            spool.append(std::slice::from_ref(r)).unwrap();
        }
        let s = spool.stats();
        assert_eq!(s.pending, 3);
        assert_eq!(s.dropped, 2);
        assert!(s.bytes <= one * 3 + one / 2);
        assert_eq!(s.oldest_captured_at, Some(2));
        let left: Vec<Uuid> = drain(&spool).iter().map(|e| e.read_id).collect();
        let want: Vec<Uuid> = reads[2..].iter().map(|r| r.read_id).collect();
        assert_eq!(left, want);

        // The drops are on disk too.
        let c = cfg(dir.path(), one * 3 + one / 2);
        drop(spool);
        assert_eq!(Spool::open(&c).unwrap().stats().pending, 3);
    }

    #[test]
    fn reads_larger_than_the_cap_are_refused_and_nothing_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 4000)).unwrap();
        spool.append(&[read("a", 1, 10)]).unwrap();
        let err = spool.append(&[read("a", 2, 10_000)]).unwrap_err();
        assert!(matches!(err, SpoolError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("spool"), "{err}");
        assert_eq!(spool.stats().pending, 1);
        assert_eq!(spool.stats().dropped, 0);
    }

    #[test]
    fn corrupt_records_are_set_aside_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let good = read("a", 1, 10);
        {
            let spool = Spool::open(&c).unwrap();
            spool.append(std::slice::from_ref(&good)).unwrap();
            let junk_key = (1u64 << 60).to_be_bytes();
            spool
                .inner
                .reads
                .insert(junk_key, &b"\x09junk"[..])
                .unwrap();
            spool.inner.reads.insert(b"short", &b"x"[..]).unwrap();
        }
        let spool = Spool::open(&c).unwrap();
        assert_eq!(spool.stats().pending, 1);
        assert_eq!(spool.corrupt_count(), 2);
        assert_eq!(drain(&spool)[0].read_id, good.read_id);
    }

    #[test]
    fn a_record_damaged_later_is_skipped_not_stalled_on() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 1 << 30)).unwrap();
        let reads = [read("a", 1, 10), read("a", 2, 10)];
        spool.append(&reads).unwrap();
        let first = spool.keys()[0];
        spool
            .inner
            .reads
            .insert(first.to_be_bytes(), &b"\x01"[..])
            .unwrap();
        let got = drain(&spool);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].read_id, reads[1].read_id);
        assert_eq!(spool.corrupt_count(), 1);
        assert_eq!(spool.stats().pending, 1);
    }

    #[test]
    fn open_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = match Spool::open(&SpoolConfig {
            path: file.join("spool"),
            max_bytes: 1 << 20,
            ..Default::default()
        }) {
            Err(e) => e,
            Ok(_) => panic!("opened a spool under a plain file"),
        };
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
