//! Capture: turns a camera source into a stream of grayscale frames.
//!
//! Every source (GStreamer pipeline, V4L2 device) sits behind [`FrameSource`]. A
//! capture loop runs each camera on its own thread, stamps frames with the UTC
//! time they were captured, and pushes them into a [`FrameQueue`] that drops the
//! oldest frame rather than ever blocking the camera.

/// UTC time in milliseconds since the Unix epoch.
pub type UtcMillis = i64;

/// One captured picture, in the form recognition wants it: a tightly packed
/// 8-bit luma plane, plus the 4:2:0 chroma planes when the source had colour
/// (used only to encode a colour overview image).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Frame counter of this camera, from 0, counting frames dropped later too.
    pub seq: u64,
    /// When the frame was captured (not when it reached us).
    pub captured_at: UtcMillis,
    pub width: u32,
    pub height: u32,
    /// `width * height` bytes, row after row, no padding.
    pub luma: Vec<u8>,
    pub chroma: Option<Chroma>,
}

/// Half-resolution colour planes (4:2:0): each `((w+1)/2) * ((h+1)/2)` bytes.
#[derive(Clone, Debug)]
pub struct Chroma {
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}
