//! The neural plate reader: small ONNX networks run on the CPU by tract.
//!
//! 1. **Detector** (`detector.onnx`): the grey frame letterboxed into a
//!    640×384 input gives, per 4×4 cell, a plate-centre probability, a
//!    two-line probability and the plate's four corners. Local maxima above
//!    [`DETECT_THRESHOLD`] are plates; weaker ones overlapping a stronger
//!    plate are dropped, and at most [`MAX_PLATES`] are kept. A plate small
//!    in the frame is looked at again in a close-up (the same network on
//!    the frame around it, `ZOOM_W`×`ZOOM_H`) for finer corners; a weaker,
//!    larger peak over a plate found may hold the whole of a plate found in
//!    part (`PIECE_COVER`). Told where something moved
//!    ([`Recogniser::recognise_in`]), the detector looks at that part of the
//!    frame alone when it fits a smaller input (`REGION_INPUTS`).
//! 2. **Reader** (`reader.onnx`): each plate is warped from the
//!    full-resolution frame to a level 128×32 strip (a two-line plate as its
//!    two lines side by side), and all plates of a frame are read in one run
//!    (plates read doubtfully once more, from variations of their quads);
//!    greedy CTC decoding gives the text. A strip with light characters on
//!    a dark ground is also read inverted (`neural/polarity.rs`), and one
//!    that starts with a side band with the band painted over
//!    (`neural/band.rs`).
//! 3. **Refiner** (`refiner.onnx`, optional): a plate the reader is unsure
//!    of, and every two-line plate, is also read from the corners the
//!    refiner finds looking at that plate alone, pass after pass
//!    (`neural/refine.rs`).
//!
//! Of a plate's readings from its several quads, the surest is kept
//! (`neural/choose.rs`).
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

use super::rules::PlateRules;
use super::{PlateCandidate, Recogniser};
use crate::capture::Frame;

mod band;
mod choose;
mod decode;
mod deskew;
mod gap;
mod letterbox;
mod models;
mod polarity;
mod refine;
mod warp;

use choose::{
    Reading, adopt_surest, candidate, placed, rank_lower_lines, surest, surest_reading, unsure,
    weighed, without_nested,
};
use decode::Peak;
use letterbox::Letterbox;
pub use models::{
    DETECTOR_FILE, INSTALLED_MODELS, NeuralModels, READER_FILE, REFINER_FILE, default_models_dir,
};
use warp::Luma;

/// Plate-centre probability a detector peak needs to count as a plate.
pub const DETECT_THRESHOLD: f32 = 0.3;
/// Most plates read in one frame.
pub const MAX_PLATES: usize = 8;
pub use refine::PASSES as REFINE_PASSES;
/// A peak below [`DETECT_THRESHOLD`] but above this is a plate only if a
/// close-up of it (see [`ZOOM_W`]) finds one there above the threshold. In
/// real photographs plates often peak weakly in the whole-frame look while
/// a close-up, centred and at the size the detector knows best, sees them
/// plainly: small plates a few input pixels tall, and large ones beside
/// badges and lettering that peak higher. Every weak peak may get this
/// second look, whatever its size, at most [`MAX_SECOND_LOOKS`] per frame.
/// With the round-4 reader: OpenALPR US detected 85.6 → 89.2 %, BR 91.2 →
/// 93.0 %; at 0.05 with five looks one more US plate for 3.7 ms more per
/// generated picture.
const SECOND_LOOK: f32 = 0.1;
/// Most weak peaks given a second look in one frame, strongest first.
const MAX_SECOND_LOOKS: usize = 3;
/// The detector's two-line probabilities between these leave a plate's
/// layout in doubt: it is read both as one line and as two, and the reading
/// the reader is surer of kept.
const LAYOUT_DOUBT: (f32, f32) = (0.15, 0.85);
/// A plate the detector calls one line but whose quad is less than this many
/// times wider than tall is read both ways too, and one it calls two lines
/// but which is wider than [`LONG_ASPECT`]: UK one-line plates are 4.7:1
/// (520×111 mm), two-line ones 1.1–1.4:1, US plates 2:1, Brazil's 3.1:1.
const SQUARE_ASPECT: f32 = 2.5;
/// See [`SQUARE_ASPECT`].
const LONG_ASPECT: f32 = 3.0;
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
/// Each plate is read from its quad as found and, unless the reader is
/// [`SURE_ENOUGH`] of that reading, from these variations of it (growth of
/// its height, shift down by a share of its height), and the reading the
/// reader is surest of is kept: the detector's corners err most
/// up and down (21 % of the plate's height against 6 % of its width, mean
/// absolute, on generated pictures). Chosen on a generated validation set
/// (anprd-synth seed 515151, 600 pictures, not the test set): 79.0 % exact
/// from the quad alone, 80.8 % adding a taller one, 83.2 % with a taller one
/// shifted each way, 84.0 % with all four below, 83.7 % with five. With
/// close-ups (round-4 reader, validation set redrawn under the current plate
/// rules, no rules applied): 88.7 % from the first, 90.8 % from two, 91.3 %
/// from three, 91.2 % from all four.
const READ_VARIANTS: [(f32, f32); 4] = [(0.0, 0.0), (0.3, 0.0), (0.15, -0.1), (0.15, 0.1)];
/// A plate whose first reading (from its quad as found) the reader is at
/// least this sure of is not read again from the other [`READ_VARIANTS`]:
/// a reading that sure is rarely beaten, and most plates get one. On the
/// generated test set (2,000 pictures, UK rules) 91.7 → 91.9 % exact, 15.5
/// → 10.9 ms per picture (median, one core); OpenALPR US 108 → 111 plates
/// exact, BR 22 → 22. At 0.9: 92.0 %, US 110, BR 20; at 0.7: 91.7 %, US
/// 102, BR 19. Measured again with the refiner's passes (2026-12-07, stop
/// 45; test set as frames / validation set / US / BR / BR through its
/// formats, exact): 0.95 1,973 / 594 / 148 / 41 / 58; 0.97 1,975 / 594 /
/// 149 / 42 / 58; **0.98** 1,978 / 594 / 150 / 40 / 56; 0.99 – / – / 152 /
/// 39 / 54; 0.995 1,977 / 596 / – / – / –. At 0.98 the five plates gained
/// were small plates' last characters (`S61 RQQ` read `S61RQ9` at 0.93)
/// and none was lost. Brazil's photographs lost a 0 read as D and an O as
/// U, and gained one; through their formats also two last 1s read as I. The
/// European probe (5 × 200, scripts/eu-probe.py) read 938 at 0.95, 935 at
/// 0.97 and 934 at 0.98, most lost plates losing a doubtful character to a
/// surer, shorter reading (models/README.md, stop 45).
const SURE_ENOUGH: f32 = 0.98;
/// A one-line reading of at most this many characters, from a quad less than
/// [`LONG_ASPECT`] times wider than tall, may be the upper line of a
/// two-line plate whose lower line the detector left out (it boxes some
/// large, turned two-line plates around one line): the quad is read again
/// grown down to twice its height as two lines, and the surer reading kept.
/// The upper line of a UK two-line plate has 2–4 characters. On the
/// generated test set (2,000 pictures as frames) 1,961 → 1,964 exact; the
/// OpenALPR US and BR sets unchanged (models/README.md, stop 43).
const UPPER_LINE_CHARS: usize = 5;
/// Reads with fewer characters are dropped.
const MIN_CHARS: usize = 2;
/// The close-up's input: the detector run again on the frame around one
/// plate, scaled so the plate is [`ZOOM_PLATE`] input pixels wide (half the
/// close-up). Corners from the whole-frame look are coarse for small plates
/// (a 60 px plate is 20 px wide in the 640-wide input of a 1080p frame):
/// read from the true corners the reader got 96.0 % of a generated
/// validation set (anprd-synth seed 515151, 600 pictures, no plate rules),
/// from the whole-frame corners 86.5 %, with close-ups 90.7 % (plates under
/// 80 px: 72.6 → 82.1 %). Plate widths of 96–144 input pixels and gains of
/// 0.9–2.0 all scored within 0.5 % of that.
pub(crate) const ZOOM_W: usize = 256;
pub(crate) const ZOOM_H: usize = 128;
const ZOOM_PLATE: f64 = 128.0;
/// A close-up is taken when it sees the plate at least this many times
/// finer than the whole-frame look did: plates up to 192 px wide in 1080p,
/// 128 px in 720p. At 1.2 (up to 320 px in 1080p) nearly every plate of the
/// pipeline bench got one, for 0.5 % more exact reads on the validation set
/// (91.2 against 90.7 %) and 20 % more CPU. A plate the whole-frame look
/// saw this many times larger than the close-up would (over 256 input
/// pixels: wider than 512 px in 720p, 768 px in 1080p; only in close
/// photographs) also gets one: the detector learnt plates up to about 200
/// input pixels wide, and in pictures cut close around their plates
/// (generated test plates, 0–50 % margins) exact reads went from 65.9 to
/// 94.0 % (at 1.5 times: 94.2 %; at 3: 72.8 %), and to 94.2 % once such
/// plates also took the close-up's plate probability (see `refine`).
const ZOOM_GAIN: f64 = 2.0;

/// A close-up that finds a plate narrower than this share of the first
/// look's may have found a piece of it (one character of a short mark with
/// wide gaps such as `F 5`, a glint, a speck of a tiny plate): a close-up
/// around a first look that cut the plate short cannot see all of it. See
/// [`NeuralRecogniser::refine`].
const FRAGMENT: f32 = 0.7;

/// A weak peak covering at least this share of a plate found, and larger,
/// may be the whole plate that one is a piece of (see
/// [`NeuralRecogniser::wholes_of_pieces`]): generated test picture 1555, a
/// blurred 212×155 px two-line plate, `RLS 40A`, was found as a 78×51 px
/// piece (read `ML`) inside a weak peak that covered its upper half and
/// 55 % of the piece. At 0.1 and 0.3 the same plate gained and nothing lost
/// on the generated test set; at 0.6 it was not gained.
const PIECE_COVER: f32 = 0.3;

/// A still picture is also looked at whole through a close-up (the picture
/// at half the close-up's width, [`ZOOM_PLATE`] input pixels), for a plate
/// that fills it, and the plate found there is kept when it is at least
/// this share of the picture's width: close photographs and pictures cut
/// around a plate, where the whole-frame look sees the plate larger than
/// any it learnt (see [`NeuralRecogniser::whole_picture_look`]).
const FILLS: f32 = 0.25;

/// Detector inputs for a look at part of a frame, smallest first: from a
/// quarter to about two thirds of the whole-frame input's pixels. Where only
/// part of the frame moved ([`Recogniser::recognise_in`]), the detector looks
/// at that part alone, at the whole-frame look's scale, through the smallest
/// input it fits (see [`NeuralRecogniser::detect_in`]). A vehicle near the
/// camera moves over a region about as tall as it is wide, most of a 1080p
/// frame's height: the squarer sizes are for those (on the pipeline bench's
/// clips, seven looks in ten fitted neither of the first and third sizes).
/// Every size is a whole number of the detector's coarsest stride (32), and
/// none reaches a 720p or 1080p frame's height at the whole-frame scale.
pub(crate) const REGION_INPUTS: [(usize, usize); 5] =
    [(320, 192), (320, 320), (448, 256), (384, 320), (448, 352)];
/// Context kept around a region, in detector input pixels on each side: a
/// plate at the region's edge is still seen whole, with its surroundings.
const REGION_MARGIN: f64 = 16.0;

/// A still picture is also looked at in tiles, each letterboxed into the
/// whole detector input, at this many times the whole-frame look's scale
/// (at most one input pixel per picture pixel): in photographs many plates
/// are a few input pixels tall in the whole-frame look and give no peak at
/// all, not even a weak one for [`SECOND_LOOK`]. Only for stills
/// ([`Recogniser::recognise_still`]); a plate in video comes closer in a
/// later frame. OpenALPR photographs, detected by IoU: US 88.3 → 91.0 %,
/// BR 93.0 → 96.5 %; false reads kept at confidence ≥ 0.5 132 → 157 and
/// 62 → 77; about 150 ms per photograph instead of 50.
const TILE_GAIN: f64 = 2.0;
/// Tiles are looked at only when they see the picture at least this many
/// times finer than the whole-frame look (pictures over about 850 px wide).
const TILE_MIN_GAIN: f64 = 1.5;
/// Neighbouring tiles overlap by at least this share of a tile, so a plate
/// cut by one tile's edge lies whole in the next.
const TILE_OVERLAP: f64 = 0.25;

/// The detector's input (width, height) for a whole frame; its output maps
/// are a quarter of its input's size either way.
pub(crate) const DET_W: usize = 640;
pub(crate) const DET_H: usize = 384;
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
    /// The close-up: frame pixels around one plate, and the detector input
    /// made from them.
    crop: Vec<u8>,
    zoom_box: Letterbox,
    zoom_image: Arc<Tensor>,
    /// For looks at part of a frame: the part, and per size of
    /// [`REGION_INPUTS`] its detector input.
    region_crop: Vec<u8>,
    region_boxes: Vec<(Letterbox, Arc<Tensor>)>,
    close_ups: bool,
    /// Whether weak peaks get a close-up (see [`SECOND_LOOK`]).
    second_looks: bool,
    /// Scratch for measuring each plate's turn (see [`deskew`]) and where
    /// a two-line plate's lines part (see [`gap`]).
    skew_grid: Vec<f32>,
    /// Scratch for a strip's grey levels, to tell light-on-dark plates
    /// (`neural/polarity.rs`) and side bands (`neural/band.rs`).
    strip_scratch: Vec<f32>,
    /// Whether light-on-dark strips are also read inverted.
    invert: bool,
    /// Whether strips that start with a side band are also read with the
    /// band painted over (`neural/band.rs`).
    unband: bool,
    deskew: bool,
    /// Whether plates whose layout is in doubt are read both ways (see
    /// [`LAYOUT_DOUBT`]).
    layout_check: bool,
    /// Reader sureness above which a plate is not read again (see [`SURE_ENOUGH`]).
    sure_enough: f32,
    /// Whether a plate the reader is unsure of is also read from the
    /// refiner's corners (see [`refine`]), when the models have a refiner;
    /// its scratch input.
    refine: bool,
    refine_input: Vec<f32>,
    /// The site's plate formats, when it enables any: a plate's readings
    /// that fit one are preferred (see [`choose::weighed`]).
    formats: Option<PlateRules>,
    /// Said once per engine that a model failed to run.
    warned: bool,
}

/// Quads a plate is also read from, by the plate's index: the surest
/// reading of all of a plate's quads is kept.
type AlsoRead = Vec<(usize, Peak)>;

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
            crop: Vec::new(),
            zoom_box: Letterbox::default(),
            zoom_image: Arc::new(
                Tensor::zero::<f32>(&[1, 1, ZOOM_H, ZOOM_W]).expect("a plain f32 tensor"),
            ),
            region_crop: Vec::new(),
            region_boxes: REGION_INPUTS
                .iter()
                .map(|&(w, h)| {
                    let input = Tensor::zero::<f32>(&[1, 1, h, w]).expect("a plain f32 tensor");
                    (Letterbox::default(), Arc::new(input))
                })
                .collect(),
            close_ups: true,
            second_looks: true,
            skew_grid: Vec::new(),
            strip_scratch: Vec::new(),
            invert: true,
            unband: true,
            deskew: true,
            layout_check: true,
            sure_enough: SURE_ENOUGH,
            refine: true,
            refine_input: Vec::new(),
            formats: None,
            warned: false,
        }
    }

    /// Turns the close-ups of small plates off (on by default); for
    /// measuring what they bring.
    pub fn set_close_ups(&mut self, on: bool) {
        self.close_ups = on;
    }

    /// Turns the second look at weak peaks off (on by default; see
    /// `SECOND_LOOK`); for measuring what it brings.
    pub fn set_second_looks(&mut self, on: bool) {
        self.second_looks = on;
    }

    /// Turns deskewing off (on by default); for measuring what it brings.
    pub fn set_deskew(&mut self, on: bool) {
        self.deskew = on;
    }

    /// Turns reading doubtful layouts both ways off (on by default), and
    /// reading short lines as the upper line of a two-line plate; for
    /// measuring what they bring.
    pub fn set_layout_check(&mut self, on: bool) {
        self.layout_check = on;
    }

    /// Turns reading from the refiner's corners off (on by default, when
    /// the models have a refiner); for measuring what it brings.
    pub fn set_refine(&mut self, on: bool) {
        self.refine = on;
    }

    /// Turns reading light-on-dark plates again inverted off (on by
    /// default; `neural/polarity.rs`); for measuring what it brings.
    pub fn set_invert_light_on_dark(&mut self, on: bool) {
        self.invert = on;
    }

    /// Turns reading plates that start with a side band again with the band
    /// painted over off (on by default; `neural/band.rs`); for measuring
    /// what it brings.
    pub fn set_paint_over_bands(&mut self, on: bool) {
        self.unband = on;
    }

    /// Changes the sureness that spares a plate its further readings
    /// (default `SURE_ENOUGH`; above 1, every plate is read in every
    /// variation); for measuring what the saving costs.
    pub fn set_sure_enough(&mut self, sureness: f32) {
        self.sure_enough = sureness;
    }

    /// Changes the detector threshold (default [`DETECT_THRESHOLD`]); for
    /// tuning, and for tests that push weak detections through the reader.
    pub fn set_detect_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
    }

    /// Reads plates whose corners are known (frame pixels, clockwise from
    /// top left; true for a two-line plate), skipping the detector: for
    /// benches, tests and tools that have the quads already. Plates read
    /// this way have a detector probability of 1; a layout at odds with the
    /// quad's shape is still tried the other way too, and a quad that reads
    /// as a short line as the upper line of a two-line plate (see
    /// [`Self::set_layout_check`]).
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
        self.guarded(frame, |engine, img| {
            engine.read(img, &peaks, Vec::new(), &[(0.0, 0.0)], false)
        })
    }

    /// Where `passes` passes of the refiner (`neural/refine.rs`) put the
    /// corners of a plate found at `corners` (frame pixels, clockwise from top
    /// left), with its probability that the plate has two lines; `None` when
    /// the models have no refiner, the quad is not a proper one, or the
    /// refiner fails. For tests and tools; reading uses it by itself, with
    /// [`REFINE_PASSES`] passes.
    pub fn refine_corners(
        &mut self,
        frame: &Frame,
        corners: [[f32; 2]; 4],
        passes: usize,
    ) -> Option<([[f32; 2]; 4], f32)> {
        let (w, h) = super::luma_size(frame)?;
        let img = Luma {
            data: &frame.luma,
            w,
            h,
        };
        let plan = self.models.refiner.as_ref()?;
        let peak = Peak {
            score: 1.0,
            two_line: 0.0,
            corners,
        };
        let mut found =
            refine::refinements(plan, img, &peak, passes, &mut self.refine_input).ok()?;
        let last = found.pop()?;
        Some((last.corners, last.two_line))
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

    /// Reads `peaks` (corners in frame pixels), each from its quad as found
    /// and from its quads in `also` (see [`AlsoRead`]), and, when the reader
    /// is not sure of that reading, from the other variations of its quad in
    /// `variants` (see [`READ_VARIANTS`]), keeping the reading the reader is
    /// surest of; most confident plate first.
    /// With `refine`, a plate the reader is not sure of, and a two-line
    /// plate, is also read from the refiner's corners (see [`refine`]). With
    /// the layout check, a short reading from a squarish one-line quad is
    /// also read as the upper line of a two-line plate (see
    /// [`UPPER_LINE_CHARS`]). A plate found inside one read more surely is
    /// part of it, and dropped (see [`without_nested`]).
    fn read(
        &mut self,
        img: Luma,
        peaks: &[Peak],
        also: AlsoRead,
        variants: &[(f32, f32)],
        refine: bool,
    ) -> Result<Vec<PlateCandidate>> {
        let Some((first, others)) = variants.split_first() else {
            return Ok(Vec::new());
        };
        // A plate may also be read from other quads, the `k`th of them as
        // plate `n + k`: those in `also`, laid out the other way when its
        // layout is in doubt, and as a two-line plate split between its
        // lines where the pixels show the gap rather than at its quad's
        // middle (see [`gap`]). The quad read most surely is kept for the
        // rest.
        let n = peaks.len();
        let mut peaks = peaks.to_vec();
        let mut alternatives = also;
        for (i, peak) in peaks.iter().enumerate() {
            let relaid = (self.layout_check && layout_in_doubt(peak)).then(|| relaid_peak(peak));
            alternatives.extend(relaid.iter().map(|r| (i, r.clone())));
            for way in std::iter::once(peak).chain(&relaid) {
                if way.two_line > TWO_LINE
                    && let Some(centred) = gap::centred_on_gap(img, way, &mut self.skew_grid)
                    && centred != *way
                {
                    alternatives.push((i, centred));
                }
            }
        }
        let mut readings = self.read_batch(
            img,
            (0..n).map(|i| (i, varied(&peaks[i], *first))).chain(
                alternatives
                    .iter()
                    .enumerate()
                    .map(|(k, (_, peak))| (n + k, varied(peak, *first))),
            ),
        )?;
        adopt_surest(&mut readings, &mut peaks, &alternatives);
        // Some plates are read again, each from quads read as plate `n + k`
        // beside the variations of its own: the quads the refiner's passes
        // find (see [`to_refine`]), and the quad of a short reading grown down
        // to a two-line plate's (see [`UPPER_LINE_CHARS`]).
        let unsure = unsure(&readings, n, self.sure_enough);
        let vary = !others.is_empty();
        let mut again: Vec<(usize, Peak)> = Vec::new();
        if vary
            && refine
            && let Some(plan) = &self.models.refiner
        {
            for i in to_refine(&peaks, &unsure) {
                let found = refine::refinements(
                    plan,
                    img,
                    &peaks[i],
                    refine::PASSES,
                    &mut self.refine_input,
                )?;
                again.extend(found.into_iter().map(|r| (i, r)));
            }
        }
        // The short readings whose quads are grown, by `again`'s index.
        let mut short: Vec<(usize, String)> = Vec::new();
        if self.layout_check {
            for (i, peak) in peaks.iter().enumerate() {
                let Some((_, read)) = surest_reading(&readings, i) else {
                    continue;
                };
                let text = &read.text;
                if may_be_upper_line(peak, text.chars().count()) {
                    short.push((again.len(), text.clone()));
                    again.push((i, with_lower_line(peak)));
                }
            }
        }
        let peaks_now = &peaks;
        let variations = (unsure.iter().filter(|_| vary))
            .flat_map(|&i| others.iter().map(move |&v| (i, varied(&peaks_now[i], v))));
        let from_again = (again.iter().enumerate()).map(|(k, (_, q))| (n + k, varied(q, *first)));
        let quads: Vec<(usize, Peak)> = variations.chain(from_again).collect();
        if !quads.is_empty() {
            readings.extend(self.read_batch(img, quads.into_iter())?);
            for (k, upper) in &short {
                rank_lower_lines(&mut readings, n, &again, *k, upper, self.sure_enough);
            }
            adopt_surest(&mut readings, &mut peaks, &again);
        }
        let kept = surest(readings.into_iter(), peaks.len());
        let mut plates: Vec<PlateCandidate> = without_nested(kept, &peaks)
            .into_iter()
            .map(|(plate, cand)| placed(cand, &peaks[plate], img.w, img.h))
            .collect();
        plates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(plates)
    }

    /// Rectifies `quads` (owner, quad in frame pixels) and reads them in one
    /// batch: (owner, (sureness, candidate)) for each that reads as a plate.
    fn read_batch(
        &mut self,
        img: Luma,
        quads: impl Iterator<Item = (usize, Peak)>,
    ) -> Result<Vec<Reading>> {
        const STRIP: usize = READ_H * READ_W;
        let mut batch: Vec<(usize, Peak)> = Vec::new();
        for quad in quads {
            self.strips.resize((batch.len() + 1) * STRIP, 0.0);
            let strip = &mut self.strips[batch.len() * STRIP..(batch.len() + 1) * STRIP];
            let two_line = quad.1.two_line > TWO_LINE;
            if warp::rectify(img, &quad.1.corners, two_line, strip, READ_W, READ_H) {
                batch.push(quad);
            }
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if self.invert {
            polarity::add_inverted(&mut self.strips, STRIP, &mut batch, &mut self.strip_scratch);
        }
        if self.unband {
            band::add_unbanded(
                &mut self.strips,
                (READ_W, READ_H),
                &mut batch,
                &mut self.strip_scratch,
            );
        }
        let n = batch.len();
        let input = Tensor::from_shape(&[n, 1, READ_H, READ_W], &self.strips[..n * STRIP])?;
        let reader = if n == 1 {
            &self.models.reader_one
        } else {
            &self.models.reader
        };
        let out = reader.run(tvec![input.into()])?;
        let probs = out.first().context("the reader gave no output")?;
        let probs = probs.try_as_plain_ram()?.as_slice::<f32>()?;
        let per_plate = READ_COLUMNS * READ_CLASSES;
        if probs.len() != n * per_plate {
            bail!("the reader gave {} values for {n} plates", probs.len());
        }
        Ok(batch
            .iter()
            .zip(probs.chunks_exact(per_plate))
            .filter_map(|((owner, peak), probs)| {
                let reading = candidate(peak, probs, img.w, img.h)?;
                Some((*owner, weighed(reading, self.formats.as_ref())))
            })
            .collect())
    }

    /// Each of `peaks` (frame pixels, found at `scale` input pixels per frame
    /// pixel) with its corners found again in a close-up when that sees it
    /// [`ZOOM_GAIN`] times finer, or that many times coarser (a plate too
    /// large for the whole-frame look, in a close photograph); as it was when
    /// the close-up finds no plate there. A small plate keeps the first
    /// look's plate probability (close-ups of small things find plates
    /// readily); a large one the higher of the two, as the first look's is
    /// low for a plate larger than any it learnt.
    ///
    /// A close-up that finds a plate narrower than [`FRAGMENT`] of the first
    /// look's may have found a piece of it, so the plate is also read from
    /// the first look's quad and from what a close-up twice as wide and tall
    /// finds there, when that is not narrower: returned beside the peaks.
    fn refine(&mut self, img: Luma, peaks: Vec<Peak>, scale: f64) -> Result<(Vec<Peak>, AlsoRead)> {
        let mut out = Vec::with_capacity(peaks.len());
        let mut also = Vec::new();
        for peak in peaks {
            let Some(closer) = self.close_up(img, &peak, Some(scale))? else {
                out.push(peak);
                continue;
            };
            let large = f64::from(width(&peak)) * scale > ZOOM_PLATE;
            let score = if large {
                peak.score.max(closer.score)
            } else {
                peak.score
            };
            if width(&closer) < FRAGMENT * width(&peak) {
                let around = Peak {
                    corners: peak.widened(1.0, 1.0),
                    ..peak.clone()
                };
                if let Some(wider) = self.close_up(img, &around, None)?
                    && width(&wider) >= FRAGMENT * width(&peak)
                {
                    also.push((out.len(), Peak { score, ..wider }));
                }
                also.push((out.len(), Peak { score, ..peak }));
            }
            out.push(Peak { score, ..closer });
        }
        Ok((out, also))
    }

    /// Where a weak peak (see [`SECOND_LOOK`]) larger than one of `plates`
    /// covers at least [`PIECE_COVER`] of it, that plate may be a piece of
    /// a larger one, which the weak peak only half sees: the plate is also
    /// read from what a close-up of the weak peak grown to twice its width
    /// and height finds there, when that is wider than the plate.
    fn wholes_of_pieces(&mut self, img: Luma, plates: &[Peak], weak: &[Peak]) -> Result<AlsoRead> {
        let mut also = Vec::new();
        for peak in weak {
            let outer = peak.bounds();
            let covers = |plate: &Peak| {
                let inner = plate.bounds();
                decode::area(outer) > decode::area(inner)
                    && decode::share_inside(inner, outer) >= PIECE_COVER
            };
            let Some(i) = plates.iter().position(covers) else {
                continue;
            };
            let around = Peak {
                corners: peak.widened(1.0, 1.0),
                ..peak.clone()
            };
            if let Some(whole) = self.close_up(img, &around, None)?
                && width(&whole) > width(&plates[i])
            {
                let score = plates[i].score;
                also.push((i, Peak { score, ..whole }));
            }
        }
        Ok(also)
    }

    /// Adds to `plates` those of `candidates` (strongest first) that a
    /// close-up finds a plate at, with the close-up's corners and plate
    /// probability, unless they are a plate already there: weak peaks of the
    /// whole-frame look (see [`SECOND_LOOK`]) and what tiles found (see
    /// [`TILE_GAIN`]).
    fn confirm_by_close_up(
        &mut self,
        img: Luma,
        plates: &mut Vec<Peak>,
        candidates: impl IntoIterator<Item = Peak>,
    ) -> Result<()> {
        for peak in candidates {
            if let Some(found) = self.close_up(img, &peak, None)?
                && joins(plates, &found)
            {
                plates.push(found);
            }
        }
        Ok(())
    }

    /// The plate at `peak` as the detector sees it in a close-up (with the
    /// close-up's plate probability), if the close-up finds a plate whose
    /// centre lies in the first look's box. Given the first look's `scale`
    /// (input pixels per frame pixel), only a close-up that sees the plate
    /// [`ZOOM_GAIN`] times finer is worth taking; without it, any is.
    fn close_up(&mut self, img: Luma, peak: &Peak, scale: Option<f64>) -> Result<Option<Peak>> {
        let bounds = peak.bounds();
        let [x0, y0, x1, y1] = bounds;
        let Some((left, top, crop_w, crop_h)) = close_up_crop(bounds, img.w, scale) else {
            return Ok(None);
        };
        self.crop.resize(crop_w * crop_h, 0);
        let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
        for (y, out) in self.crop.chunks_exact_mut(crop_w).enumerate() {
            let sy = clamp(top + y as isize, img.h);
            let row = &img.data[sy * img.w..(sy + 1) * img.w];
            for (x, px) in out.iter_mut().enumerate() {
                *px = row[clamp(left + x as isize, img.w)];
            }
        }
        let crop = Luma {
            data: &self.crop,
            w: crop_w,
            h: crop_h,
        };
        let (found, _) = look(
            &self.models.zoom,
            &mut self.zoom_image,
            &mut self.zoom_box,
            crop,
            (ZOOM_W, ZOOM_H),
            self.threshold,
        )?;
        let to_frame = |c: [f32; 2]| [left as f32 + c[0], top as f32 + c[1]];
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let best = found
            .into_iter()
            .map(|p| {
                let corners = p.corners.map(to_frame);
                let mx = corners.iter().map(|c| c[0]).sum::<f32>() / 4.0;
                let my = corners.iter().map(|c| c[1]).sum::<f32>() / 4.0;
                let off = (mx - cx).powi(2) + (my - cy).powi(2);
                (off, mx, my, p.clone(), corners)
            })
            .filter(|&(_, mx, my, ..)| (x0..=x1).contains(&mx) && (y0..=y1).contains(&my))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        Ok(best.map(|(_, _, _, p, corners)| Peak { corners, ..p }))
    }

    /// Adds to `plates` a plate at least [`FILLS`] as wide as the picture, as
    /// a close-up of the whole picture finds it, unless it is a plate already
    /// there: the whole-frame look can miss a plate too large for it.
    fn whole_picture_look(&mut self, img: Luma, plates: &mut Vec<Peak>) -> Result<()> {
        let (w, h) = (img.w as f32, img.h as f32);
        let whole = Peak {
            score: 1.0,
            two_line: 0.0,
            corners: [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]],
        };
        if let Some(found) = self.close_up(img, &whole, None)?
            && {
                let [x0, _, x1, _] = found.bounds();
                x1 - x0 >= FILLS * w
            }
            && joins(plates, &found)
        {
            plates.push(found);
        }
        Ok(())
    }

    /// Adds to `plates` the plates the detector finds in tiles of the frame
    /// looked at [`TILE_GAIN`] times finer than the whole-frame look (which
    /// saw it at `scale` input pixels per frame pixel) and a close-up
    /// confirms, with the close-up's corners and plate probability, unless
    /// they are a plate already there; strongest first, up to [`MAX_PLATES`]
    /// in all.
    fn tile_look(&mut self, img: Luma, plates: &mut Vec<Peak>, scale: f64) -> Result<()> {
        let fine = (scale * TILE_GAIN).min(1.0);
        if fine < scale * TILE_MIN_GAIN {
            return Ok(());
        }
        let tile_w = ((DET_W as f64 / fine).floor() as usize).min(img.w);
        let tile_h = ((DET_H as f64 / fine).floor() as usize).min(img.h);
        let mut found: Vec<Peak> = Vec::new();
        for top in tile_starts(img.h, tile_h) {
            for left in tile_starts(img.w, tile_w) {
                let tile = Part {
                    left,
                    top,
                    w: tile_w,
                    h: tile_h,
                };
                let (peaks, _) = look(
                    &self.models.detector,
                    &mut self.image,
                    &mut self.letterbox,
                    tile.copy(img, &mut self.region_crop),
                    (DET_W, DET_H),
                    self.threshold,
                )?;
                // A plate the tile's edge cuts lies whole in a neighbour.
                let edge = 2.0 / fine as f32;
                found.extend(
                    peaks
                        .into_iter()
                        .filter(|p| !tile.cuts(img, &p.corners, edge))
                        .map(|p| tile.in_frame(p)),
                );
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut new: Vec<Peak> = Vec::new();
        for peak in found {
            let seen = plates
                .iter()
                .chain(&new)
                .any(|p| decode::iou(p.bounds(), peak.bounds()) > SAME_PLATE_IOU);
            if !seen && plates.len() + new.len() < MAX_PLATES {
                new.push(peak);
            }
        }
        // Only what a close-up also takes for a plate counts: tiles see
        // more lettering, badges and grilles than the whole-frame look does,
        // and the close-up sees each at the size the detector knows best.
        self.confirm_by_close_up(img, plates, new)
    }

    /// Peaks found by the detector above `threshold`, corners in frame
    /// pixels, and the detector input pixels per frame pixel.
    fn detect(&mut self, img: Luma, threshold: f32) -> Result<(Vec<Peak>, f64)> {
        look(
            &self.models.detector,
            &mut self.image,
            &mut self.letterbox,
            img,
            (DET_W, DET_H),
            threshold,
        )
    }

    /// As [`detect`](Self::detect), but looking only at `region` ([x, y, w,
    /// h] frame pixels) and [`REGION_MARGIN`] around it, through the smallest
    /// of [`REGION_INPUTS`] that holds them at the whole-frame look's scale.
    /// The detector sees the same pixels at the same scale either way (the
    /// part starts on a whole step of the downscale); only what lies outside
    /// the part goes unseen. Looks at the whole frame when no input is small
    /// enough to be worth it.
    fn detect_in(
        &mut self,
        img: Luma,
        threshold: f32,
        region: [u32; 4],
    ) -> Result<(Vec<Peak>, f64)> {
        let scale = letterbox::placement(img.w, img.h, DET_W, DET_H).scale;
        let margin = REGION_MARGIN / scale;
        let [x, y, w, h] = region.map(f64::from);
        let (x0, y0) = ((x - margin).max(0.0), (y - margin).max(0.0));
        let (x1, y1) = (
            (x + w + margin).min(img.w as f64),
            (y + h + margin).min(img.h as f64),
        );
        // Frame pixels per input pixel when that is whole (3 for 1080p, 2
        // for 720p): parts start on it, so they downscale as the frame does.
        let step = (1.0 / scale).round();
        let step = if (step - 1.0 / scale).abs() < 1e-6 {
            step as usize
        } else {
            1
        };
        let fits = REGION_INPUTS.iter().position(|&(in_w, in_h)| {
            let (part_w, part_h) = (in_w as f64 / scale, in_h as f64 / scale);
            // Room to move the part onto a whole step either way.
            let slack = 2.0 * step as f64;
            part_w < img.w as f64
                && part_h < img.h as f64
                && x1 - x0 + slack <= part_w
                && y1 - y0 + slack <= part_h
        });
        let Some((i, plan)) = fits.and_then(|i| Some((i, self.models.region(i)?.clone()))) else {
            return self.detect(img, threshold);
        };
        let (in_w, in_h) = REGION_INPUTS[i];
        let part_w = ((in_w as f64 / scale).floor() as usize).min(img.w);
        let part_h = ((in_h as f64 / scale).floor() as usize).min(img.h);
        // The part centred on the region, inside the frame.
        let place = |lo: f64, hi: f64, part: usize, size: usize| {
            let centred = ((lo + hi) / 2.0 - part as f64 / 2.0).max(0.0) as usize;
            let at = centred.min(size - part);
            at - at % step
        };
        let left = place(x0, x1, part_w, img.w);
        let top = place(y0, y1, part_h, img.h);
        let part = Part {
            left,
            top,
            w: part_w,
            h: part_h,
        };
        let (letterbox, input) = &mut self.region_boxes[i];
        let (peaks, part_scale) = look(
            &plan,
            input,
            letterbox,
            part.copy(img, &mut self.region_crop),
            (in_w, in_h),
            threshold,
        )?;
        // A plate the part's edge cuts (where that is not the frame's edge)
        // would be read in part: then the whole frame is looked at after all.
        if peaks
            .iter()
            .any(|p| part.cuts(img, &p.corners, 1.0 / scale as f32))
        {
            return self.detect(img, threshold);
        }
        let peaks = peaks.into_iter().map(|p| part.in_frame(p)).collect();
        Ok((peaks, part_scale))
    }
}

/// One look by the detector `plan`: `img` letterboxed into `input` (`in_w`
/// × `in_h`, reused from run to run) and run. Returns the plates found above
/// `threshold`, grown by [`WIDEN`], corners in `img` pixels, and the input
/// pixels per `img` pixel.
fn look(
    plan: &models::Plan,
    input: &mut Arc<Tensor>,
    letterbox: &mut Letterbox,
    img: Luma,
    (in_w, in_h): (usize, usize),
    threshold: f32,
) -> Result<(Vec<Peak>, f64)> {
    let tensor = match Arc::get_mut(input) {
        Some(t) => t,
        None => {
            // Still held by a run that failed half way: start afresh.
            *input = Arc::new(Tensor::zero::<f32>(&[1, 1, in_h, in_w])?);
            Arc::get_mut(input).context("a fresh tensor is unshared")?
        }
    };
    let mut view = tensor.try_as_plain_ram_mut()?;
    let place = letterbox.run(
        img.data,
        img.w,
        img.h,
        view.as_slice_mut::<f32>()?,
        in_w,
        in_h,
    );
    let out = plan.run(tvec![input.clone().into_tvalue()])?;
    let maps = out.first().context("the detector gave no output")?;
    let maps = maps.try_as_plain_ram()?.as_slice::<f32>()?;
    let cells = |n: usize| n.div_ceil(decode::STRIDE as usize);
    let mut peaks = decode::peaks(
        maps,
        cells(in_w),
        cells(in_h),
        cells(place.width),
        cells(place.height),
        threshold,
        SAME_PLATE_IOU,
        MAX_PLATES,
    );
    let s = place.scale as f32;
    for p in &mut peaks {
        p.corners = p.widened(WIDEN, WIDEN).map(|[x, y]| [x / s, y / s]);
    }
    Ok((peaks, place.scale))
}

/// A rectangle of a frame looked at on its own (frame pixels).
#[derive(Clone, Copy)]
struct Part {
    left: usize,
    top: usize,
    w: usize,
    h: usize,
}

impl Part {
    /// The part's pixels, copied out of `img` into `out`.
    fn copy<'a>(&self, img: Luma, out: &'a mut Vec<u8>) -> Luma<'a> {
        out.clear();
        for row in img.data[self.top * img.w..]
            .chunks_exact(img.w)
            .take(self.h)
        {
            out.extend_from_slice(&row[self.left..self.left + self.w]);
        }
        Luma {
            data: out,
            w: self.w,
            h: self.h,
        }
    }

    /// Whether any of `corners` (part pixels) lies within `edge` of an edge
    /// of the part that is not also an edge of the frame `img`: a plate
    /// there may be cut.
    fn cuts(&self, img: Luma, corners: &[[f32; 2]; 4], edge: f32) -> bool {
        corners.iter().any(|&[cx, cy]| {
            (self.left > 0 && cx < edge)
                || (self.top > 0 && cy < edge)
                || (self.left + self.w < img.w && cx > self.w as f32 - edge)
                || (self.top + self.h < img.h && cy > self.h as f32 - edge)
        })
    }

    /// `peak` with its corners moved from part to frame pixels.
    fn in_frame(&self, mut peak: Peak) -> Peak {
        let (dx, dy) = (self.left as f32, self.top as f32);
        peak.corners = peak.corners.map(|[x, y]| [x + dx, y + dy]);
        peak
    }
}

/// Where tiles `tile` long start along a side `size` long: evenly spread,
/// the first at 0 and the last at the far end, overlapping by at least
/// [`TILE_OVERLAP`] of a tile.
fn tile_starts(size: usize, tile: usize) -> Vec<usize> {
    if tile >= size || tile == 0 {
        return vec![0];
    }
    let stride = (tile as f64 * (1.0 - TILE_OVERLAP)).max(1.0);
    let gaps = ((size - tile) as f64 / stride).ceil() as usize;
    (0..=gaps)
        .map(|i| ((size - tile) as f64 * i as f64 / gaps as f64).round() as usize)
        .collect()
}

/// Whether `found` may join `plates`: there is room for it, and it is not
/// one of them seen again.
fn joins(plates: &[Peak], found: &Peak) -> bool {
    plates.len() < MAX_PLATES
        && plates
            .iter()
            .all(|p| decode::iou(p.bounds(), found.bounds()) <= SAME_PLATE_IOU)
}

/// Where a close-up of the plate in `bounds` ([x0, y0, x1, y1], frame
/// pixels) is cut from a frame `frame_w` wide: (left, top, width, height),
/// centred on the plate (beyond the frame's edge the edge pixels repeat).
/// None when the close-up would see the plate neither [`ZOOM_GAIN`] times
/// finer nor that many times coarser than the first look did at `scale`
/// (input pixels per frame pixel), or when the quad is far wider than the
/// frame (a plate cut by the frame's edges is a little wider): no plate, and
/// a crop that size is gigabytes.
fn close_up_crop(
    [x0, y0, x1, y1]: [f32; 4],
    frame_w: usize,
    scale: Option<f64>,
) -> Option<(isize, isize, usize, usize)> {
    let plate_w = x1 - x0;
    if !plate_w.is_finite() || plate_w > 1.5 * frame_w as f32 {
        return None;
    }
    let crop_w = (f64::from(x1 - x0) * ZOOM_W as f64 / ZOOM_PLATE).round() as usize;
    let crop_h = crop_w * ZOOM_H / ZOOM_W;
    // How many times finer than the first look the close-up sees the plate.
    let finer = |s: f64| ZOOM_W as f64 / crop_w as f64 / s;
    if crop_h < 2 || scale.is_some_and(|s| (1.0 / ZOOM_GAIN..ZOOM_GAIN).contains(&finer(s))) {
        return None;
    }
    let left = ((x0 + x1) / 2.0).round() as isize - (crop_w / 2) as isize;
    let top = ((y0 + y1) / 2.0).round() as isize - (crop_h / 2) as isize;
    Some((left, top, crop_w, crop_h))
}

/// The width of `peak`'s box, frame pixels.
fn width(peak: &Peak) -> f32 {
    let [x0, _, x1, _] = peak.bounds();
    x1 - x0
}

/// Whether `peak`'s layout (one line or two) is in doubt: see
/// [`LAYOUT_DOUBT`] and [`SQUARE_ASPECT`].
fn layout_in_doubt(peak: &Peak) -> bool {
    let (low, high) = LAYOUT_DOUBT;
    let aspect = peak.aspect();
    (low..=high).contains(&peak.two_line)
        || (peak.two_line <= TWO_LINE && aspect < SQUARE_ASPECT)
        || (peak.two_line > TWO_LINE && aspect > LONG_ASPECT)
}

/// `peak` laid out the other way: two lines if it was one, one if two.
fn relaid_peak(peak: &Peak) -> Peak {
    let mut p = peak.clone();
    p.two_line = if p.two_line > TWO_LINE { 0.0 } else { 1.0 };
    p
}

/// `peak` with its quad grown and shifted as a [`READ_VARIANTS`] entry says.
fn varied(peak: &Peak, (grow, shift): (f32, f32)) -> Peak {
    let mut v = peak.clone();
    v.corners = v.widened(0.0, grow);
    v.corners = v.shifted(shift);
    v
}

/// Whether a reading of `chars` characters from `peak` may be the upper line
/// of a two-line plate whose lower line the detector left out: see
/// [`UPPER_LINE_CHARS`].
fn may_be_upper_line(peak: &Peak, chars: usize) -> bool {
    peak.two_line <= TWO_LINE && peak.aspect() < LONG_ASPECT && chars <= UPPER_LINE_CHARS
}

/// `peak` as the upper line of a two-line plate: its quad grown down to twice
/// its height, laid out as two lines.
fn with_lower_line(peak: &Peak) -> Peak {
    let mut two = peak.clone();
    two.two_line = 1.0;
    // Twice as tall about its middle, then down by half its first height.
    varied(&two, (1.0, 0.25))
}

/// The plates of `peaks` whose corners the refiner looks for again: those
/// in `unsure` (read without enough sureness), and every two-line plate,
/// sure or not. A two-line plate's corners are the detector's worst, and a
/// sure reading of a line and a half is not rare (`MK35 PAM` read
/// `K35PAM` in the generated test set).
fn to_refine(peaks: &[Peak], unsure: &[usize]) -> Vec<usize> {
    (0..peaks.len())
        .filter(|i| unsure.contains(i) || peaks[*i].two_line > TWO_LINE)
        .collect()
}

impl NeuralRecogniser {
    /// Finds and reads the plates of `frame`, in `region` alone when given;
    /// also in tiles when it is a `still` picture (see [`TILE_GAIN`]).
    fn find_and_read(
        &mut self,
        frame: &Frame,
        region: Option<[u32; 4]>,
        still: bool,
    ) -> Vec<PlateCandidate> {
        self.guarded(frame, |engine, img| {
            let floor = if engine.close_ups && engine.second_looks {
                SECOND_LOOK.min(engine.threshold)
            } else {
                engine.threshold
            };
            let (peaks, scale) = match region {
                Some(region) => engine.detect_in(img, floor, region)?,
                None => engine.detect(img, floor)?,
            };
            let (strong, weak): (Vec<Peak>, Vec<Peak>) =
                peaks.into_iter().partition(|p| p.score > engine.threshold);
            let (mut peaks, mut also) = if engine.close_ups {
                let (mut peaks, mut also) = engine.refine(img, strong, scale)?;
                let weak: Vec<Peak> = weak.into_iter().take(MAX_SECOND_LOOKS).collect();
                also.extend(engine.wholes_of_pieces(img, &peaks, &weak)?);
                engine.confirm_by_close_up(img, &mut peaks, weak)?;
                (peaks, also)
            } else {
                (strong, Vec::new())
            };
            if still {
                engine.tile_look(img, &mut peaks, scale)?;
                engine.whole_picture_look(img, &mut peaks)?;
            }
            if peaks.is_empty() {
                return Ok(Vec::new());
            }
            if engine.deskew {
                for peak in peaks.iter_mut().chain(also.iter_mut().map(|(_, p)| p)) {
                    peak.corners = deskew::deskewed(img, &peak.corners, &mut engine.skew_grid);
                }
            }
            engine.read(img, &peaks, also, &READ_VARIANTS, engine.refine)
        })
    }
}

impl Recogniser for NeuralRecogniser {
    fn prefer_formats(&mut self, rules: &PlateRules) {
        self.formats = Some(rules.clone());
    }

    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        self.find_and_read(frame, None, false)
    }

    fn recognise_in(&mut self, frame: &Frame, region: [u32; 4]) -> Vec<PlateCandidate> {
        self.find_and_read(frame, Some(region), false)
    }

    fn recognise_still(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        self.find_and_read(frame, None, true)
    }
}

#[cfg(test)]
mod tests {
    use super::choose::frame_box;
    use super::*;

    pub(super) fn peak(score: f32, corners: [[f32; 2]; 4]) -> Peak {
        Peak {
            score,
            two_line: 0.0,
            corners,
        }
    }

    #[test]
    fn a_layout_is_in_doubt_when_unsure_or_at_odds_with_the_shape() {
        // 4.7:1 like a UK one-line plate, 1.3:1 like a square one, turned.
        let long = [[0.0, 0.0], [470.0, 20.0], [470.0, 120.0], [0.0, 100.0]];
        let square = [[0.0, 0.0], [130.0, -10.0], [130.0, 90.0], [0.0, 100.0]];
        let laid = |corners, two_line| Peak {
            two_line,
            ..peak(0.9, corners)
        };
        assert!((laid(long, 0.0).aspect() - 4.7).abs() < 0.05);
        assert!((laid(square, 0.0).aspect() - 1.3).abs() < 0.05);
        assert!(!layout_in_doubt(&laid(long, 0.02)));
        assert!(!layout_in_doubt(&laid(square, 0.98)));
        for two_line in [0.15, 0.5, 0.85] {
            assert!(layout_in_doubt(&laid(long, two_line)), "{two_line}");
        }
        assert!(layout_in_doubt(&laid(square, 0.02)));
        assert!(layout_in_doubt(&laid(long, 0.98)));
        assert_eq!(relaid_peak(&laid(square, 0.02)).two_line, 1.0);
        assert_eq!(relaid_peak(&laid(long, 0.98)).two_line, 0.0);
        assert_eq!(relaid_peak(&laid(long, 0.98)).corners, long);
    }

    #[test]
    fn unsure_plates_and_every_two_line_plate_are_refined() {
        let one = peak(0.9, [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]]);
        let two = Peak {
            two_line: 0.9,
            ..peak(0.9, [[0.0, 0.0], [60.0, 0.0], [60.0, 40.0], [0.0, 40.0]])
        };
        let peaks = [one.clone(), two, one];
        assert_eq!(to_refine(&peaks, &[]), [1], "a sure two-line plate");
        assert_eq!(to_refine(&peaks, &[2]), [1, 2]);
        assert_eq!(to_refine(&peaks[..1], &[]), [] as [usize; 0]);
    }

    #[test]
    fn a_short_line_from_a_squarish_quad_may_be_a_two_line_plates_upper_line() {
        // The upper line of a turned two-line plate, 2.4:1 (GX27 of GX27 GXU
        // on the generated test set), and a 4.7:1 one-line plate.
        let line = [[10.0, 20.0], [130.0, 30.0], [130.0, 80.0], [10.0, 70.0]];
        let long = [[0.0, 0.0], [470.0, 20.0], [470.0, 120.0], [0.0, 100.0]];
        let one = |corners| peak(0.9, corners);
        assert!(may_be_upper_line(&one(line), 4));
        assert!(may_be_upper_line(&one(line), UPPER_LINE_CHARS));
        assert!(!may_be_upper_line(&one(line), UPPER_LINE_CHARS + 1));
        assert!(!may_be_upper_line(&one(long), 4), "a long quad");
        let two = Peak {
            two_line: 0.9,
            ..one(line)
        };
        assert!(!may_be_upper_line(&two, 4), "laid out as two lines already");
        // Grown down along its own sides to twice its height: the top edge
        // stays, the bottom moves down by one height, and it reads as two.
        let grown = with_lower_line(&one(line));
        assert_eq!(grown.two_line, 1.0);
        let expected = [[10.0, 20.0], [130.0, 30.0], [130.0, 130.0], [10.0, 120.0]];
        for (got, want) in grown.corners.iter().zip(expected) {
            assert!(
                (got[0] - want[0]).abs() < 1e-3 && (got[1] - want[1]).abs() < 1e-3,
                "{:?}",
                grown.corners
            );
        }
        assert_eq!(grown.score, 0.9);
    }

    #[test]
    fn a_close_up_is_cut_around_the_plate_and_never_for_a_quad_far_wider_than_the_frame() {
        // A 100 px plate: a crop twice its width, centred on it.
        let (left, top, w, h) = close_up_crop([500.0, 300.0, 600.0, 330.0], 1920, None).unwrap();
        assert_eq!((w, h), (200, 100));
        assert_eq!((left, top), (450, 265));
        // Already seen finely enough by a look at full scale, and at 0.6
        // input pixels per frame pixel (the close-up sees it at 1.28).
        assert!(close_up_crop([500.0, 300.0, 600.0, 330.0], 1920, Some(1.0)).is_none());
        assert!(close_up_crop([500.0, 300.0, 600.0, 330.0], 1920, Some(0.6)).is_some());
        // Seen too large by the first look (600 input pixels): a close-up,
        // reaching past the frame's edges, sees it at the size it knows.
        let big = [0.0, 100.0, 600.0, 230.0];
        assert!(close_up_crop(big, 640, Some(0.4)).is_none(), "240 input px");
        let (left, _, w, _) = close_up_crop(big, 640, Some(1.0)).unwrap();
        assert_eq!((left, w), (-300, 1200));
        // A weak peak with corners 12,800 px out: no 150,000-px-wide crop.
        assert!(close_up_crop([-38_000.0, -9_000.0, 39_000.0, 10_000.0], 1920, None).is_none());
        assert!(close_up_crop([f32::NAN, 0.0, 10.0, 10.0], 1920, None).is_none());
    }

    #[test]
    fn part_inputs_are_whole_strides_smallest_first_and_shorter_than_a_frame() {
        let area = |&(w, h): &(usize, usize)| w * h;
        assert!(REGION_INPUTS.windows(2).all(|p| area(&p[0]) < area(&p[1])));
        for (w, h) in REGION_INPUTS {
            assert!(w % 32 == 0 && h % 32 == 0, "{w}×{h}");
            assert!(
                w * h < DET_W * DET_H,
                "{w}×{h}: no smaller than a whole look"
            );
            // Parts are at the whole-frame scale, where a 1080p frame (a
            // third) and a 720p one (half) are both 360 pixels tall.
            assert!(h < 360, "{w}×{h}: as tall as a frame");
        }
    }

    #[test]
    fn tiles_cover_the_side_and_overlap_by_a_quarter() {
        assert_eq!(tile_starts(640, 640), vec![0]);
        assert_eq!(tile_starts(500, 640), vec![0]);
        assert_eq!(tile_starts(1280, 640), vec![0, 320, 640]);
        for (size, tile) in [(1920, 960), (1080, 576), (1000, 333), (4000, 7)] {
            let starts = tile_starts(size, tile);
            assert_eq!(starts[0], 0);
            assert_eq!(*starts.last().unwrap() + tile, size, "{size}/{tile}");
            for pair in starts.windows(2) {
                let overlap = pair[0] + tile - pair[1];
                assert!(
                    overlap as f64 >= tile as f64 * TILE_OVERLAP - 1.0,
                    "{size}/{tile}"
                );
                assert!(pair[1] > pair[0]);
            }
        }
    }

    #[test]
    fn a_read_has_the_box_and_corners_of_its_plate_not_of_the_window_it_was_read_from() {
        use crate::plate::scene::{PlatePlacement, Scene, Vehicle, draw_vehicle, random_body};
        use crate::plate::{PlateStyle, SplitMix64};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut engine = NeuralRecogniser::new(NeuralModels::load(&dir).unwrap());
        let mut rng = SplitMix64::new(5);
        let vehicle = Vehicle::still("AB12CDE", PlateStyle::REAR, random_body(&mut rng));
        let place = PlatePlacement::centred(640.0, 470.0, 240.0);
        let mut img = Scene::new(1280, 720, 5).background().clone();
        draw_vehicle(&mut img, &vehicle, &place).unwrap();
        let frame = img.to_frame(5, 0);
        let (x0, y0) = (place.x, place.y);
        let (x1, y1) = (x0 + place.width, y0 + place.height);
        let plate = peak(0.9, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
        let luma = Luma {
            data: &frame.luma,
            w: 1280,
            h: 720,
        };
        // Read only from a window 30 % taller than the plate.
        let reads = engine
            .read(
                luma,
                std::slice::from_ref(&plate),
                Vec::new(),
                &[(0.3, 0.0)],
                false,
            )
            .unwrap();
        assert_eq!(reads.len(), 1, "{reads:?}");
        assert_eq!(reads[0].text, "AB12CDE");
        assert_eq!(reads[0].corners, plate.corners);
        assert_eq!(Some(reads[0].plate_box), frame_box(&plate, 1280, 720));
        let tall = frame_box(&varied(&plate, (0.3, 0.0)), 1280, 720).unwrap();
        assert!(
            reads[0].plate_box[3] < tall[3],
            "{:?} {tall:?}",
            reads[0].plate_box
        );
    }
}
