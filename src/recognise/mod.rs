//! Recognise: finds number plates in a frame and reads them.

pub mod classic;
pub mod gate;

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
}

/// A plate recognition engine. One instance per recognition thread, so an
/// engine may keep scratch buffers without locking.
pub trait Recogniser: Send {
    /// Plates found in `frame`, most confident first.
    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate>;
}
