//! Group: many sightings of one plate become one read per vehicle pass.
//!
//! A vehicle is in view for tens of frames. Each frame's plate candidates are
//! matched to the open passes of their camera (same or similar text, or an
//! overlapping box); a pass ends when its plate has been out of sight for
//! `end_after_ms` or it has lasted `max_pass_ms`. Its read carries the text
//! with the most confidence summed over the pass, and the patch and overview
//! of the frame where that text was read most confidently.
//!
//! Time is the frames' capture time, so grouping does not depend on how fast
//! recognition happens to run.

use std::sync::Arc;

use uuid::Uuid;

use crate::capture::{Frame, UtcMillis};
use crate::config::GroupConfig;
use crate::imaging;
use crate::recognise::PlateCandidate;
use crate::record::Read;

/// Open passes of one camera.
pub struct Grouper {
    gateway_id: String,
    camera_id: String,
    config: GroupConfig,
    passes: Vec<Pass>,
}

/// One vehicle pass in progress.
struct Pass {
    first_seen: UtcMillis,
    last_seen: UtcMillis,
    last_box: [u32; 4],
    frames: u32,
    /// Each distinct text read in this pass with its summed confidence.
    votes: Vec<(String, f32)>,
    /// The most confident sighting of each text, with its frame.
    best: Vec<(PlateCandidate, Arc<Frame>)>,
}

impl Grouper {
    pub fn new(gateway_id: &str, camera_id: &str, config: GroupConfig) -> Grouper {
        Grouper {
            gateway_id: gateway_id.to_string(),
            camera_id: camera_id.to_string(),
            config,
            passes: Vec::new(),
        }
    }

    /// Takes one analysed frame; returns the reads of passes that ended.
    pub fn observe(&mut self, frame: &Arc<Frame>, candidates: &[PlateCandidate]) -> Vec<Read> {
        let now = frame.captured_at;
        // Close what is over first, so a plate seen again later starts anew.
        let ended = self.expire(now);
        let mut taken = vec![false; self.passes.len()];
        for cand in candidates {
            let found = (0..self.passes.len())
                .filter(|&i| !taken[i])
                .map(|i| (i, self.passes[i].affinity(cand)))
                .filter(|(_, a)| *a > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match found {
                Some((i, _)) => {
                    taken[i] = true;
                    self.passes[i].add(cand, frame, now);
                }
                None => {
                    self.passes.push(Pass::start(cand, frame, now));
                    taken.push(true);
                }
            }
        }
        ended
    }

    /// Ends the passes that are over at time `now`; returns their reads.
    /// Called with each frame, and with the wall clock when no frames come.
    pub fn expire(&mut self, now: UtcMillis) -> Vec<Read> {
        let (end_after, max_pass) = (
            self.config.end_after_ms as i64,
            self.config.max_pass_ms as i64,
        );
        let (over, open): (Vec<Pass>, Vec<Pass>) = std::mem::take(&mut self.passes)
            .into_iter()
            .partition(|p| now - p.last_seen > end_after || now - p.first_seen >= max_pass);
        self.passes = open;
        over.into_iter().filter_map(|p| self.finish(p)).collect()
    }

    /// Ends every open pass (end of stream, shutdown).
    pub fn flush(&mut self) -> Vec<Read> {
        std::mem::take(&mut self.passes)
            .into_iter()
            .filter_map(|p| self.finish(p))
            .collect()
    }

    /// Number of passes in progress.
    pub fn open_passes(&self) -> usize {
        self.passes.len()
    }

    fn finish(&self, pass: Pass) -> Option<Read> {
        if pass.frames < self.config.min_frames {
            return None;
        }
        let (text, _) = pass.votes.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let (cand, frame) = pass.best.iter().find(|(c, _)| &c.text == text)?;
        Some(Read {
            read_id: Uuid::now_v7(),
            gateway_id: self.gateway_id.clone(),
            camera_id: self.camera_id.clone(),
            captured_at: frame.captured_at,
            vrm: cand.text.clone(),
            confidence: cand.confidence,
            char_confidence: cand.char_confidence.clone(),
            plate_box: cand.plate_box,
            plate_jpeg: imaging::plate_patch(frame, cand.plate_box),
            overview_jpeg: imaging::overview(frame),
        })
    }
}

impl Pass {
    fn start(cand: &PlateCandidate, frame: &Arc<Frame>, now: UtcMillis) -> Pass {
        Pass {
            first_seen: now,
            last_seen: now,
            last_box: cand.plate_box,
            frames: 1,
            votes: vec![(cand.text.clone(), cand.confidence)],
            best: vec![(cand.clone(), frame.clone())],
        }
    }

    /// How well a candidate fits this pass; 0 when it does not.
    fn affinity(&self, cand: &PlateCandidate) -> f32 {
        let text = self
            .votes
            .iter()
            .map(|(t, _)| similarity(t, &cand.text))
            .fold(0.0f32, f32::max);
        let overlap = iou(self.last_box, cand.plate_box);
        if text >= 0.7 || overlap >= 0.2 {
            text + overlap
        } else {
            0.0
        }
    }

    fn add(&mut self, cand: &PlateCandidate, frame: &Arc<Frame>, now: UtcMillis) {
        self.last_seen = now;
        self.last_box = cand.plate_box;
        self.frames += 1;
        match self.votes.iter_mut().find(|(t, _)| *t == cand.text) {
            Some((_, sum)) => *sum += cand.confidence,
            None => self.votes.push((cand.text.clone(), cand.confidence)),
        }
        match self.best.iter_mut().find(|(c, _)| c.text == cand.text) {
            Some(best) if best.0.confidence >= cand.confidence => {}
            Some(best) => *best = (cand.clone(), frame.clone()),
            None => self.best.push((cand.clone(), frame.clone())),
        }
    }
}

/// 1 for equal texts, falling with each edit (Levenshtein) relative to length.
fn similarity(a: &str, b: &str) -> f32 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    let longest = a.len().max(b.len()).max(1);
    1.0 - row[b.len()] as f32 / longest as f32
}

/// Intersection over union of two [x, y, w, h] boxes.
fn iou(a: [u32; 4], b: [u32; 4]) -> f32 {
    let (ax1, ay1, ax2, ay2) = (a[0], a[1], a[0] + a[2], a[1] + a[3]);
    let (bx1, by1, bx2, by2) = (b[0], b[1], b[0] + b[2], b[1] + b[3]);
    let iw = ax2.min(bx2).saturating_sub(ax1.max(bx1)) as f32;
    let ih = ay2.min(by2).saturating_sub(ay1.max(by1)) as f32;
    let inter = iw * ih;
    let union = (a[2] * a[3] + b[2] * b[3]) as f32 - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: UtcMillis) -> Arc<Frame> {
        Arc::new(Frame {
            seq: t as u64,
            captured_at: t,
            width: 64,
            height: 32,
            luma: vec![128; 64 * 32],
            chroma: None,
        })
    }

    fn cand(text: &str, conf: f32, x: u32) -> PlateCandidate {
        PlateCandidate {
            text: text.into(),
            confidence: conf,
            char_confidence: vec![conf; text.len()],
            plate_box: [x, 10, 30, 8],
            corners: crate::recognise::box_corners([x, 10, 30, 8]),
            format: None,
        }
    }

    fn grouper() -> Grouper {
        let config = GroupConfig {
            end_after_ms: 500,
            max_pass_ms: 5000,
            min_frames: 2,
        };
        Grouper::new("gw-1", "cam-1", config)
    }

    #[test]
    fn one_vehicle_over_many_frames_gives_one_read_with_the_winning_text() {
        let mut g = grouper();
        let mut reads = Vec::new();
        // 10 frames at 25 fps; two misreads among them, one with high confidence.
        for i in 0..10 {
            let text = match i {
                3 => "AB12CDF",
                7 => "A812CDE",
                _ => "AB12CDE",
            };
            let conf = if i == 3 { 0.99 } else { 0.8 + i as f32 / 100.0 };
            reads.extend(g.observe(&frame(i * 40), &[cand(text, conf, 10 + i as u32)]));
        }
        assert!(reads.is_empty(), "the pass is still open");
        reads.extend(g.observe(&frame(2000), &[]));
        assert_eq!(reads.len(), 1);
        let r = &reads[0];
        assert_eq!(r.vrm, "AB12CDE");
        assert_eq!(
            r.captured_at, 360,
            "the most confident frame of the winning text"
        );
        assert_eq!(
            (r.gateway_id.as_str(), r.camera_id.as_str()),
            ("gw-1", "cam-1")
        );
        assert!(!r.plate_jpeg.is_empty() && !r.overview_jpeg.is_empty());
    }

    #[test]
    fn two_vehicles_side_by_side_stay_apart() {
        let mut g = grouper();
        for i in 0..5 {
            g.observe(
                &frame(i * 40),
                &[cand("AB12CDE", 0.9, 10), cand("XY65ZZT", 0.9, 40)],
            );
        }
        assert_eq!(g.open_passes(), 2);
        let mut texts: Vec<String> = g.expire(10_000).into_iter().map(|r| r.vrm).collect();
        texts.sort();
        assert_eq!(texts, ["AB12CDE", "XY65ZZT"]);
    }

    #[test]
    fn a_single_frame_sighting_is_not_a_read() {
        let mut g = grouper();
        g.observe(&frame(0), &[cand("AB12CDE", 0.99, 10)]);
        assert!(g.expire(10_000).is_empty());
    }

    #[test]
    fn the_same_plate_after_a_gap_is_a_new_pass() {
        let mut g = grouper();
        let mut reads = Vec::new();
        for t in [0, 40, 80, 2000, 2040] {
            reads.extend(g.observe(&frame(t), &[cand("AB12CDE", 0.9, 10)]));
        }
        reads.extend(g.flush());
        assert_eq!(reads.len(), 2);
    }

    #[test]
    fn a_pass_that_lasts_too_long_is_closed() {
        let mut g = grouper();
        let mut reads = Vec::new();
        for i in 0..=150 {
            reads.extend(g.observe(&frame(i * 40), &[cand("AB12CDE", 0.9, 10)]));
        }
        assert_eq!(reads.len(), 1, "closed at max_pass_ms = 5000 ms");
    }

    #[test]
    fn text_similarity_and_overlap() {
        assert_eq!(similarity("AB12CDE", "AB12CDE"), 1.0);
        assert!((similarity("AB12CDE", "AB12CDF") - 6.0 / 7.0).abs() < 1e-6);
        assert_eq!(similarity("", "ABC"), 0.0);
        assert_eq!(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1.0);
        assert_eq!(iou([0, 0, 10, 10], [20, 20, 5, 5]), 0.0);
    }
}
