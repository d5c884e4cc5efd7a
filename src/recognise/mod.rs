//! Recognise: finds number plates in a frame and reads them.

pub mod classic;
pub mod cli;
pub mod eval;
pub mod gate;
pub mod image_file;
pub mod rules;

use crate::capture::Frame;

/// One plate found in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateCandidate {
    /// The plate's text, upper case, no spaces (the VRM).
    pub text: String,
    /// Overall confidence, 0–1.
    pub confidence: f32,
    /// One confidence per character of `text`, 0–1.
    pub char_confidence: Vec<f32>,
    /// Axis-aligned box in frame pixels: x, y, width, height.
    pub plate_box: [u32; 4],
    /// The plate's corners in frame pixels, clockwise from top left; for a
    /// tilted or skewed plate tighter than `plate_box`.
    pub corners: [[f32; 2]; 4],
    /// The registration format the text fits ([`rules`]); None when it fits
    /// no enabled format (or no rules were applied).
    pub format: Option<String>,
}

/// The corners of an axis-aligned box, clockwise from top left.
pub fn box_corners(b: [u32; 4]) -> [[f32; 2]; 4] {
    let [x, y, w, h] = b.map(|v| v as f32);
    [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
}

/// A plate recognition engine. One instance per recognition thread, so an
/// engine may keep scratch buffers without locking.
pub trait Recogniser: Send {
    /// Plates found in `frame`, most confident first.
    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate>;
}
