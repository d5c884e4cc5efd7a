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

use super::Spool;
use crate::health::Stats;
use crate::record::Read;

/// How long a batch stays open after its first read.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Most reads in one batch, so a burst still flushes in bounded time.
const MAX_BATCH: usize = 256;

/// Group commit: takes reads from the channel, batches what arrives within
/// ~10 ms (up to 256), inserts them, ONE flush per batch, then counts
/// `stats.stored` and calls `stored.notify_one()` so the forwarder wakes.
/// Exits after a final flush once the channel is closed. On write failure:
/// logs, counts `stats.store_failed`, keeps going.
pub fn spawn_writer(
    spool: Spool,
    reads: Receiver<Read>,
    stored: Arc<Notify>,
    stats: Arc<Stats>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("spool-writer".into())
        .spawn(move || {
            let mut closed = false;
            while !closed {
                let Ok(first) = reads.recv() else { break };
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
                store(&spool, &batch, &stored, &stats);
            }
            if let Err(e) = spool.flush() {
                log::error!("final spool flush failed: {e}");
            }
        })
}

/// Stores a batch; if that fails, stores its reads one by one so a single bad
/// read (too large, unframeable) does not take the others down with it.
fn store(spool: &Spool, batch: &[Read], stored: &Notify, stats: &Stats) {
    match spool.append(batch) {
        Ok(()) => {
            stats
                .stored
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            stats.store_latency.stored(batch.iter().map(|r| r.read_id));
            stored.notify_one();
        }
        Err(e) if batch.len() > 1 => {
            log::warn!(
                "storing {} reads together failed ({e}); storing them one by one",
                batch.len()
            );
            for r in batch {
                store(spool, std::slice::from_ref(r), stored, stats);
            }
        }
        Err(e) => {
            log::error!(
                "read {} of camera {} not stored: {e}",
                batch[0].read_id,
                batch[0].camera_id
            );
            stats.store_failed.fetch_add(1, Ordering::Relaxed);
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

    #[test]
    fn stores_everything_sent_then_exits_when_the_channel_closes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            path: dir.path().join("spool"),
            max_bytes: 1 << 30,
            ..Default::default()
        };
        let spool = Spool::open(&cfg).unwrap();
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
    fn a_read_that_cannot_be_stored_is_counted_and_the_others_still_are() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            path: dir.path().join("spool"),
            max_bytes: 50_000,
            ..Default::default()
        };
        let spool = Spool::open(&cfg).unwrap();
        let stats = Arc::new(Stats::new(["cam-1"]));
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        // Queue all three before the writer starts, so they form one batch.
        tx.send(read(1, 10)).unwrap();
        tx.send(read(2, 100_000)).unwrap();
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
