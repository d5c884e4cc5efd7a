//! The spool: a durable FIFO of reads between recognition and the broker.
//!
//! Reads live in sled under a big-endian `u64` sequence key, so key order is
//! arrival order (FIFO overall, hence per camera) and the sequence keeps
//! rising across restarts. A read is only "stored" once flushed, and only
//! removed once the broker acknowledged it, so a crash or an outage loses
//! nothing. An in-memory index (rebuilt by one scan at open) keeps counts,
//! bytes and ages, so [`Spool::stats`] is cheap and the forwarder can walk the
//! queue without scanning sled. docs/delivery.md is the contract.
//!
//! A payload carrying images lives in a file beside sled (`payloads.rs`:
//! sled keeps what it stores in memory). Limits live in `limits.rs` (size
//! cap, age), opening and quarantine of a damaged spool in `open.rs`. sled refuses every write after one I/O error
//! (a full disk, say) until it is reopened: [`Spool::reopen`] does that in
//! place, so clones held by the writer and the forwarder keep working.

pub mod frame;
mod index;
mod limits;
mod open;
mod payloads;
mod writer;

use std::borrow::Cow;
use std::collections::HashSet;
use std::convert::Infallible;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use sled::transaction::{TransactionError, Transactional};
use uuid::Uuid;

use crate::capture::UtcMillis;
use crate::config::SpoolConfig;
use crate::logging::message_id;
use crate::record::Read;
use crate::seal::{SealError, Sealer};

pub use frame::{Entry, Stage};
pub use writer::spawn_writer;

use index::{Index, Meta};
use open::{Handles, OpenFailure};
use payloads::{INLINE_MAX, Payloads};

/// Bytes a key adds to the accounted size.
const KEY_BYTES: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SpoolStats {
    /// Reads stored and not yet acknowledged by the broker.
    pub pending: u64,
    /// Their size as accounted against `max_bytes` (sled's files run larger).
    pub bytes: u64,
    /// Capture time of the oldest pending read.
    pub oldest_captured_at: Option<UtcMillis>,
    /// Overview images removed to respect `max_bytes`, since start.
    pub shed_overviews: u64,
    /// Plate patches removed to respect `max_bytes`, since start.
    pub shed_plates: u64,
    /// Whole reads dropped unsent to respect `max_bytes`, since start.
    pub dropped: u64,
    /// Reads removed unsent because they passed `max_age_days`, since start.
    pub expired: u64,
    /// Records moved to the corrupt tree, since start.
    pub quarantined: u64,
    /// Whether the spool was moved aside into quarantine at start.
    pub spool_quarantined: bool,
    /// False while the spool cannot be written (e.g. after a full disk, until reopened).
    pub writable: bool,
}

impl SpoolStats {
    /// Age of the oldest pending read at `now`, in whole seconds.
    pub fn oldest_age_s(&self, now: UtcMillis) -> Option<u64> {
        self.oldest_captured_at
            .map(|t| (now.saturating_sub(t) / 1000).max(0) as u64)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Sealed records the configured key cannot open: refused whole rather
    /// than set aside one by one, which would empty the queue.
    #[error("spool {path}: {sealed} stored reads cannot be opened: {source}")]
    Sealed {
        path: PathBuf,
        sealed: usize,
        source: SealError,
    },
    #[error("spool {path}: cannot open: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("spool {path}: cannot open ({why}) nor move it aside: {source}")]
    Quarantine {
        path: PathBuf,
        why: String,
        source: std::io::Error,
    },
    #[error("spool {path}: {source}")]
    Db { path: PathBuf, source: sled::Error },
    #[error("spool {path}: not open after a write failure; reopening")]
    Unavailable { path: PathBuf },
    #[error("spool {path}: read {read_id} of camera {camera_id}: {source}")]
    Frame {
        path: PathBuf,
        read_id: Uuid,
        camera_id: String,
        source: frame::FrameError,
    },
    #[error(
        "spool {path}: {count} reads need {bytes} bytes without images, more than max_bytes {max_bytes}"
    )]
    TooLarge {
        path: PathBuf,
        count: usize,
        bytes: u64,
        max_bytes: u64,
    },
    /// A payload file could not be written or read (full disk, I/O error).
    #[error("spool {path}: payload file of record {key}: {source}")]
    PayloadFile {
        path: PathBuf,
        key: u64,
        source: std::io::Error,
    },
}

impl SpoolError {
    /// sled failed (I/O): it needs [`Spool::reopen`] before it writes again.
    pub fn needs_reopen(&self) -> bool {
        matches!(self, SpoolError::Db { .. } | SpoolError::Unavailable { .. })
    }

    /// The disk refused (full, I/O error), in sled or in a payload file:
    /// nothing is stored until it accepts writes again, whatever the read.
    pub fn is_storage_failure(&self) -> bool {
        self.needs_reopen() || matches!(self, SpoolError::PayloadFile { .. })
    }
}

/// A cheap handle on the spool; clones share one database.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Counters {
    shed_overviews: AtomicU64,
    shed_plates: AtomicU64,
    dropped: AtomicU64,
    expired: AtomicU64,
    quarantined: AtomicU64,
}

struct Inner {
    path: PathBuf,
    /// `None` between a failed reopen and the next successful one.
    handles: RwLock<Option<Handles>>,
    max_bytes: u64,
    max_age_ms: i64,
    /// Seals values on the way in, opens them on the way out (`crate::seal`).
    sealer: Sealer,
    index: Mutex<Index>,
    counters: Counters,
    /// The cap was reached and logged; cleared once appends fit again.
    at_cap: AtomicBool,
    spool_quarantined: AtomicBool,
    /// Appends run one at a time, so the cap decision holds until they land.
    append_lock: Mutex<()>,
    payloads: Payloads,
    /// The last append failed on its payload files (a full disk, say): sled
    /// works, but the spool is not writable until an append succeeds.
    payloads_refused: AtomicBool,
    /// Payload files whose records were removed or shed, to unlink once
    /// sled has flushed that (`None`: the key's files at every stage).
    doomed: Mutex<Vec<(u64, Option<Stage>)>>,
}

impl Spool {
    /// Opens (or creates) the spool and indexes what it holds. A spool too
    /// damaged to open is moved into quarantine and a fresh one started.
    pub fn open(cfg: &SpoolConfig) -> Result<Spool, SpoolError> {
        Spool::open_sealed(cfg, Sealer::clear())
    }

    /// Opens the spool, sealing what it stores with `sealer`. Fails if it
    /// holds sealed reads that `sealer` cannot open (no key, wrong key): the
    /// reads are intact, so they are neither quarantined nor set aside.
    pub fn open_sealed(cfg: &SpoolConfig, sealer: Sealer) -> Result<Spool, SpoolError> {
        let spool = Spool {
            inner: Arc::new(Inner {
                path: cfg.path.clone(),
                handles: RwLock::new(None),
                max_bytes: cfg.max_bytes,
                max_age_ms: i64::try_from(cfg.max_age().as_millis()).unwrap_or(i64::MAX),
                sealer,
                index: Mutex::new(Index::default()),
                counters: Counters::default(),
                at_cap: AtomicBool::new(false),
                spool_quarantined: AtomicBool::new(false),
                append_lock: Mutex::new(()),
                payloads: Payloads::new(&cfg.path),
                payloads_refused: AtomicBool::new(false),
                doomed: Mutex::new(Vec::new()),
            }),
        };
        spool.open_in_place()?;
        Ok(spool)
    }

    /// Closes sled and opens it again (after a write failure: sled refuses
    /// all writes after one I/O error), then re-indexes what is on disk.
    pub fn reopen(&self) -> Result<(), SpoolError> {
        let _one_at_a_time = self.append_guard();
        // sled holds a file lock until its last handle is gone.
        self.write_handles().take();
        self.open_in_place()
    }

    fn open_in_place(&self) -> Result<(), SpoolError> {
        let path = &self.inner.path;
        let attempt = || -> Result<(Handles, Scan), OpenFailure> {
            let h = open::open(path)?;
            self.inner
                .payloads
                .create_dir()
                .map_err(|e| OpenFailure::Sled(sled::Error::Io(e)))?;
            let found = scan(&h, &self.inner.sealer)?;
            Ok((h, found))
        };
        let (
            h,
            Scan {
                mut index,
                bad,
                unopenable,
                files,
            },
        ) = match attempt() {
            Ok(found) => found,
            Err(why) if why.is_damage() => {
                open::quarantine(path, &why).map_err(|source| SpoolError::Quarantine {
                    path: path.clone(),
                    why: why.to_string(),
                    source,
                })?;
                self.inner.spool_quarantined.store(true, Ordering::Relaxed);
                attempt().map_err(|e| self.open_err(e))?
            }
            Err(e) => return Err(self.open_err(e)),
        };
        if let Some((sealed, source)) = unopenable {
            return Err(SpoolError::Sealed {
                path: path.clone(),
                sealed,
                source,
            });
        }
        *self.write_handles() = Some(h.clone());
        for (k, why) in bad {
            log::error!(
                MESSAGE_ID = message_id::SPOOL_QUARANTINED;
                "spool {}: {why}; moved aside to the corrupt tree",
                path.display()
            );
            self.move_aside(&h, &k)?;
        }
        // Files no record names: written by a store that crashed before its
        // commit, or left by removals a crash kept from being unlinked. Files
        // of records set aside stay with them.
        self.doomed().clear();
        let kept = |key: u64, stage| {
            files.contains(&(key, stage))
                || h.corrupt.contains_key(key.to_be_bytes()).unwrap_or(true)
        };
        match self.inner.payloads.sweep(kept) {
            Ok(0) => {}
            Ok(n) => log::info!(
                "spool {}: removed {n} leftover payload files that no record names",
                path.display()
            ),
            Err(e) => log::warn!(
                "spool {}: payload files not checked for leftovers: {e}",
                path.display()
            ),
        }
        let mut current = self.index();
        // Keys never go backwards, not even onto a fresh spool after a
        // quarantine: the forwarder reads on after the highest key it handed
        // over, and a PUBACK for an old key must not remove a new read.
        index.high_water = index.high_water.max(current.high_water);
        *current = index;
        Ok(())
    }

    /// Inserts and flushes; returns only when the reads are durable on disk.
    ///
    /// Expired reads go first; if the new reads would still pass `max_bytes`,
    /// room is made as `limits.rs` says (images shed, then oldest dropped;
    /// each logged). Fails without storing anything if the reads alone exceed
    /// the cap or cannot be framed.
    pub fn append(&self, reads: &[Read]) -> Result<(), SpoolError> {
        if reads.is_empty() {
            return Ok(());
        }
        let _one_at_a_time = self.append_guard();
        let h = self.handles()?;
        let mut framed = Vec::with_capacity(reads.len());
        for r in reads {
            let bytes = frame::encode(r).map_err(|source| SpoolError::Frame {
                path: self.inner.path.clone(),
                read_id: r.read_id,
                camera_id: r.camera_id.clone(),
                source,
            })?;
            framed.push((r.read_id, bytes));
        }
        let seal_bytes = self.inner.sealer.overhead() as u64;
        let incoming: u64 = framed
            .iter()
            .map(|(_, f)| KEY_BYTES + seal_bytes + f.len() as u64)
            .sum();
        if incoming > self.inner.max_bytes {
            // Their text alone must fit; images can be shed.
            let text: u64 = framed
                .iter()
                .map(|(_, f)| frame::shed(f, Stage::TextOnly).map_or(u64::MAX, |t| t.len() as u64))
                .fold(0, |a, b| a.saturating_add(b.saturating_add(KEY_BYTES)));
            if text > self.inner.max_bytes {
                return Err(SpoolError::TooLarge {
                    path: self.inner.path.clone(),
                    count: reads.len(),
                    bytes: text,
                    max_bytes: self.inner.max_bytes,
                });
            }
        }
        self.expire_with(&h, crate::record::now_millis())?;
        self.make_room(&h, &mut framed)?;

        let mut next = self.index().high_water.map_or(0, |h| h + 1);
        let mut batch = sled::Batch::default();
        let mut added = Vec::with_capacity(reads.len());
        let mut files = Vec::new();
        for (r, (_, f)) in reads.iter().zip(framed) {
            let id = h.db.generate_id().map_err(|e| self.db_err(e))?;
            let key = id.max(next);
            next = key + 1;
            let stage = frame::decode_header(&f).map_or(Stage::Full, |h| h.stage);
            let (record, file) = self
                .stored_form(key, f)
                .map_err(|source| SpoolError::Frame {
                    path: self.inner.path.clone(),
                    read_id: r.read_id,
                    camera_id: r.camera_id.clone(),
                    source,
                })?;
            added.push((
                key,
                Meta {
                    read_id: r.read_id,
                    captured_at: r.captured_at,
                    bytes: KEY_BYTES + (record.len() + file.as_ref().map_or(0, Vec::len)) as u64,
                    stage,
                },
            ));
            batch.insert(&key.to_be_bytes(), record);
            if let Some(file) = file {
                files.push((key, stage, file));
            }
        }
        // Payload files are durable before any record names them.
        let unlink_files = || {
            for (key, stage, _) in &files {
                self.inner.payloads.remove_one(*key, *stage);
            }
        };
        let writing: Vec<_> = files.iter().map(|(k, s, f)| (*k, *s, &f[..])).collect();
        if let Err(source) = self.inner.payloads.write(&writing) {
            unlink_files();
            self.inner.payloads_refused.store(true, Ordering::Relaxed);
            return Err(self.payload_err(files.first().map_or(0, |f| f.0), source));
        }
        if let Err(e) = h.reads.apply_batch(batch) {
            unlink_files();
            return Err(self.db_err(e));
        }
        let doomed = self.take_doomed();
        if let Err(e) = h.db.flush() {
            // Not durable, so not stored: take the reads back out (best effort)
            // rather than let them surface later as if they had been.
            let mut undo = sled::Batch::default();
            for (key, _) in &added {
                undo.remove(&key.to_be_bytes());
            }
            let _ = h.reads.apply_batch(undo);
            self.doomed().extend(doomed);
            return Err(self.db_err(e));
        }
        self.unlink(doomed);
        self.inner.payloads_refused.store(false, Ordering::Relaxed);
        let mut index = self.index();
        for (key, meta) in added {
            index.insert(key, meta);
        }
        Ok(())
    }

    /// What goes to disk for the v2 `frame` under `key`: the record for
    /// sled and, when the payload is too large to stay in sled, the file.
    fn stored_form(
        &self,
        key: u64,
        frame: Vec<u8>,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), frame::FrameError> {
        let (_, payload) = frame::split(&frame)?;
        if payload.len() <= INLINE_MAX {
            return Ok((self.inner.sealer.seal(key, frame), None));
        }
        let file = self.inner.sealer.seal(key, payload.to_vec());
        let record = frame::external_record(&frame, &file)?;
        Ok((self.inner.sealer.seal(key, record), Some(file)))
    }

    /// The v2 frame a stored record stands for: the record itself, or the
    /// record joined with its payload file. `Ok(Err(why))` when the record
    /// or its file is damaged, missing or not this record's (to be set
    /// aside); `Err` when the file could not be read for another reason.
    fn frame_of<'a>(
        &self,
        key: u64,
        stored: &'a [u8],
    ) -> Result<Result<Cow<'a, [u8]>, String>, SpoolError> {
        let record = match self.inner.sealer.open(key, stored) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let h = match frame::decode_header(&record) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let Some(external) = h.external else {
            return Ok(Ok(record));
        };
        let file = match self.inner.payloads.read(key, h.stage) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("its payload file is missing".into()));
            }
            Err(source) => return Err(self.payload_err(key, source)),
        };
        if !external.matches(&file) {
            return Ok(Err(format!(
                "its payload file is not the one stored ({} bytes, {} expected)",
                file.len(),
                external.len
            )));
        }
        let joined = self
            .inner
            .sealer
            .open(key, &file)
            .map_err(|e| format!("payload file: {e}"))
            .and_then(|payload| frame::join(&record, &payload).map_err(|e| e.to_string()));
        Ok(joined.map(Cow::Owned))
    }

    pub fn stats(&self) -> SpoolStats {
        let c = &self.inner.counters;
        let (pending, bytes, oldest_captured_at) = {
            let index = self.index();
            (
                index.entries.len() as u64,
                index.bytes,
                index.by_age.first().map(|&(t, _)| t),
            )
        };
        SpoolStats {
            pending,
            bytes,
            oldest_captured_at,
            shed_overviews: c.shed_overviews.load(Ordering::Relaxed),
            shed_plates: c.shed_plates.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            quarantined: c.quarantined.load(Ordering::Relaxed),
            spool_quarantined: self.inner.spool_quarantined.load(Ordering::Relaxed),
            writable: self.read_handles().is_some()
                && !self.inner.payloads_refused.load(Ordering::Relaxed),
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
        let h = self.handles()?;
        let Some(v) = h.reads.get(key.to_be_bytes()).map_err(|e| self.db_err(e))? else {
            // Acknowledged or dropped meanwhile; whoever removed it fixes the index.
            return Ok(None);
        };
        let opened = match self.frame_of(key, &v)? {
            Err(e) if !h.reads.contains_key(key.to_be_bytes()).unwrap_or(true) => {
                // Acknowledged meanwhile, and its file already unlinked.
                log::debug!("record {key} removed while read: {e}");
                return Ok(None);
            }
            other => other,
        };
        match opened.and_then(|plain| frame::decode(&plain).map_err(|e| e.to_string())) {
            Ok(entry) => Ok(Some(entry)),
            Err(e) => {
                log::error!(
                    MESSAGE_ID = message_id::SPOOL_QUARANTINED;
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
        let h = self.handles()?;
        Ok(self.take(&h, key)?.is_some())
    }

    /// Removes the read under `key` from sled, then from the index. Returns
    /// its index entry only if this call took the record out of sled: an
    /// acknowledgement and a drop or expiry can race for one read, sled's
    /// remove hands the record to exactly one of them, and only that one may
    /// count and log it.
    fn take(&self, h: &Handles, key: u64) -> Result<Option<Meta>, SpoolError> {
        // Read before the record goes: the other remover may clear the entry
        // between our sled remove and our index remove.
        let meta = self.index().entries.get(&key).copied();
        let removed = h
            .reads
            .remove(key.to_be_bytes())
            .map_err(|e| self.db_err(e))?;
        if removed.is_some() {
            self.doomed().push((key, None));
        }
        // Whoever took it, the index follows sled.
        self.index().remove(key);
        Ok(removed.and(meta))
    }

    /// Makes everything so far durable, then unlinks the payload files of
    /// reads removed before it.
    pub fn flush(&self) -> Result<(), SpoolError> {
        let h = self.handles()?;
        let doomed = self.take_doomed();
        if let Err(e) = h.db.flush() {
            self.doomed().extend(doomed);
            return Err(self.db_err(e));
        }
        self.unlink(doomed);
        Ok(())
    }

    /// [`flush`](Self::flush) if reads were removed since the last one, so
    /// their payload files go. Returns how many removals that covered. The
    /// writer calls it every second; sled flushes on its own anyway.
    pub fn release_removed(&self) -> Result<usize, SpoolError> {
        let waiting = self.doomed().len();
        if waiting > 0 {
            self.flush()?;
        }
        Ok(waiting)
    }

    fn doomed(&self) -> MutexGuard<'_, Vec<(u64, Option<Stage>)>> {
        self.inner.doomed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_doomed(&self) -> Vec<(u64, Option<Stage>)> {
        std::mem::take(&mut *self.doomed())
    }

    /// Unlinks payload files whose removal sled has made durable.
    fn unlink(&self, doomed: Vec<(u64, Option<Stage>)>) {
        for (key, stage) in doomed {
            match stage {
                Some(stage) => self.inner.payloads.remove_one(key, stage),
                None => self.inner.payloads.remove(key),
            }
        }
    }

    /// Pending keys in order (for tools and tests; copies the index).
    pub fn keys(&self) -> Vec<u64> {
        self.index().entries.keys().copied().collect()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Records set aside (now and at earlier runs) because they could not be decoded.
    pub fn corrupt_count(&self) -> usize {
        self.read_handles().as_ref().map_or(0, |h| h.corrupt.len())
    }

    /// Moves a pending read that can never be sent (undecodable, or unfit
    /// for a topic) out of the queue into the `corrupt` tree, kept for
    /// inspection. Returns whether it was pending.
    pub fn set_aside(&self, key: u64) -> Result<bool, SpoolError> {
        let h = self.handles()?;
        self.move_aside(&h, &key.to_be_bytes())?;
        Ok(self.index().remove(key).is_some())
    }

    /// One sled transaction over both trees, so a crash leaves the record in
    /// one or the other: as two writes, a crash between them lost it.
    fn move_aside(&self, h: &Handles, key: &[u8]) -> Result<(), SpoolError> {
        let moved = (&h.reads, &h.corrupt)
            .transaction(|(reads, corrupt)| {
                let Some(v) = reads.remove(key)? else {
                    return Ok(false);
                };
                corrupt.insert(key, v)?;
                Ok(true)
            })
            .map_err(|e: TransactionError<Infallible>| match e {
                TransactionError::Storage(e) => self.db_err(e),
                TransactionError::Abort(never) => match never {},
            })?;
        if moved {
            self.inner
                .counters
                .quarantined
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A clone of the open handles; cheap, and never held across a reopen.
    fn handles(&self) -> Result<Handles, SpoolError> {
        self.read_handles()
            .clone()
            .ok_or_else(|| SpoolError::Unavailable {
                path: self.inner.path.clone(),
            })
    }

    fn read_handles(&self) -> std::sync::RwLockReadGuard<'_, Option<Handles>> {
        self.inner.handles.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_handles(&self) -> std::sync::RwLockWriteGuard<'_, Option<Handles>> {
        self.inner
            .handles
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn append_guard(&self) -> MutexGuard<'_, ()> {
        self.inner
            .append_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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

    fn payload_err(&self, key: u64, source: std::io::Error) -> SpoolError {
        SpoolError::PayloadFile {
            path: self.inner.path.clone(),
            key,
            source,
        }
    }

    fn frame_err(&self, key: u64, source: frame::FrameError) -> SpoolError {
        let meta = self.index().entries.get(&key).copied();
        SpoolError::Frame {
            path: self.inner.path.clone(),
            read_id: meta.map(|m| m.read_id).unwrap_or_default(),
            camera_id: String::new(),
            source,
        }
    }

    fn open_err(&self, e: OpenFailure) -> SpoolError {
        let source = match e {
            OpenFailure::Sled(e) => e,
            OpenFailure::Panic(why) => sled::Error::ReportableBug(why),
        };
        SpoolError::Open {
            path: self.inner.path.clone(),
            source,
        }
    }
}

/// What a scan of the stored reads found.
struct Scan {
    index: Index,
    /// Records that do not open or decode, to be set aside.
    bad: Vec<(sled::IVec, String)>,
    /// Set when no sealed record opens: the key is missing or wrong and the
    /// reads are intact (how many, and the first error).
    unopenable: Option<(usize, SealError)>,
    /// The payload files the records name.
    files: HashSet<(u64, Stage)>,
}

/// Indexes what `h` holds. Some sealed records opening while others do not
/// means the others were altered or moved: they are set aside. None opening
/// means the wrong key: nothing is set aside, the open is refused.
fn scan(h: &Handles, sealer: &Sealer) -> Result<Scan, sled::Error> {
    let mut index = Index::default();
    let mut files = HashSet::new();
    let mut bad = Vec::new();
    let (mut opened, mut unopened) = (0usize, Vec::new());
    for item in h.reads.iter() {
        let (k, stored) = item?;
        let Some(key) = key_of(&k) else {
            bad.push((k, "key is not 8 bytes".to_string()));
            continue;
        };
        let plain = match sealer.open(key, &stored) {
            Ok(plain) => {
                opened += usize::from(crate::seal::is_sealed(&stored));
                plain
            }
            Err(e) => {
                unopened.push((k.clone(), e));
                continue;
            }
        };
        match frame::decode_header(&plain) {
            Ok(hd) => {
                let file_len = hd.external.map_or(0, |x| u64::from(x.len));
                if hd.external.is_some() {
                    files.insert((key, hd.stage));
                }
                index.insert(
                    key,
                    Meta {
                        read_id: hd.read_id,
                        captured_at: hd.captured_at,
                        bytes: KEY_BYTES + stored.len() as u64 + file_len,
                        stage: hd.stage,
                    },
                )
            }
            Err(e) => bad.push((k, format!("record {key}: {e}"))),
        }
    }
    if opened == 0
        && let Some((_, first)) = unopened.pop()
    {
        let unopenable = Some((unopened.len() + 1, first));
        return Ok(Scan {
            index,
            bad,
            unopenable,
            files,
        });
    }
    for (k, e) in unopened {
        let key = key_of(&k).unwrap_or_default();
        bad.push((k, format!("record {key}: {e}")));
    }
    Ok(Scan {
        index,
        bad,
        unopenable: None,
        files,
    })
}

/// What the v2 `frame` takes once stored, as counted against `max_bytes`:
/// the key, the record and, for a payload kept in a file, the file; each
/// sealed value `seal_overhead` more.
fn stored_bytes(frame: &[u8], seal_overhead: usize) -> u64 {
    let payload = frame::split(frame).map_or(0, |(_, p)| p.len());
    let extra = if payload > INLINE_MAX {
        frame::EXTERNAL_TAIL + 2 * seal_overhead
    } else {
        seal_overhead
    };
    KEY_BYTES + (frame.len() + extra) as u64
}

fn key_of(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test reads carry tiny capture times: no expiry unless a test asks.
    fn cfg(dir: &Path, max_bytes: u64) -> SpoolConfig {
        SpoolConfig {
            path: dir.join("spool"),
            max_bytes,
            max_age_days: u32::MAX,
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

    fn stage_of(spool: &Spool, key: u64) -> Stage {
        let v = spool
            .handles()
            .unwrap()
            .reads
            .get(key.to_be_bytes())
            .unwrap();
        frame::decode_header(&v.unwrap()).unwrap().stage
    }

    #[test]
    fn the_cap_sheds_overviews_then_plates_then_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = read("a", 1, 3000);
        r.plate_jpeg = vec![0xff; 1000];
        let stored = |to| {
            let f = frame::encode(&r).unwrap();
            stored_bytes(&frame::shed(&f, to).unwrap(), 0)
        };
        let (full, no_overview, text) = (
            stored(Stage::Full),
            stored(Stage::NoOverview),
            stored(Stage::TextOnly),
        );
        let make = |i| {
            let mut r = read("a", i, 3000);
            r.plate_jpeg = vec![0xff; 1000];
            r
        };
        // Room for 3 full reads and 2 shed ones: the 4th and 5th shed the two
        // oldest overviews.
        let max = full * 3 + no_overview * 2 + 10;
        let spool = Spool::open(&cfg(dir.path(), max)).unwrap();
        let reads: Vec<Read> = (0..5).map(make).collect();
        for r in &reads {
            spool.append(std::slice::from_ref(r)).unwrap();
        }
        let s = spool.stats();
        assert_eq!(
            (s.pending, s.shed_overviews, s.shed_plates, s.dropped),
            (5, 2, 0, 0)
        );
        assert!(s.bytes <= max);
        let keys = spool.keys();
        let stages: Vec<Stage> = keys.iter().map(|&k| stage_of(&spool, k)).collect();
        use Stage::*;
        assert_eq!(stages, [NoOverview, NoOverview, Full, Full, Full]);
        let first = Read::from_payload(&drain(&spool)[0].payload).unwrap();
        assert!(first.overview_jpeg.is_empty());
        assert_eq!(first.plate_jpeg, reads[0].plate_jpeg);
        assert_eq!(
            (first.read_id, &first.vrm),
            (reads[0].read_id, &reads[0].vrm)
        );
        drop(spool);

        // A smaller cap (as after a config change): every overview, the new
        // read's too, goes before any plate patch.
        let max = no_overview * 6 + 10;
        let spool = Spool::open(&cfg(dir.path(), max)).unwrap();
        spool.append(&[make(5)]).unwrap();
        let stages: Vec<Stage> = spool.keys().iter().map(|&k| stage_of(&spool, k)).collect();
        assert_eq!(stages, [NoOverview; 6]);
        drop(spool);

        // Smaller still: plate patches go, oldest first.
        let max = no_overview * 5 + text * 2 + 10;
        let spool = Spool::open(&cfg(dir.path(), max)).unwrap();
        spool.append(&[make(6)]).unwrap();
        let stages: Vec<Stage> = spool.keys().iter().map(|&k| stage_of(&spool, k)).collect();
        assert_eq!(&stages[..3], [TextOnly, TextOnly, NoOverview]);
        assert_eq!(stages.len(), 7);
        let s = spool.stats();
        assert_eq!((s.pending, s.dropped, s.shed_plates), (7, 0, 2));
        assert!(s.bytes <= max, "{} > {max}", s.bytes);
        drop(spool);

        // Text reads alone over the cap: the oldest go.
        let max = text * 4 + 10;
        let spool = Spool::open(&cfg(dir.path(), max)).unwrap();
        let last = make(7);
        spool.append(std::slice::from_ref(&last)).unwrap();
        let s = spool.stats();
        assert!(s.bytes <= max, "{} > {max}", s.bytes);
        assert_eq!((s.pending, s.dropped), (4, 4));
        let left: Vec<Uuid> = drain(&spool).iter().map(|e| e.read_id).collect();
        assert_eq!(left[0], reads[4].read_id);
        assert_eq!(left[3], last.read_id);
        // The drops are on disk too.
        drop(spool);
        assert_eq!(
            Spool::open(&cfg(dir.path(), max)).unwrap().stats().pending,
            4
        );
    }

    #[test]
    fn reads_past_max_age_expire_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1 << 30);
        c.max_age_days = 7;
        let day = 86_400_000;
        let now = crate::record::now_millis();
        let spool = Spool::open(&c).unwrap();
        let old = read("a", now - 8 * day, 10);
        let young = read("a", now - 6 * day, 10);
        spool.append(&[old.clone(), young.clone()]).unwrap();
        // Appends sweep before they insert; the next sweep takes the old read.
        assert_eq!(spool.expire(now).unwrap(), 1);
        assert_eq!(spool.stats().expired, 1);
        assert_eq!(spool.stats().pending, 1);
        assert_eq!(spool.expire(now + 2 * day).unwrap(), 1);
        let s = spool.stats();
        assert_eq!((s.pending, s.expired, s.dropped), (0, 2, 0));
    }

    /// The first half of [`Spool::remove`]: an acknowledgement whose sled
    /// remove has landed but whose index update has not yet.
    fn ack_in_sled_only(spool: &Spool, key: u64) {
        let gone = spool.handles().unwrap().reads.remove(key.to_be_bytes());
        assert!(gone.unwrap().is_some());
    }

    #[test]
    fn a_read_acknowledged_while_the_cap_drops_is_not_counted_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let make = |i| {
            let mut r = read("a", i, 3000);
            r.plate_jpeg = vec![0xff; 1000];
            r
        };
        let text = KEY_BYTES
            + frame::shed(&frame::encode(&make(1)).unwrap(), Stage::TextOnly)
                .unwrap()
                .len() as u64;
        // Room for two text reads: each append sheds both its own images, so
        // nothing is left to shed and the third append must drop.
        let spool = Spool::open(&cfg(dir.path(), text * 2 + 10)).unwrap();
        spool.append(&[make(1)]).unwrap();
        spool.append(&[make(2)]).unwrap();
        assert_eq!(stage_of(&spool, spool.keys()[0]), Stage::TextOnly);
        let keys = spool.keys();
        // The broker acknowledged the oldest; the writer's drop loop runs
        // between the forwarder's sled remove and its index remove.
        ack_in_sled_only(&spool, keys[0]);
        spool.append(&[make(3)]).unwrap();
        assert_eq!(
            spool.stats().dropped,
            0,
            "a delivered read counted as dropped"
        );
        assert!(
            !spool.remove(keys[0]).unwrap(),
            "the index was fixed already"
        );
        let s = spool.stats();
        assert_eq!((s.pending, s.dropped), (2, 0));
        assert_eq!(spool.keys()[0], keys[1]);
    }

    #[test]
    fn a_read_acknowledged_while_it_expires_is_not_counted_as_expired() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1 << 30);
        c.max_age_days = 7;
        let now = crate::record::now_millis();
        let spool = Spool::open(&c).unwrap();
        spool
            .append(&[read("a", now - 8 * 86_400_000, 10)])
            .unwrap();
        ack_in_sled_only(&spool, spool.keys()[0]);
        assert_eq!(spool.expire(now).unwrap(), 0);
        let s = spool.stats();
        assert_eq!((s.pending, s.expired), (0, 0));
    }

    #[test]
    fn a_spool_that_cannot_be_opened_is_quarantined_and_a_fresh_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        {
            let spool = Spool::open(&c).unwrap();
            spool.append(&[read("a", 1, 100)]).unwrap();
        }
        // Garbage over sled's files.
        for f in std::fs::read_dir(&c.path).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                std::fs::write(&f, vec![0xa5; 4096]).unwrap();
            }
        }
        let spool = Spool::open(&c).unwrap();
        let s = spool.stats();
        assert!(s.spool_quarantined);
        assert_eq!(s.pending, 0);
        spool.append(&[read("a", 2, 100)]).unwrap();
        let q: Vec<_> = std::fs::read_dir(dir.path().join("spool.quarantine"))
            .unwrap()
            .collect();
        assert_eq!(q.len(), 1, "the damaged spool is kept");
        drop(spool);
        let again = Spool::open(&c).unwrap();
        assert!(!again.stats().spool_quarantined);
        assert_eq!(again.stats().pending, 1);
    }

    #[test]
    fn keys_keep_rising_when_a_reopen_quarantines_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let spool = Spool::open(&c).unwrap();
        let old: Vec<Read> = (0..5).map(|i| read("a", i, 10)).collect();
        spool.append(&old).unwrap();
        // The forwarder has handed all of them over.
        let cursor = *spool.keys().last().unwrap();
        // Damaged while open: the reopen after a write failure finds sled's
        // config unreadable, quarantines the spool and starts a fresh one.
        std::fs::write(c.path.join("conf"), vec![0xa5; 64]).unwrap();
        spool.reopen().unwrap();
        let s = spool.stats();
        assert!(s.spool_quarantined);
        assert_eq!(s.pending, 0);
        let new: Vec<Read> = (0..3).map(|i| read("a", 10 + i, 10)).collect();
        spool.append(&new).unwrap();
        let keys = spool.keys();
        assert!(keys.iter().all(|&k| k > cursor), "{keys:?} after {cursor}");
        // The forwarder reading on from its cursor finds every new read.
        let mut after = Some(cursor);
        let mut seen = Vec::new();
        while let Some((k, e)) = spool.next_after(after).unwrap() {
            after = Some(k);
            seen.push(e.read_id);
        }
        let want: Vec<Uuid> = new.iter().map(|r| r.read_id).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn reopen_keeps_pending_reads_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 1 << 30)).unwrap();
        let clone = spool.clone();
        spool.append(&[read("a", 1, 10), read("a", 2, 10)]).unwrap();
        spool.reopen().unwrap();
        assert_eq!(clone.stats().pending, 2);
        assert!(clone.stats().writable);
        clone.append(&[read("a", 3, 10)]).unwrap();
        assert_eq!(drain(&spool).len(), 3);
    }

    #[test]
    fn reads_whose_text_passes_the_cap_are_refused_and_nothing_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 4000)).unwrap();
        spool.append(&[read("a", 1, 10)]).unwrap();
        // Images would be shed; text this long cannot be.
        let mut huge = read("a", 2, 10_000);
        huge.vrm = "X".repeat(5000);
        let err = spool.append(&[huge]).unwrap_err();
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
                .handles()
                .unwrap()
                .reads
                .insert(junk_key, &b"\x09junk"[..])
                .unwrap();
            spool
                .handles()
                .unwrap()
                .reads
                .insert(b"short", &b"x"[..])
                .unwrap();
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
            .handles()
            .unwrap()
            .reads
            .insert(first.to_be_bytes(), &b"\x01"[..])
            .unwrap();
        let got = drain(&spool);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].read_id, reads[1].read_id);
        assert_eq!(spool.corrupt_count(), 1);
        assert_eq!(spool.stats().pending, 1);
    }

    /// A read of the size the pipeline makes: its payload goes to a file.
    fn big_read(captured_at: UtcMillis) -> Read {
        let mut r = read("a", captured_at, 25_000);
        r.plate_jpeg = vec![0x5a; 3_000];
        r
    }

    /// The file of the full payload stored under `key`.
    fn payload_file(dir: &Path, key: u64) -> PathBuf {
        dir.join("spool")
            .join("payloads")
            .join(format!("{key:016x}.0"))
    }

    fn payload_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("spool").join("payloads"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn reads_with_images_keep_their_payload_in_a_file_and_sled_only_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let spool = Spool::open(&c).unwrap();
        let big = [big_read(1), big_read(2)];
        let small = read("b", 3, 10);
        spool.append(&big).unwrap();
        spool.append(std::slice::from_ref(&small)).unwrap();
        let keys = spool.keys();
        assert_eq!(
            payload_files(dir.path()),
            [format!("{:016x}.0", keys[0]), format!("{:016x}.0", keys[1])]
        );
        let h = spool.handles().unwrap();
        for &k in &keys[..2] {
            let record = h.reads.get(k.to_be_bytes()).unwrap().unwrap();
            assert!(record.len() < 100, "{} bytes in sled", record.len());
        }
        // Accounted as stored: the two files and the three records.
        let expect: u64 = big
            .iter()
            .chain([&small])
            .map(|r| stored_bytes(&frame::encode(r).unwrap(), 0))
            .sum();
        assert_eq!(spool.stats().bytes, expect);
        drop(h);
        drop(spool);

        let spool = Spool::open(&c).unwrap();
        let got = drain(&spool);
        assert_eq!(got.len(), 3);
        for (e, r) in got.iter().zip(big.iter().chain([&small])) {
            assert_eq!(e.payload, r.to_payload());
        }
        assert_eq!(spool.stats().bytes, expect);
    }

    #[test]
    fn a_payload_file_goes_only_once_sled_has_flushed_its_removal() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&cfg(dir.path(), 1 << 30)).unwrap();
        spool.append(&[big_read(1), big_read(2)]).unwrap();
        let keys = spool.keys();
        assert!(spool.remove(keys[0]).unwrap());
        assert_eq!(
            payload_files(dir.path()).len(),
            2,
            "not unlinked before a flush"
        );
        assert_eq!(spool.release_removed().unwrap(), 1);
        assert_eq!(payload_files(dir.path()), [format!("{:016x}.0", keys[1])]);
        assert_eq!(
            spool.release_removed().unwrap(),
            0,
            "nothing left to release"
        );
        // An append's flush releases too.
        assert!(spool.remove(keys[1]).unwrap());
        spool.append(&[read("b", 3, 10)]).unwrap();
        assert!(payload_files(dir.path()).is_empty());
    }

    #[test]
    fn files_no_record_names_are_removed_at_open_and_those_set_aside_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let keys = {
            let spool = Spool::open(&c).unwrap();
            spool.append(&[big_read(1), big_read(2)]).unwrap();
            let keys = spool.keys();
            // Removed, and the process stops before the file was unlinked.
            assert!(spool.remove(keys[0]).unwrap());
            spool.handles().unwrap().db.flush().unwrap();
            keys
        };
        let files = dir.path().join("spool").join("payloads");
        // A store that crashed between its files and its record.
        std::fs::write(files.join(format!("{:016x}.0", keys[1] + 1)), b"orphan").unwrap();
        std::fs::write(files.join("stray.tmp"), b"?").unwrap();
        let spool = Spool::open(&c).unwrap();
        assert_eq!(payload_files(dir.path()), [format!("{:016x}.0", keys[1])]);
        // A read set aside keeps its file for whoever inspects it.
        assert!(spool.set_aside(keys[1]).unwrap());
        drop(spool);
        let spool = Spool::open(&c).unwrap();
        assert_eq!(spool.stats().pending, 0);
        assert_eq!(payload_files(dir.path()), [format!("{:016x}.0", keys[1])]);
    }

    #[test]
    fn a_missing_or_altered_payload_file_sets_its_read_aside_and_the_rest_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let reads: Vec<Read> = (1..=4).map(big_read).collect();
        let spool = Spool::open(&c).unwrap();
        spool.append(&reads).unwrap();
        let keys = spool.keys();
        let file = |k: u64| payload_file(dir.path(), k);
        std::fs::remove_file(file(keys[0])).unwrap();
        let mut altered = std::fs::read(file(keys[1])).unwrap();
        altered[100] ^= 1;
        std::fs::write(file(keys[1]), altered).unwrap();
        let whole = std::fs::read(file(keys[2])).unwrap();
        std::fs::write(file(keys[2]), &whole[..whole.len() / 2]).unwrap();
        let got = drain(&spool);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].read_id, reads[3].read_id);
        assert_eq!(spool.corrupt_count(), 3);
        assert_eq!(spool.stats().pending, 1);
        assert_eq!(spool.stats().quarantined, 3);
    }

    #[test]
    fn sealed_payload_files_open_only_under_their_own_record() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let key = [7u8; 32];
        let mut reads = vec![big_read(1), big_read(2)];
        reads[0].vrm = "SEALED1".into();
        let spool = Spool::open_sealed(&c, Sealer::with_key(&key)).unwrap();
        spool.append(&reads).unwrap();
        let keys = spool.keys();
        let file = |k: u64| payload_file(dir.path(), k);
        let first = std::fs::read(file(keys[0])).unwrap();
        assert!(crate::seal::is_sealed(&first));
        assert!(!first.windows(7).any(|w| w == b"SEALED1"));
        // The second record's file replaced by the first's: its length and
        // CRC are not the ones the record holds.
        std::fs::write(file(keys[1]), &first).unwrap();
        let got = drain(&spool);
        assert_eq!(got.len(), 1);
        assert_eq!(Read::from_payload(&got[0].payload).unwrap(), reads[0]);
        assert_eq!(spool.corrupt_count(), 1);
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
