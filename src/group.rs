//! Group: many sightings of one plate become one read per vehicle pass.
//!
//! A vehicle is in view for tens of frames. Each frame's plate candidates are
//! matched to the open tracks of their camera, by text similarity and by
//! where the plate's box should be now given how it has been moving. A track
//! ends when its plate has been out of sight for `end_after_ms` or it has
//! lasted `max_pass_ms`; its read carries the text voted character by
//! character across the track (weighted by confidence), and the patch and
//! overview of the frame where that text was read most confidently.
//!
//! Optionally a preview read goes out as soon as enough frames agree; the
//! final read names it. A plate already read on this camera is not read
//! again while it stays in sight (gaps shorter than `suppress_s`), so a
//! parked or queueing vehicle yields one read.
//!
//! With motion gating, a parked car's frames are skipped and its plate is
//! not seen again, yet it has not left: a plate read lately stays in sight
//! while nothing moves over the place it was last seen ([`Grouper::scene`]).
//!
//! Time is the frames' capture time, so grouping does not depend on how fast
//! recognition happens to run.

use std::collections::HashMap;

use uuid::Uuid;

use crate::capture::{Frame, UtcMillis};
use crate::config::GroupConfig;
use crate::imaging::Snapshot;
use crate::recognise::PlateCandidate;
use crate::recognise::gate::Change;
use crate::record::Read;

/// Capture times stepping back by more than this (ms) are a clock set back,
/// not jitter: [`Grouper::clock`] follows them.
const CLOCK_JITTER_MS: i64 = 2_500;

/// Sightings closer together than this (ms) do not update a track's
/// velocity: a tenth of a frame at 50 fps.
const MIN_VELOCITY_DT: i64 = 2;

/// Distinct readings of one track whose best snapshot is kept. Misreads
/// make new texts; keeping a snapshot for each would let one track grow.
const KEPT_SNAPSHOTS: usize = 3;

/// Open tracks of one camera.
pub struct Grouper {
    gateway_id: String,
    camera_id: String,
    config: GroupConfig,
    tracks: Vec<Track>,
    /// Plates read on this camera lately, by text.
    recent: HashMap<String, Recent>,
    /// Tracks that ended without a read because their plate was suppressed.
    suppressed: u64,
    /// The latest time this grouper has been given: time never runs
    /// backwards here, whatever the capture timestamps do.
    latest: UtcMillis,
}

/// A plate read on this camera lately.
struct Recent {
    /// When a track last saw it.
    sighted: UtcMillis,
    /// When it was last in sight: seen, or unseen with nothing moving over
    /// where it was (see [`Grouper::scene`]).
    seen: UtcMillis,
    /// Where it was last seen ([x, y, w, h], frame pixels).
    plate_box: [u32; 4],
    /// Something moved over that place since (or may have): the plate may
    /// have left, and only seeing it again says it is there.
    disturbed: bool,
}

/// One vehicle pass in progress.
struct Track {
    first_seen: UtcMillis,
    last_seen: UtcMillis,
    first_box: [u32; 4],
    last_box: [u32; 4],
    /// Something moved over `last_box` since the plate was last seen there.
    disturbed: bool,
    /// Box movement per millisecond, from the last two sightings.
    velocity: [f32; 2],
    sightings: Vec<Sighting>,
    /// The most confident sightings of distinct texts, with the images of
    /// their frames (the frames themselves are not kept).
    kept: Vec<(PlateCandidate, Snapshot)>,
    /// The preview read sent for this track, if any.
    preview: Option<Uuid>,
}

struct Sighting {
    text: String,
    confidence: f32,
    chars: Vec<f32>,
}

/// The outcome of voting over a track.
#[derive(Debug, Clone, PartialEq)]
struct Vote {
    text: String,
    confidence: f32,
    char_confidence: Vec<f32>,
    /// Sightings that read exactly `text`.
    agreeing: u32,
    /// The fewest sightings that read any one character of `text` as voted:
    /// how many frames back its least supported character.
    support: u32,
}

impl Grouper {
    pub fn new(gateway_id: &str, camera_id: &str, config: GroupConfig) -> Grouper {
        Grouper {
            gateway_id: gateway_id.to_string(),
            camera_id: camera_id.to_string(),
            config,
            tracks: Vec::new(),
            recent: HashMap::new(),
            suppressed: 0,
            latest: UtcMillis::MIN,
        }
    }

    /// `t`, or the latest time already given if that is later: capture
    /// timestamps can step back a little (decode jitter, a source switching
    /// between its clock and ours), and tracks must not see time reversed.
    /// A larger step back (the system clock set back) moves every time held
    /// here back with it, so passes keep their lengths and go on ending.
    fn clock(&mut self, t: UtcMillis) -> UtcMillis {
        if t.saturating_add(CLOCK_JITTER_MS) < self.latest {
            let back = self.latest - t;
            for track in &mut self.tracks {
                track.first_seen -= back;
                track.last_seen -= back;
            }
            for r in self.recent.values_mut() {
                r.sighted -= back;
                r.seen -= back;
            }
            self.latest = t;
        }
        self.latest = self.latest.max(t);
        self.latest
    }

    /// Where the open tracks last saw their plates ([x, y, w, h], frame
    /// pixels).
    pub fn open_boxes(&self) -> impl Iterator<Item = [u32; 4]> + '_ {
        self.tracks.iter().map(|t| t.last_box)
    }

    /// Takes where the motion gate saw the picture change in a frame,
    /// analysed or skipped, before the frame's plates (if any) are observed.
    /// A plate read lately is still in sight at `now` while nothing has moved
    /// over the place it was last seen: a car parked in view keeps its
    /// suppression without being seen again. When the gate cannot say
    /// (no motion gating), every plate needs seeing again, as before.
    pub fn scene(&mut self, now: UtcMillis, change: Change) {
        let now = self.clock(now);
        let touched = |b: [u32; 4]| match change {
            Change::Unknown => true,
            Change::Nothing => false,
            Change::Within(region) => overlaps(region, b),
        };
        for t in &mut self.tracks {
            t.disturbed |= touched(t.last_box);
        }
        if self.config.suppress_s == 0 {
            return; // no suppression: nothing is kept in sight
        }
        for r in self.recent.values_mut() {
            r.disturbed |= touched(r.plate_box);
            if !r.disturbed {
                r.seen = r.seen.max(now);
            }
        }
    }

    /// Takes one analysed frame; returns the reads it completes (tracks that
    /// ended, and previews that became due).
    pub fn observe(&mut self, frame: &Frame, candidates: &[PlateCandidate]) -> Vec<Read> {
        let now = self.clock(frame.captured_at);
        // Close what is over first, so a plate seen again later starts anew.
        let mut reads = self.expire(now);
        let mut taken = vec![false; self.tracks.len()];
        for cand in candidates {
            let found = (0..self.tracks.len())
                .filter(|&i| !taken[i])
                .map(|i| (i, self.tracks[i].affinity(cand, now)))
                .filter(|(_, a)| *a > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let i = match found {
                Some((i, _)) => {
                    self.tracks[i].add(cand, frame, now);
                    i
                }
                None => {
                    self.tracks.push(Track::start(cand, frame, now));
                    taken.push(false);
                    self.tracks.len() - 1
                }
            };
            taken[i] = true;
            reads.extend(self.preview(i));
        }
        reads
    }

    /// Ends the tracks that are over at time `now`; returns their reads.
    /// Called with each frame, and with the wall clock when no frames come.
    pub fn expire(&mut self, now: UtcMillis) -> Vec<Read> {
        let now = self.clock(now);
        let (end_after, max_pass) = (
            self.config.end_after_ms as i64,
            self.config.max_pass_ms as i64,
        );
        let (over, open): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| now - t.last_seen > end_after || now - t.first_seen >= max_pass);
        self.tracks = open;
        let window = self.suppress_window();
        self.recent.retain(|_, r| now - r.seen <= window);
        over.into_iter().filter_map(|t| self.finish(t)).collect()
    }

    /// Ends every open track (end of stream, shutdown).
    pub fn flush(&mut self) -> Vec<Read> {
        std::mem::take(&mut self.tracks)
            .into_iter()
            .filter_map(|t| self.finish(t))
            .collect()
    }

    /// Tracks in progress.
    pub fn open_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Tracks that ended without a read because their plate was suppressed.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn suppress_window(&self) -> i64 {
        self.config.suppress_s as i64 * 1000
    }

    /// True when `track`'s plate was read here lately: seen within the
    /// window, or in sight since (unseen, nothing moving over it) and this
    /// track is at the same place. A vehicle elsewhere showing the same
    /// registration as a parked one (a cloned plate) is not suppressed by it
    /// for longer than the window.
    fn is_suppressed(&self, text: &str, track: &Track) -> bool {
        let window = self.suppress_window();
        self.recent.get(text).is_some_and(|r| {
            track.first_seen - r.sighted <= window
                || (track.first_seen - r.seen <= window
                    && (overlaps(track.first_box, r.plate_box)
                        || overlaps(track.last_box, r.plate_box)))
        })
    }

    /// A preview read for track `i`, the first time enough frames agree.
    fn preview(&mut self, i: usize) -> Option<Read> {
        let needed = self.config.preview_after_frames;
        let track = &self.tracks[i];
        if needed == 0 || track.preview.is_some() {
            return None;
        }
        let vote = track.vote()?;
        if vote.agreeing < needed || self.is_suppressed(&vote.text, track) {
            return None;
        }
        let mut read = self.read(track, &vote)?;
        read.preview = true;
        self.tracks[i].preview = Some(read.read_id);
        Some(read)
    }

    fn finish(&mut self, track: Track) -> Option<Read> {
        let vote = track.vote()?;
        // Every character must have been read so in `min_frames` frames (so
        // the track was seen in at least that many), not only the track seen
        // in that many: two glimpses of roadside texture read `A8` and `O4`
        // vote `A4`, which no frame read.
        if vote.support < self.config.min_frames {
            return None;
        }
        let suppressed = self.is_suppressed(&vote.text, &track);
        self.recent.insert(
            vote.text.clone(),
            Recent {
                sighted: track.last_seen,
                seen: track.last_seen,
                plate_box: track.last_box,
                disturbed: track.disturbed,
            },
        );
        if suppressed && track.preview.is_none() {
            self.suppressed += 1;
            return None;
        }
        let mut read = self.read(&track, &vote)?;
        read.supersedes = track.preview;
        Some(read)
    }

    /// The read for `vote`, with the images of its best frame.
    fn read(&self, track: &Track, vote: &Vote) -> Option<Read> {
        let (cand, snapshot) = track
            .kept
            .iter()
            .find(|(c, _)| c.text == vote.text)
            .or_else(|| {
                track
                    .kept
                    .iter()
                    .max_by(|a, b| a.0.confidence.total_cmp(&b.0.confidence))
            })?;
        Some(Read {
            read_id: Uuid::now_v7(),
            gateway_id: self.gateway_id.clone(),
            camera_id: self.camera_id.clone(),
            captured_at: snapshot.captured_at,
            vrm: vote.text.clone(),
            confidence: vote.confidence,
            char_confidence: vote.char_confidence.clone(),
            plate_box: cand.plate_box,
            plate_jpeg: snapshot.plate_jpeg(),
            overview_jpeg: snapshot.overview_jpeg(),
            frames: track.sightings.len() as u32,
            preview: false,
            supersedes: None,
            clock_unsynchronised: crate::clock::unsynchronised(),
        })
    }
}

impl Track {
    fn start(cand: &PlateCandidate, frame: &Frame, now: UtcMillis) -> Track {
        let mut track = Track {
            first_seen: now,
            last_seen: now,
            first_box: cand.plate_box,
            last_box: cand.plate_box,
            disturbed: false,
            velocity: [0.0, 0.0],
            sightings: vec![Sighting::of(cand)],
            kept: Vec::new(),
            preview: None,
        };
        track.keep(cand, frame);
        track
    }

    /// How well a candidate continues this track; 0 when it does not.
    fn affinity(&self, cand: &PlateCandidate, now: UtcMillis) -> f32 {
        let text = self
            .sightings
            .iter()
            .map(|s| similarity(&s.text, &cand.text))
            .fold(0.0f32, f32::max);
        let overlap = iou(self.predicted_box(now), cand.plate_box);
        if text >= 0.7 || overlap >= 0.2 {
            text + overlap
        } else {
            0.0
        }
    }

    /// Where the plate should be at `now` if it keeps moving as it was.
    fn predicted_box(&self, now: UtcMillis) -> [u32; 4] {
        let dt = (now - self.last_seen) as f32;
        let [x, y, w, h] = self.last_box;
        let shift = |v: u32, d: f32| (v as f32 + d).max(0.0) as u32;
        [
            shift(x, self.velocity[0] * dt),
            shift(y, self.velocity[1] * dt),
            w,
            h,
        ]
    }

    fn add(&mut self, cand: &PlateCandidate, frame: &Frame, now: UtcMillis) {
        // Two sightings (nearly) at once say nothing about speed: dividing
        // their shift by a millisecond would send the prediction far off.
        let dt = now - self.last_seen;
        if dt >= MIN_VELOCITY_DT {
            let [x0, y0, ..] = self.last_box;
            let [x1, y1, ..] = cand.plate_box;
            let dt = dt as f32;
            self.velocity = [(x1 as f32 - x0 as f32) / dt, (y1 as f32 - y0 as f32) / dt];
        }
        self.last_seen = now;
        self.last_box = cand.plate_box;
        self.disturbed = false;
        self.sightings.push(Sighting::of(cand));
        self.keep(cand, frame);
    }

    /// Keeps a snapshot of `frame` when `cand` is the most confident reading
    /// of its text so far, forgetting the least confident text's beyond
    /// [`KEPT_SNAPSHOTS`]. Snapshots are only cut when they will be kept.
    fn keep(&mut self, cand: &PlateCandidate, frame: &Frame) {
        let snapshot = || (cand.clone(), Snapshot::of(frame, cand.plate_box));
        if let Some(kept) = self.kept.iter_mut().find(|(c, _)| c.text == cand.text) {
            if kept.0.confidence < cand.confidence {
                *kept = snapshot();
            }
            return;
        }
        if self.kept.len() < KEPT_SNAPSHOTS {
            self.kept.push(snapshot());
            return;
        }
        let worst = self
            .kept
            .iter_mut()
            .min_by(|a, b| a.0.confidence.total_cmp(&b.0.confidence))
            .expect("kept is full");
        if worst.0.confidence < cand.confidence {
            *worst = snapshot();
        }
    }

    /// Votes the track's text: first its length, then each character, each
    /// sighting weighted by its (per-character) confidence.
    fn vote(&self) -> Option<Vote> {
        let mut by_len: HashMap<usize, f32> = HashMap::new();
        for s in &self.sightings {
            *by_len.entry(s.text.chars().count()).or_default() += s.confidence;
        }
        let len = by_len
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?
            .0;
        let voters: Vec<&Sighting> = self
            .sightings
            .iter()
            .filter(|s| s.text.chars().count() == len)
            .collect();
        let mut text = String::with_capacity(len);
        let mut char_confidence = Vec::with_capacity(len);
        let mut support = u32::MAX;
        for pos in 0..len {
            // (character, summed confidence, sightings)
            let mut scores: Vec<(char, f32, u32)> = Vec::new();
            for s in &voters {
                let c = s.text.chars().nth(pos).expect("voters have this length");
                let conf = s.chars.get(pos).copied().unwrap_or(s.confidence);
                match scores.iter_mut().find(|(k, ..)| *k == c) {
                    Some(entry) => {
                        entry.1 += conf;
                        entry.2 += 1;
                    }
                    None => scores.push((c, conf, 1)),
                }
            }
            let total: f32 = scores.iter().map(|s| s.1).sum();
            let (c, score, n) = scores.into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
            text.push(c);
            support = support.min(n);
            // Agreement across the track times how sure the agreeing frames were.
            let share = if total > 0.0 { score / total } else { 0.0 };
            char_confidence.push((share * score / n as f32).clamp(0.0, 1.0));
        }
        let confidence = char_confidence.iter().sum::<f32>() / len.max(1) as f32;
        let agreeing = self.sightings.iter().filter(|s| s.text == text).count() as u32;
        Some(Vote {
            text,
            confidence,
            char_confidence,
            agreeing,
            support: if len == 0 { 0 } else { support },
        })
    }
}

impl Sighting {
    fn of(cand: &PlateCandidate) -> Sighting {
        Sighting {
            text: cand.text.clone(),
            confidence: cand.confidence,
            chars: cand.char_confidence.clone(),
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

/// Whether two boxes ([x, y, w, h]) share any pixel.
fn overlaps(a: [u32; 4], b: [u32; 4]) -> bool {
    a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
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

    fn frame(t: UtcMillis) -> Frame {
        Frame {
            seq: t as u64,
            captured_at: t,
            width: 64,
            height: 32,
            luma: vec![128; 64 * 32].into(),
            chroma: None,
        }
    }

    fn cand(text: &str, conf: f32, x: u32) -> PlateCandidate {
        PlateCandidate {
            text: text.into(),
            confidence: conf,
            char_confidence: vec![conf; text.len()],
            char_at: Vec::new(),
            plate_box: [x, 10, 30, 8],
            corners: crate::recognise::box_corners([x, 10, 30, 8]),
            format: None,
        }
    }

    fn config() -> GroupConfig {
        GroupConfig {
            end_after_ms: 500,
            max_pass_ms: 5000,
            min_frames: 2,
            preview_after_frames: 0,
            suppress_s: 60,
        }
    }

    fn grouper(config: GroupConfig) -> Grouper {
        Grouper::new("gw-1", "cam-1", config)
    }

    /// Feeds one sighting per frame at 25 fps from `t0`; returns the reads.
    fn pass(g: &mut Grouper, t0: UtcMillis, texts: &[(&str, f32)]) -> Vec<Read> {
        let mut reads = Vec::new();
        for (i, (text, conf)) in texts.iter().enumerate() {
            reads.extend(g.observe(
                &frame(t0 + i as i64 * 40),
                &[cand(text, *conf, 10 + i as u32)],
            ));
        }
        reads
    }

    #[test]
    fn one_vehicle_over_many_frames_gives_one_read_with_the_voted_text() {
        let mut g = grouper(config());
        let mut texts = vec![("AB12CDE", 0.8); 10];
        texts[3] = ("AB12CDF", 0.99); // a confident misread is outvoted
        texts[7] = ("A812CDE", 0.7);
        let mut reads = pass(&mut g, 0, &texts);
        assert!(reads.is_empty(), "the track is still open");
        reads.extend(g.observe(&frame(2000), &[]));
        assert_eq!(reads.len(), 1);
        let r = &reads[0];
        assert_eq!(r.vrm, "AB12CDE");
        assert_eq!(r.frames, 10);
        assert!(!r.preview && r.supersedes.is_none());
        assert_eq!(r.char_confidence.len(), 7);
        assert!(
            r.char_confidence[6] < r.char_confidence[0],
            "the disputed last character is less certain"
        );
        assert!((0.0..=1.0).contains(&r.confidence));
        assert_eq!(
            (r.gateway_id.as_str(), r.camera_id.as_str()),
            ("gw-1", "cam-1")
        );
        assert!(!r.plate_jpeg.is_empty() && !r.overview_jpeg.is_empty());
    }

    #[test]
    fn characters_are_voted_even_when_no_frame_read_the_whole_plate() {
        let mut g = grouper(config());
        pass(
            &mut g,
            0,
            &[
                ("XB12CDE", 0.9),
                ("AB12CDX", 0.9),
                ("AB1ZCDE", 0.9),
                ("AB12XDE", 0.9),
            ],
        );
        let reads = g.flush();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].vrm, "AB12CDE");
    }

    #[test]
    fn two_vehicles_side_by_side_stay_apart() {
        let mut g = grouper(config());
        for i in 0..5 {
            g.observe(
                &frame(i * 40),
                &[cand("AB12CDE", 0.9, 10), cand("XY65ZZT", 0.9, 40)],
            );
        }
        assert_eq!(g.open_tracks(), 2);
        let mut texts: Vec<String> = g.expire(10_000).into_iter().map(|r| r.vrm).collect();
        texts.sort();
        assert_eq!(texts, ["AB12CDE", "XY65ZZT"]);
    }

    #[test]
    fn a_fast_plate_is_followed_by_its_motion_despite_misreads() {
        let mut g = grouper(config());
        // 45 px per frame, wider than the 30 px box: consecutive boxes never
        // overlap, and the texts differ too much to match on their own.
        let texts = [
            "AB12CDE", "AB12CDE", "XX12CXX", "AB12CDE", "AB1XXXE", "AB12CDE",
        ];
        for (i, text) in texts.iter().enumerate() {
            g.observe(&frame(i as i64 * 40), &[cand(text, 0.9, i as u32 * 45)]);
        }
        assert_eq!(g.open_tracks(), 1, "one track follows the moving plate");
        assert_eq!(g.flush().len(), 1);
    }

    #[test]
    fn a_single_frame_sighting_is_not_a_read() {
        let mut g = grouper(config());
        g.observe(&frame(0), &[cand("AB12CDE", 0.99, 10)]);
        assert!(g.expire(10_000).is_empty());
    }

    #[test]
    fn each_character_needs_min_frames_frames_that_read_it() {
        // Two glimpses of something far off (the pipeline bench's phantom):
        // the vote would be `A4`, a text no frame read.
        let mut g = grouper(config());
        let reads = pass(&mut g, 0, &[("A8", 0.78), ("O4", 0.82)]);
        assert!(reads.is_empty());
        assert!(g.flush().is_empty(), "no character was read twice");

        // One character in dispute between two frames: still not a read.
        let mut g = grouper(config());
        pass(&mut g, 0, &[("AB12CDE", 0.9), ("AB12CDF", 0.8)]);
        assert!(
            g.flush().is_empty(),
            "the last character rests on one frame"
        );

        // A third frame settles it.
        let mut g = grouper(config());
        pass(
            &mut g,
            0,
            &[("AB12CDE", 0.9), ("AB12CDF", 0.8), ("AB12CDE", 0.7)],
        );
        let reads = g.flush();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].vrm, "AB12CDE");

        // With min_frames = 1, one frame is enough for any character.
        let mut g = grouper(GroupConfig {
            min_frames: 1,
            ..config()
        });
        pass(&mut g, 0, &[("A8", 0.78), ("O4", 0.82)]);
        assert_eq!(g.flush().len(), 1);
    }

    #[test]
    fn the_same_plate_back_within_the_suppression_window_is_not_read_again() {
        let mut g = grouper(config());
        let mut reads = pass(&mut g, 0, &[("AB12CDE", 0.9); 3]);
        reads.extend(pass(&mut g, 3000, &[("AB12CDE", 0.9); 3]));
        reads.extend(g.flush());
        assert_eq!(reads.len(), 1);
        assert_eq!(g.suppressed(), 1);

        let mut g = grouper(GroupConfig {
            suppress_s: 0,
            ..config()
        });
        let mut reads = pass(&mut g, 0, &[("AB12CDE", 0.9); 3]);
        reads.extend(pass(&mut g, 3000, &[("AB12CDE", 0.9); 3]));
        reads.extend(g.flush());
        assert_eq!(
            reads.len(),
            2,
            "without suppression a second pass is a second read"
        );
    }

    #[test]
    fn a_parked_car_is_read_once_however_long_it_stays() {
        let mut g = grouper(config());
        // Ten minutes in sight at 25 fps; tracks are cut every max_pass_ms.
        let reads: Vec<Read> = (0..15_000)
            .flat_map(|i| g.observe(&frame(i * 40), &[cand("PK07CAR", 0.9, 10)]))
            .collect();
        let mut reads = reads;
        reads.extend(g.flush());
        assert_eq!(reads.len(), 1, "one read, at the end of its first track");
        assert!(g.suppressed() >= 100);
        // Gone for longer than the window, then back: a new read.
        let back = 15_000 * 40 + 61_000;
        let again = pass(&mut g, back, &[("PK07CAR", 0.9); 3]);
        assert!(again.is_empty());
        assert_eq!(g.flush().len(), 1);
    }

    /// Frames `frames` (numbers at 25 fps) as the pipeline hands them over
    /// once the motion gate has judged them: each with where the picture
    /// changed and, for the frames it is seen in, the plate `plate(i)` gives.
    fn gated(
        g: &mut Grouper,
        frames: std::ops::Range<i64>,
        change: Change,
        plate: impl Fn(i64) -> Option<PlateCandidate>,
    ) -> Vec<Read> {
        let mut reads = Vec::new();
        for i in frames {
            let t = i * 40;
            g.scene(t, change);
            reads.extend(match change {
                Change::Nothing => g.expire(t),
                _ => g.observe(&frame(t), plate(i).as_slice()),
            });
        }
        reads
    }

    const ALL: Change = Change::Within([0, 0, 64, 32]);

    #[test]
    fn a_parked_car_whose_frames_are_skipped_is_not_read_again() {
        let mut g = grouper(config());
        let parked = |_| Some(cand("PK07CAR", 0.9, 10));
        let at = cand("PK07CAR", 0.9, 10).plate_box;
        // It parks: seen while it moves in, then two minutes of nothing
        // moving (every frame skipped); then something passes elsewhere in
        // the picture, then near it, and the detector sees it again.
        let mut reads = gated(&mut g, 0..5, ALL, parked);
        reads.extend(gated(&mut g, 5..3000, Change::Nothing, |_| None));
        reads.extend(gated(
            &mut g,
            3000..3005,
            Change::Within([45, 0, 19, 8]),
            |_| None,
        ));
        reads.extend(gated(&mut g, 3005..3010, Change::Within(at), parked));
        reads.extend(g.flush());
        assert_eq!(reads.len(), 1, "read when it parked, not when seen again");
        assert_eq!(g.suppressed(), 1);
    }

    #[test]
    fn the_same_registration_elsewhere_is_not_hidden_by_a_parked_car() {
        let mut g = grouper(config());
        let parked = |_| Some(cand("PK07CAR", 0.9, 10));
        let mut reads = gated(&mut g, 0..5, ALL, parked);
        reads.extend(gated(&mut g, 5..3000, Change::Nothing, |_| None));
        // Two minutes on, a vehicle with the same registration passes at
        // the other side of the picture (a cloned plate): a read.
        let elsewhere = |i: i64| {
            let mut c = cand("PK07CAR", 0.9, 10);
            c.plate_box = [40, 20, 20, 6];
            c.corners = crate::recognise::box_corners(c.plate_box);
            Some(c).filter(|_| i >= 0)
        };
        reads.extend(gated(
            &mut g,
            3000..3005,
            Change::Within([38, 18, 26, 10]),
            elsewhere,
        ));
        reads.extend(g.flush());
        assert_eq!(reads.len(), 2, "the clone is read");
    }

    #[test]
    fn a_clock_set_back_an_hour_does_not_hold_passes_open() {
        let mut g = grouper(config());
        // A pass, then the system clock is set back an hour mid-stream.
        let mut reads = pass(&mut g, 3_600_000, &[("AB12CDE", 0.9); 5]);
        reads.extend(pass(&mut g, 3_600_200, &[("AB12CDE", 0.9); 3]));
        for i in 0..5 {
            let t = 1_000 + i * 40;
            reads.extend(g.observe(&frame(t), &[cand("XY70ZZA", 0.9, 40)]));
        }
        // A second after the last frame, by the new clock, both have ended.
        reads.extend(g.expire(3_000));
        let texts: Vec<_> = reads.iter().map(|r| r.vrm.as_str()).collect();
        assert_eq!(texts, ["AB12CDE", "XY70ZZA"]);
        assert_eq!(g.open_tracks(), 0);
    }

    #[test]
    fn a_car_that_drove_off_is_read_again_when_it_comes_back() {
        let mut g = grouper(config());
        let driving = |i: i64| Some(cand("GO07CAR", 0.9, 10 + i as u32));
        let mut reads = gated(&mut g, 0..5, ALL, driving);
        // It leaves: the place it was last seen changes, and then the empty
        // road stays still for two minutes.
        reads.extend(gated(&mut g, 5..6, Change::Within([10, 5, 40, 20]), |_| {
            None
        }));
        reads.extend(gated(&mut g, 6..3000, Change::Nothing, |_| None));
        assert_eq!(reads.len(), 1);
        reads.extend(gated(&mut g, 3000..3005, ALL, |_| {
            Some(cand("GO07CAR", 0.9, 10))
        }));
        reads.extend(g.flush());
        assert_eq!(reads.len(), 2, "a new pass after the window");

        // suppress_s = 0 suppresses nothing, parked or not.
        let mut g = grouper(GroupConfig {
            suppress_s: 0,
            ..config()
        });
        let parked = |_| Some(cand("PK07CAR", 0.9, 10));
        let mut reads = gated(&mut g, 0..5, ALL, parked);
        reads.extend(gated(&mut g, 5..100, Change::Nothing, |_| None));
        reads.extend(gated(&mut g, 100..105, ALL, parked));
        reads.extend(g.flush());
        assert_eq!(reads.len(), 2);

        // Without motion gating nothing is kept in sight unseen.
        let mut g = grouper(config());
        let mut reads = pass(&mut g, 0, &[("PK07CAR", 0.9); 3]);
        for i in 3..3000 {
            g.scene(i * 40, Change::Unknown);
            reads.extend(g.expire(i * 40));
        }
        reads.extend(pass(&mut g, 3000 * 40, &[("PK07CAR", 0.9); 3]));
        reads.extend(g.flush());
        assert_eq!(reads.len(), 2);
    }

    #[test]
    fn capture_times_that_step_back_do_not_split_a_pass() {
        let mut g = grouper(config());
        // A moving plate, 4 px a frame; one frame stamped 1 ms before the
        // one it follows, then the source's clock steps back 2 s.
        let times = [0, 40, 80, 79, 160, 200, -1800, -1760, -1720];
        let mut reads = Vec::new();
        for (i, t) in times.into_iter().enumerate() {
            // Partial reads right after each step: only the box places them.
            let text = match i {
                4 | 7 => "CDE",
                _ if i % 2 == 0 => "AB12CDE",
                _ => "AB12CD",
            };
            let plate = cand(text, 0.9, 10 + 4 * i as u32);
            reads.extend(g.observe(&frame(t), &[plate]));
        }
        assert!(reads.is_empty(), "{} reads mid-pass", reads.len());
        reads.extend(g.expire(1000));
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].vrm, "AB12CDE");
        assert_eq!(reads[0].frames, 9, "one track");
        assert_eq!(g.open_tracks(), 0);
    }

    #[test]
    fn a_preview_goes_out_early_and_the_final_read_names_it() {
        let mut g = grouper(GroupConfig {
            preview_after_frames: 3,
            ..config()
        });
        let reads = pass(
            &mut g,
            0,
            &[
                ("AB12CDE", 0.9),
                ("AB12CDF", 0.5),
                ("AB12CDE", 0.9),
                ("AB12CDE", 0.9),
            ],
        );
        assert_eq!(reads.len(), 1, "a preview after the third agreeing frame");
        let preview = &reads[0];
        assert!(preview.preview && preview.supersedes.is_none());
        assert_eq!(preview.vrm, "AB12CDE");
        assert_eq!(preview.captured_at, 0, "the first most confident frame");
        let more = pass(&mut g, 160, &[("AB12CDE", 0.95); 4]);
        assert!(more.is_empty(), "one preview per track");
        let last = g.flush();
        assert_eq!(last.len(), 1);
        assert!(!last[0].preview);
        assert_eq!(last[0].supersedes, Some(preview.read_id));
        assert_eq!(last[0].frames, 8);
        assert_eq!(
            last[0].captured_at, 160,
            "the final read uses the best frame of the whole pass"
        );
    }

    #[test]
    fn a_track_that_lasts_too_long_is_closed() {
        let mut g = grouper(GroupConfig {
            suppress_s: 0,
            ..config()
        });
        let reads: Vec<Read> = (0..=150)
            .flat_map(|i| g.observe(&frame(i * 40), &[cand("AB12CDE", 0.9, 10)]))
            .collect();
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
