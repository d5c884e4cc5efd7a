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
/// (used only to encode a colour overview image). The planes may be the
/// decoder's own buffer, lent until the frame is dropped (see [`Plane`]).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Frame counter of this camera, from 0, counting frames dropped later too.
    pub seq: u64,
    /// When the frame was captured (not when it reached us).
    pub captured_at: UtcMillis,
    pub width: u32,
    pub height: u32,
    /// `width * height` bytes, row after row, no padding.
    pub luma: Plane,
    pub chroma: Option<Chroma>,
}

/// Half-resolution colour planes (4:2:0): each `((w+1)/2) * ((h+1)/2)` bytes.
#[derive(Clone, Debug)]
pub struct Chroma {
    pub u: Plane,
    pub v: Plane,
}

/// Public for the fuzz targets (fuzz/); not part of the capture API.
#[doc(hidden)]
pub mod convert;
mod gst;
mod plane;
mod queue;
mod source;
mod v4l2;

pub use plane::Plane;
pub use queue::{Doorbell, FrameQueue, Pop};
pub use source::Source;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::CameraConfig;
use crate::health::{CameraStats, bump};
use crate::logging::message_id;

/// What a source produced when asked for its next frame.
pub enum Next {
    Frame(Frame),
    /// Nothing yet; ask again (lets the loop notice shutdown).
    Timeout,
    /// The stream ended (end of file, or a live stream that stopped).
    End,
}

/// A camera's frames, one at a time. Implementations block for at most the
/// given timeout.
pub trait FrameSource: Send {
    fn next_frame(&mut self, timeout: Duration) -> Result<Next, CaptureError>;
    /// A live source (camera, network stream) is reopened when it ends; a
    /// finite one (a file, a non-live pipeline) ends its camera.
    fn is_live(&self) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open: {0}")]
    Open(String),
    #[error("stream lost: {0}")]
    Lost(String),
    #[error("bad frame: {0}")]
    Frame(String),
}

/// Opens the source a camera is configured with.
pub fn open(source: &Source) -> Result<Box<dyn FrameSource>, CaptureError> {
    match source {
        Source::V4l2(device) => Ok(Box::new(v4l2::V4l2Source::open(device)?)),
        other => Ok(Box::new(gst::GstSource::open(other)?)),
    }
}

/// How long one wait for a frame may block, so shutdown is noticed quickly.
const POLL: Duration = Duration::from_millis(100);
/// A live source that delivers nothing for this long is treated as lost.
const STALL: Duration = Duration::from_secs(10);
/// Reopen backoff: first wait, and the cap it doubles up to.
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A source that has streamed this long has recovered: backoff starts over.
const HEALTHY: Duration = Duration::from_secs(30);

/// Starts the capture loop of one camera on its own thread.
pub fn spawn(
    camera: &CameraConfig,
    queue: Arc<FrameQueue>,
    stats: Arc<CameraStats>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let id = camera.id.clone();
    let source = Source::parse(&camera.source);
    std::thread::Builder::new()
        .name(format!("capture-{id}"))
        .spawn(move || {
            match source {
                Ok(source) => {
                    let camera = CameraLoop {
                        id: id.clone(),
                        source,
                        queue: queue.clone(),
                        stats: stats.clone(),
                        shutdown,
                    };
                    // The queue must close whatever happens: recognition
                    // (and shutdown) waits for it.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| camera.run()))
                        .is_err()
                    {
                        stats.failed.store(true, Ordering::Relaxed);
                        stats.ended.store(true, Ordering::Relaxed);
                        log::error!(
                            MESSAGE_ID = message_id::CAMERA_LOST, CAMERA_ID = id.as_str();
                            "camera {id}: capture failed and stopped"
                        );
                    }
                }
                // Validated with the config; kept as a clean stop, not a panic.
                Err(why) => log::error!("camera {id}: source unusable: {why}"),
            }
            queue.close();
        })
}

struct CameraLoop {
    id: String,
    source: Source,
    queue: Arc<FrameQueue>,
    stats: Arc<CameraStats>,
    shutdown: Arc<AtomicBool>,
}

/// How one opened stream ended.
enum Ended {
    Shutdown,
    Eof,
    Failed(String),
}

impl CameraLoop {
    fn run(self) {
        let mut backoff = BACKOFF_START;
        let mut failures = 0u64;
        while !self.stopping() {
            let opened = Instant::now();
            let (ended, live) = match open(&self.source) {
                Ok(mut stream) => (self.stream(stream.as_mut(), failures), stream.is_live()),
                Err(e) => (Ended::Failed(e.to_string()), true),
            };
            let was_streaming = self.stats.streaming.swap(false, Ordering::Relaxed);
            if was_streaming {
                failures = 0; // a new outage: its first failure is told
            }
            match ended {
                Ended::Shutdown => break,
                Ended::Eof if !live => {
                    log::info!("camera {}: end of stream", self.id);
                    break;
                }
                // A file played again from its start would read every
                // vehicle in it again.
                Ended::Failed(why) if !live && was_streaming => {
                    self.stats.failed.store(true, Ordering::Relaxed);
                    log::error!(
                        MESSAGE_ID = message_id::CAMERA_LOST, CAMERA_ID = self.id.as_str();
                        "camera {}: the file failed part way ({why}); not played again", self.id
                    );
                    break;
                }
                Ended::Eof => self.lost(&mut failures, "stream ended"),
                Ended::Failed(why) => self.lost(&mut failures, &why),
            }
            if opened.elapsed() >= HEALTHY {
                backoff = BACKOFF_START;
            }
            if !self.sleep(backoff) {
                break;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            bump(&self.stats.reopens);
        }
        self.stats.ended.store(true, Ordering::Relaxed);
    }

    /// Pulls frames until the stream ends, fails or we are told to stop.
    fn stream(&self, stream: &mut dyn FrameSource, failures: u64) -> Ended {
        let mut last_frame = Instant::now();
        loop {
            if self.stopping() {
                return Ended::Shutdown;
            }
            match stream.next_frame(POLL) {
                Ok(Next::Frame(frame)) => {
                    if !self.stats.streaming.swap(true, Ordering::Relaxed) && failures > 0 {
                        log::info!(
                            MESSAGE_ID = message_id::CAMERA_RECOVERED, CAMERA_ID = self.id.as_str();
                            "camera {}: recovered", self.id
                        );
                    }
                    last_frame = Instant::now();
                    bump(&self.stats.frames);
                    if self.queue.push(frame) {
                        bump(&self.stats.dropped);
                    }
                }
                Ok(Next::Timeout) if stream.is_live() && last_frame.elapsed() > STALL => {
                    return Ended::Failed(format!("no frame for {} s", STALL.as_secs()));
                }
                Ok(Next::Timeout) => {}
                Ok(Next::End) => return Ended::Eof,
                Err(CaptureError::Frame(why)) => {
                    log::warn!("camera {}: frame skipped: {why}", self.id)
                }
                Err(e) => return Ended::Failed(e.to_string()),
            }
        }
    }

    /// Logs a failure: the first of an outage as a warning, repeats quietly.
    fn lost(&self, failures: &mut u64, why: &str) {
        *failures += 1;
        self.stats.failed.store(true, Ordering::Relaxed);
        if *failures == 1 {
            log::warn!(
                MESSAGE_ID = message_id::CAMERA_LOST, CAMERA_ID = self.id.as_str();
                "camera {} lost: {why}; reopening with backoff", self.id
            );
        } else {
            log::debug!(
                "camera {}: reopen attempt {} failed: {why}",
                self.id,
                *failures
            );
        }
    }

    /// Sleeps up to `d`, waking early for shutdown. False if shutting down.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopping() {
                return false;
            }
            std::thread::sleep(POLL.min(until - Instant::now()));
        }
        !self.stopping()
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}
