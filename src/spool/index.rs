//! What the spool knows about its pending reads without touching sled:
//! order, ages, sizes and how much of each a full spool has already shed.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::frame::Stage;
use crate::capture::UtcMillis;

#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    pub read_id: Uuid,
    pub captured_at: UtcMillis,
    /// Key plus value bytes, as counted against `max_bytes`.
    pub bytes: u64,
    pub stage: Stage,
}

#[derive(Default)]
pub(super) struct Index {
    pub entries: BTreeMap<u64, Meta>,
    /// (captured_at, key): the oldest capture in O(log n).
    pub by_age: BTreeSet<(UtcMillis, u64)>,
    /// Keys still holding their overview image, oldest first.
    full: BTreeSet<u64>,
    /// Keys that lost the overview but keep the plate patch.
    no_overview: BTreeSet<u64>,
    pub bytes: u64,
    /// Highest key ever seen, so keys keep rising whatever sled's id counter says.
    pub high_water: Option<u64>,
}

impl Index {
    pub fn insert(&mut self, key: u64, meta: Meta) {
        self.remove(key);
        self.by_age.insert((meta.captured_at, key));
        self.bytes += meta.bytes;
        self.stage_set(meta.stage).map(|s| s.insert(key));
        self.entries.insert(key, meta);
        self.high_water = Some(self.high_water.map_or(key, |h| h.max(key)));
    }

    pub fn remove(&mut self, key: u64) -> Option<Meta> {
        let meta = self.entries.remove(&key)?;
        self.by_age.remove(&(meta.captured_at, key));
        self.bytes -= meta.bytes;
        self.stage_set(meta.stage).map(|s| s.remove(&key));
        Some(meta)
    }

    /// The oldest pending read that still holds more than `target` keeps.
    pub fn oldest_above(&self, target: Stage) -> Option<u64> {
        let full = self.full.first().copied();
        match target {
            Stage::Full => None,
            Stage::NoOverview => full,
            Stage::TextOnly => match (full, self.no_overview.first().copied()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    fn stage_set(&mut self, stage: Stage) -> Option<&mut BTreeSet<u64>> {
        match stage {
            Stage::Full => Some(&mut self.full),
            Stage::NoOverview => Some(&mut self.no_overview),
            Stage::TextOnly => None,
        }
    }
}
