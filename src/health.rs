//! Health: counters every stage updates and anyone may read.
//!
//! Plain atomics, so the hot paths never take a lock to count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of one camera.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Frames delivered by the source.
    pub frames: AtomicU64,
    /// Frames dropped because recognition fell behind.
    pub dropped: AtomicU64,
    /// Frames recognition has looked at.
    pub analysed: AtomicU64,
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
