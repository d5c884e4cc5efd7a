//! Health: counters every stage updates and anyone may read.
//!
//! Plain atomics, so the hot paths never take a lock to count.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Counters of one camera.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Frames delivered by the source.
    pub frames: AtomicU64,
    /// Frames dropped because recognition fell behind.
    pub dropped: AtomicU64,
    /// Frames recognition has looked at.
    pub analysed: AtomicU64,
    /// Frames skipped because nothing moved in them.
    pub skipped: AtomicU64,
    /// Reads this camera produced.
    pub reads: AtomicU64,
    /// Times the source failed and was reopened.
    pub reopens: AtomicU64,
    /// The source is delivering frames right now.
    pub streaming: AtomicBool,
    /// The source ended (file EOF) or was given up.
    pub ended: AtomicBool,
    /// Opening or streaming the source has failed at least once; start-up
    /// readiness does not wait for such a camera.
    pub failed: AtomicBool,
}

impl CameraStats {
    /// Frames recognition has taken off the queue: analysed, or skipped
    /// because nothing moved. What the watchdog counts as progress.
    pub fn taken(&self) -> u64 {
        self.analysed.load(Ordering::Relaxed) + self.skipped.load(Ordering::Relaxed)
    }
}

/// Counters of the whole gateway.
#[derive(Debug, Default)]
pub struct Stats {
    pub cameras: Vec<(String, Arc<CameraStats>)>,
    /// Reads flushed to the spool.
    pub stored: AtomicU64,
    /// Reads that could not be stored (spool write failed).
    pub store_failed: AtomicU64,
    /// Reads the broker acknowledged.
    pub forwarded: AtomicU64,
    /// The forwarder has a live broker connection.
    pub connected: AtomicBool,
    /// From a vehicle pass ending (its read made) to the read being stored.
    pub store_latency: StoreLatency,
}

/// Times reads from the moment grouping makes them until the spool has
/// flushed them: the gateway's own delay, grouping's wait excluded.
#[derive(Debug, Default)]
pub struct StoreLatency {
    inner: Mutex<LatencyState>,
}

#[derive(Debug, Default)]
struct LatencyState {
    made: HashMap<Uuid, Instant>,
    /// The most recent samples, oldest first.
    samples: VecDeque<Duration>,
}

impl StoreLatency {
    /// Samples kept for percentiles.
    const KEEP: usize = 4096;
    /// Reads made but not (yet) stored that are remembered; beyond this a
    /// failing spool would make the map grow without bound.
    const PENDING: usize = 4096;

    /// A read has just been made.
    pub fn made(&self, read: Uuid) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.made.len() < Self::PENDING {
            s.made.insert(read, Instant::now());
        }
    }

    /// These reads have just been flushed to disk.
    pub fn stored(&self, reads: impl IntoIterator<Item = Uuid>) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for read in reads {
            if let Some(made) = s.made.remove(&read) {
                if s.samples.len() == Self::KEEP {
                    s.samples.pop_front();
                }
                s.samples.push_back(made.elapsed());
            }
        }
    }

    /// These reads will never be stored: they are forgotten, so a spell of
    /// failing writes cannot fill the map and end the sampling for good.
    pub fn not_stored(&self, reads: impl IntoIterator<Item = Uuid>) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for read in reads {
            s.made.remove(&read);
        }
    }

    /// The `p`-th percentile (0–100) of the recent samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<Duration> = s.samples.iter().copied().collect();
        sorted.sort();
        let last = sorted.len().checked_sub(1)?;
        Some(sorted[((p / 100.0) * last as f64).round() as usize])
    }

    /// Samples taken so far (at most the last 4096 are kept).
    pub fn count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .samples
            .len()
    }
}

impl Stats {
    pub fn new<'a>(camera_ids: impl IntoIterator<Item = &'a str>) -> Stats {
        Stats {
            cameras: camera_ids
                .into_iter()
                .map(|id| (id.to_string(), Arc::new(CameraStats::default())))
                .collect(),
            ..Stats::default()
        }
    }

    pub fn camera(&self, id: &str) -> Option<Arc<CameraStats>> {
        self.cameras
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, s)| s.clone())
    }
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_latency_pairs_made_and_stored_reads() {
        let latency = StoreLatency::default();
        assert_eq!(latency.percentile(99.0), None);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        latency.made(a);
        latency.made(b);
        std::thread::sleep(Duration::from_millis(5));
        latency.stored([a, Uuid::now_v7()]); // an unknown id is ignored
        assert_eq!(latency.count(), 1);
        assert!(latency.percentile(50.0).unwrap() >= Duration::from_millis(5));
        latency.stored([b]);
        assert_eq!(latency.count(), 2);
        assert!(latency.percentile(0.0).unwrap() <= latency.percentile(100.0).unwrap());
    }

    #[test]
    fn reads_that_fail_to_store_do_not_end_the_sampling() {
        let latency = StoreLatency::default();
        // A long spell of failing writes: more reads than are remembered.
        for _ in 0..StoreLatency::PENDING + 10 {
            let id = Uuid::now_v7();
            latency.made(id);
            latency.not_stored([id]);
        }
        let ok = Uuid::now_v7();
        latency.made(ok);
        latency.stored([ok]);
        assert_eq!(latency.count(), 1, "sampled after the spell");
    }
}
