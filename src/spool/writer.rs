//! The spool writer: group commit on its own thread.
//!
//! A flush costs an fsync; one per read would cap throughput at the disk's
//! sync rate. Reads arriving within a few milliseconds share one flush, which
//! adds at most that much latency.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Spool, SpoolError};
use crate::health::Stats;
use crate::logging::message_id;
use crate::record::Read;

/// How long a batch stays open after its first read.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Most reads in one batch, so a burst still flushes in bounded time.
const MAX_BATCH: usize = 256;
/// How often reads past `max_age_days` are looked for when none arrive.
const EXPIRY_EVERY: Duration = Duration::from_secs(60);
/// How long the payload files of acknowledged reads may wait to be unlinked.
const RELEASE_EVERY: Duration = Duration::from_secs(1);
/// Least time between attempts to reopen a spool that failed to write, so a
/// full disk costs a retry now and then, not a busy loop. Doubles while the
/// writes keep failing (a reopen re-indexes the whole spool), up to a minute.
const REOPEN_FIRST: Duration = Duration::from_secs(1);
const REOPEN_MAX: Duration = Duration::from_secs(60);

/// Group commit: takes reads from the channel, batches what arrives within
/// ~10 ms (up to 256), inserts them, ONE flush per batch, then counts
/// `stats.stored` and calls `stored.notify_one()` so the forwarder wakes.
/// Exits after a final flush once the channel is closed. On write failure
/// (disk full, I/O error): raises SPOOL_WRITE_FAILED once, counts each read
/// not stored in `stats.store_failed`, keeps taking reads (so capture never
/// stalls) and reopens the spool (backing off from 1 s to 1 min) until writes work.
pub fn spawn_writer(
    spool: Spool,
    reads: Receiver<Read>,
    stored: Arc<Notify>,
    stats: Arc<Stats>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("spool-writer".into())
        .spawn(move || {
            let mut w = Writer {
                spool,
                stored,
                stats,
                failing: None,
                last_reopen: None,
                reopen_wait: REOPEN_FIRST,
            };
            let mut closed = false;
            let mut next_expiry = Instant::now();
            let mut next_release = Instant::now() + RELEASE_EVERY;
            while !closed {
                if Instant::now() >= next_expiry {
                    w.expire();
                    next_expiry = Instant::now() + EXPIRY_EVERY;
                }
                if Instant::now() >= next_release {
                    w.release_removed();
                    next_release = Instant::now() + RELEASE_EVERY;
                }
                let first = match reads.recv_timeout(RELEASE_EVERY) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let mut batch = vec![first];
                let deadline = Instant::now() + BATCH_WINDOW;
                while batch.len() < MAX_BATCH {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match reads.recv_timeout(left) {
                        Ok(r) => batch.push(r),
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => {
                            closed = true;
                            break;
                        }
                    }
                }
                w.store_batch(&batch);
            }
            if let Err(e) = w.spool.flush() {
                log::error!("final spool flush failed: {e}");
            }
        })
}

struct Writer {
    spool: Spool,
    stored: Arc<Notify>,
    stats: Arc<Stats>,
    /// Reads not stored since writes began failing; `None` while they work.
    failing: Option<u64>,
    last_reopen: Option<Instant>,
    reopen_wait: Duration,
}

impl Writer {
    fn expire(&mut self) {
        if let Err(e) = self.spool.expire(crate::record::now_millis()) {
            log::debug!("expiry sweep skipped: {e}");
        }
    }

    fn release_removed(&mut self) {
        if let Err(e) = self.spool.release_removed() {
            log::debug!("payload files of sent reads kept for now: {e}");
        }
    }

    fn store_batch(&mut self, batch: &[Read]) {
        if self.failing.is_some() {
            self.try_reopen();
        }
        self.store(batch);
    }

    /// Stores a batch; if that fails, stores its reads one by one so a single
    /// bad read (too large, unframeable) does not take the others down with it.
    fn store(&mut self, batch: &[Read]) {
        match self.spool.append(batch) {
            Ok(()) => {
                // Fault tests take this line as the process's word that the read is stored.
                for r in batch {
                    log::debug!(READ_ID:% = r.read_id; "stored read {}", r.read_id);
                }
                self.stats
                    .stored
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.stats
                    .store_latency
                    .stored(batch.iter().map(|r| r.read_id));
                self.stored.notify_one();
                self.reopen_wait = REOPEN_FIRST;
                if let Some(lost) = self.failing.take() {
                    log::warn!(
                        MESSAGE_ID = message_id::SPOOL_WRITE_FAILED;
                        "spool writes work again; {lost} reads could not be stored meanwhile"
                    );
                }
            }
            Err(e) if e.is_storage_failure() => {
                // The whole spool is failing: one by one would fail the same way.
                self.not_stored(batch, &e);
                // A payload file the disk refused leaves sled working; the
                // reopen is still tried at the next batch, with the same
                // backoff (it also clears what a failed store left).
                if e.needs_reopen() {
                    self.try_reopen();
                }
            }
            Err(e) if batch.len() > 1 => {
                log::warn!(
                    "storing {} reads together failed ({e}); storing them one by one",
                    batch.len()
                );
                for r in batch {
                    self.store(std::slice::from_ref(r));
                }
            }
            Err(e) => {
                log::error!(
                    MESSAGE_ID = message_id::SPOOL_WRITE_FAILED,
                    READ_ID:% = batch[0].read_id,
                    CAMERA_ID = batch[0].camera_id.as_str();
                    "read {} of camera {} not stored: {e}",
                    batch[0].read_id,
                    batch[0].camera_id
                );
                self.stats.store_failed.fetch_add(1, Ordering::Relaxed);
                self.stats.store_latency.not_stored([batch[0].read_id]);
            }
        }
    }

    fn not_stored(&mut self, batch: &[Read], e: &SpoolError) {
        let n = batch.len() as u64;
        self.stats.store_failed.fetch_add(n, Ordering::Relaxed);
        self.stats
            .store_latency
            .not_stored(batch.iter().map(|r| r.read_id));
        match &mut self.failing {
            Some(lost) => *lost += n,
            None => {
                self.failing = Some(n);
                log::error!(
                    MESSAGE_ID = message_id::SPOOL_WRITE_FAILED;
                    "spool cannot be written ({e}); reads are not stored until it can. \
                     Capture goes on; check the disk"
                );
            }
        }
        for r in batch {
            log::warn!(
                READ_ID:% = r.read_id,
                CAMERA_ID = r.camera_id.as_str();
                "read {} of camera {} not stored: spool not writable",
                r.read_id,
                r.camera_id
            );
        }
    }

    fn try_reopen(&mut self) {
        if let Some(t) = self.last_reopen {
            if t.elapsed() < self.reopen_wait {
                return;
            }
            self.reopen_wait = (self.reopen_wait * 2).min(REOPEN_MAX);
        }
        self.last_reopen = Some(Instant::now());
        match self.spool.reopen() {
            Ok(()) => log::info!("spool reopened after a write failure"),
            Err(e) => log::debug!("spool not reopened yet: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpoolConfig;
    use uuid::Uuid;

    fn read(i: i64, image_bytes: usize) -> Read {
        Read {
            read_id: Uuid::now_v7(),
            gateway_id: "gw-1".into(),
            camera_id: "cam-1".into(),
            captured_at: i,
            vrm: "AB12CDE".into(),
            confidence: 0.9,
            char_confidence: vec![0.9; 7],
            plate_box: [1, 2, 3, 4],
            plate_jpeg: vec![],
            overview_jpeg: vec![0; image_bytes],
            frames: 1,
            preview: false,
            supersedes: None,
            clock_unsynchronised: false,
        }
    }

    /// A spool in `dir` whose reads never expire.
    fn spool_in(dir: &std::path::Path, max_bytes: u64) -> (SpoolConfig, Spool) {
        let cfg = SpoolConfig {
            path: dir.join("spool"),
            max_bytes,
            max_age_days: u32::MAX,
            ..Default::default()
        };
        let spool = Spool::open(&cfg).unwrap();
        (cfg, spool)
    }

    #[test]
    fn stores_everything_sent_then_exits_when_the_channel_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (_, spool) = spool_in(dir.path(), 1 << 30);
        let stats = Arc::new(Stats::new(["cam-1"]));
        let stored = Arc::new(Notify::new());
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let writer = spawn_writer(spool.clone(), rx, stored.clone(), stats.clone()).unwrap();
        let sent: Vec<Read> = (0..600).map(|i| read(i, 10)).collect();
        for r in &sent {
            tx.send(r.clone()).unwrap();
        }
        drop(tx);
        writer.join().unwrap();
        assert_eq!(stats.stored.load(Ordering::Relaxed), 600);
        assert_eq!(stats.store_failed.load(Ordering::Relaxed), 0);
        assert_eq!(spool.stats().pending, 600);
        // FIFO across batches.
        let mut cursor = None;
        for r in &sent {
            let (k, e) = spool.next_after(cursor).unwrap().unwrap();
            assert_eq!(e.read_id, r.read_id);
            cursor = Some(k);
        }
        // The forwarder was told (a permit is waiting).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), stored.notified())
                .await
                .expect("writer notified the forwarder")
        });
    }

    #[test]
    fn a_disk_refusing_payload_files_fails_the_spool_until_it_takes_them_again() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, spool) = spool_in(dir.path(), 1 << 30);
        // Where the payload files go is not a directory now: every write fails.
        let files = cfg.path.join("payloads");
        std::fs::remove_dir(&files).unwrap();
        std::fs::write(&files, b"in the way").unwrap();
        let stats = Arc::new(Stats::new(["cam-1"]));
        let run = |reads: Vec<Read>| {
            let (tx, rx) = std::sync::mpsc::sync_channel(16);
            for r in reads {
                tx.send(r).unwrap();
            }
            drop(tx);
            spawn_writer(spool.clone(), rx, Arc::new(Notify::new()), stats.clone())
                .unwrap()
                .join()
                .unwrap();
        };
        run(vec![read(1, 5_000), read(2, 5_000)]);
        assert_eq!(stats.store_failed.load(Ordering::Relaxed), 2);
        assert_eq!(stats.stored.load(Ordering::Relaxed), 0);
        let s = spool.stats();
        assert!(!s.writable, "reads are being lost: not writable");
        assert_eq!(s.pending, 0);

        // The directory is back: the next reads are stored, the spool writable.
        std::fs::remove_file(&files).unwrap();
        std::fs::create_dir(&files).unwrap();
        run(vec![read(3, 10), read(4, 5_000)]);
        assert_eq!(stats.stored.load(Ordering::Relaxed), 2);
        let s = spool.stats();
        assert!(s.writable);
        assert_eq!(s.pending, 2);
        assert_eq!(std::fs::read_dir(&files).unwrap().count(), 1);
    }

    #[test]
    fn a_read_that_cannot_be_stored_is_counted_and_the_others_still_are() {
        let dir = tempfile::tempdir().unwrap();
        let (_, spool) = spool_in(dir.path(), 50_000);
        let stats = Arc::new(Stats::new(["cam-1"]));
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        // Queue all three before the writer starts, so they form one batch.
        tx.send(read(1, 10)).unwrap();
        let mut huge = read(2, 10);
        huge.vrm = "X".repeat(60_000);
        tx.send(huge).unwrap();
        tx.send(read(3, 10)).unwrap();
        drop(tx);
        spawn_writer(spool.clone(), rx, Arc::new(Notify::new()), stats.clone())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(stats.stored.load(Ordering::Relaxed), 2);
        assert_eq!(stats.store_failed.load(Ordering::Relaxed), 1);
        assert_eq!(spool.stats().pending, 2);
    }
}
