//! The spool's limits: `max_bytes` and `max_age_days`.
//!
//! At the size cap a spool keeps as much evidence as it can: the overview
//! images of the oldest reads go first, then their plate patches, and only
//! when the text reads alone fill the cap are whole reads dropped, oldest
//! first. Reads older than `max_age_days` are removed: the national store has
//! no use for them. Every one of these is counted and logged with a stable
//! MESSAGE_ID and the read id. Never silently.

use std::sync::atomic::Ordering;

use super::open::Handles;
use super::{KEY_BYTES, Spool, SpoolError, Stage, frame, stored_bytes};
use crate::capture::UtcMillis;
use crate::logging::message_id;

impl Spool {
    /// Removes pending reads captured more than `max_age_days` before `now`.
    /// Returns how many. Run by the writer now and then, and before appends.
    pub fn expire(&self, now: UtcMillis) -> Result<u64, SpoolError> {
        let _one_at_a_time = self.append_guard();
        let h = self.handles()?;
        self.expire_with(&h, now)
    }

    pub(super) fn expire_with(&self, h: &Handles, now: UtcMillis) -> Result<u64, SpoolError> {
        let limit = now.saturating_sub(self.inner.max_age_ms);
        let mut expired = 0;
        loop {
            let Some((captured_at, key)) = self.index().by_age.first().copied() else {
                break;
            };
            if captured_at >= limit {
                break;
            }
            // Not counted if the broker acknowledged it meanwhile: sent, not expired.
            if let Some(meta) = self.take(h, key)? {
                expired += 1;
                self.inner.counters.expired.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    MESSAGE_ID = message_id::SPOOL_EXPIRED,
                    READ_ID:% = meta.read_id;
                    "read {} expired unsent: captured {}, older than max_age_days",
                    meta.read_id,
                    crate::record::rfc3339_millis(meta.captured_at)
                );
            }
        }
        Ok(expired)
    }

    /// Makes the new reads (`framed`) fit under `max_bytes`: sheds images of
    /// the stored reads, oldest first, then of the new ones, and only then
    /// drops the oldest reads. Changes are not flushed here: the append that
    /// needed the room flushes them with its own reads.
    pub(super) fn make_room(
        &self,
        h: &Handles,
        framed: &mut [(uuid::Uuid, Vec<u8>)],
    ) -> Result<(), SpoolError> {
        let max = self.inner.max_bytes;
        let seal = self.inner.sealer.overhead();
        let incoming =
            |f: &[(uuid::Uuid, Vec<u8>)]| f.iter().map(|(_, v)| stored_bytes(v, seal)).sum::<u64>();
        let fits = |s: &Spool, f: &[(uuid::Uuid, Vec<u8>)]| s.index().bytes + incoming(f) <= max;
        if fits(self, framed) {
            self.inner.at_cap.store(false, Ordering::Relaxed);
            return Ok(());
        }
        if !self.inner.at_cap.swap(true, Ordering::Relaxed) {
            log::warn!(
                MESSAGE_ID = message_id::SPOOL_CAP;
                "spool {} reached max_bytes ({max}): shedding images of the oldest reads",
                self.inner.path.display()
            );
        }
        for stage in [Stage::NoOverview, Stage::TextOnly] {
            while !fits(self, framed) {
                let Some(key) = self.index().oldest_above(stage) else {
                    break;
                };
                self.shed_one(h, key, stage)?;
            }
            // The new reads are the newest: theirs go last.
            let mut i = 0;
            while i < framed.len() && !fits(self, framed) {
                let (read_id, f) = &mut framed[i];
                let shed = frame::decode_header(f)
                    .map(|h| h.stage)
                    .and_then(|from| Ok((from, frame::shed(f, stage)?)));
                let (from, shed) = shed.map_err(|source| SpoolError::Frame {
                    path: self.inner.path.clone(),
                    read_id: *read_id,
                    camera_id: String::new(),
                    source,
                })?;
                *f = shed;
                self.count_shed(*read_id, from, stage);
                i += 1;
            }
        }
        while !fits(self, framed) {
            let Some(key) = self.index().entries.keys().next().copied() else {
                break;
            };
            // Not counted if the broker acknowledged it meanwhile: sent, not dropped.
            if let Some(meta) = self.take(h, key)? {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    MESSAGE_ID = message_id::SPOOL_DROP,
                    READ_ID:% = meta.read_id;
                    "spool full (max_bytes {max}) with text reads only: dropped oldest unsent read {} (captured {})",
                    meta.read_id,
                    crate::record::rfc3339_millis(meta.captured_at)
                );
            }
        }
        Ok(())
    }

    /// Replaces the read under `key` by its copy shed to `stage`, unless the
    /// broker acknowledged it meanwhile.
    fn shed_one(&self, h: &Handles, key: u64, stage: Stage) -> Result<(), SpoolError> {
        let k = key.to_be_bytes();
        let Some(old) = h.reads.get(k).map_err(|e| self.db_err(e))? else {
            // Acknowledged: its remover is fixing the index.
            self.index().remove(key);
            return Ok(());
        };
        // A file that cannot be read now is treated as damage: the loop
        // above needs every call to make progress, and set aside the read
        // is kept, not lost.
        let full = self
            .frame_of(key, &old)
            .unwrap_or_else(|e| Err(e.to_string()));
        let from = full
            .as_deref()
            .ok()
            .and_then(|f| frame::decode_header(f).ok())
            .map(|h| h.stage);
        let new = match full.and_then(|f| frame::shed(&f, stage).map_err(|e| e.to_string())) {
            Ok(new) => new,
            Err(_) if !h.reads.contains_key(k).unwrap_or(true) => {
                // Acknowledged meanwhile, its file already unlinked.
                self.index().remove(key);
                return Ok(());
            }
            Err(e) => {
                log::error!(
                    MESSAGE_ID = message_id::SPOOL_QUARANTINED;
                    "spool {}: record {key}: {e}; moved aside to the corrupt tree",
                    self.inner.path.display()
                );
                self.move_aside(h, &k)?;
                self.index().remove(key);
                return Ok(());
            }
        };
        let Some(old_stage) = from.filter(|&s| s < stage) else {
            // Already shed this far (by a race the index did not see).
            return Ok(());
        };
        let (new, file) = self
            .stored_form(key, new)
            .map_err(|source| self.frame_err(key, source))?;
        if let Some(file) = &file {
            self.inner
                .payloads
                .write(&[(key, stage, file)])
                .map_err(|source| self.payload_err(key, source))?;
        }
        let new_len = KEY_BYTES + (new.len() + file.as_ref().map_or(0, Vec::len)) as u64;
        let swapped = h
            .reads
            .compare_and_swap(k, Some(&old), Some(new))
            .map_err(|e| self.db_err(e))?;
        match (&swapped, file.is_some()) {
            // The old file (if it had one) goes once sled has flushed the
            // new record.
            (Ok(()), _) => self.doomed().push((key, Some(old_stage))),
            // Acknowledged meanwhile: the new file is no one's.
            (Err(_), true) => self.inner.payloads.remove_one(key, stage),
            (Err(_), false) => {}
        }
        let mut index = self.index();
        if swapped.is_err() {
            // Removed by an acknowledgement between the get and the swap.
            index.remove(key);
            return Ok(());
        }
        let Some(mut meta) = index.remove(key) else {
            return Ok(());
        };
        let from = meta.stage;
        meta.stage = stage;
        meta.bytes = new_len;
        index.insert(key, meta);
        drop(index);
        self.count_shed(meta.read_id, from, stage);
        Ok(())
    }

    /// Counts and logs one read shed from stage `from` to `to`.
    fn count_shed(&self, read_id: uuid::Uuid, from: Stage, to: Stage) {
        if from >= to {
            return;
        }
        let c = &self.inner.counters;
        if from < Stage::NoOverview {
            c.shed_overviews.fetch_add(1, Ordering::Relaxed);
        }
        if to == Stage::TextOnly {
            c.shed_plates.fetch_add(1, Ordering::Relaxed);
        }
        log::warn!(
            MESSAGE_ID = message_id::SPOOL_SHED,
            READ_ID:% = read_id;
            "spool full (max_bytes {}): removed {} of unsent read {read_id} to keep its text",
            self.inner.max_bytes,
            if to == Stage::TextOnly { "the images" } else { "the overview image" },
        );
    }
}
