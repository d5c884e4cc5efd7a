//! GStreamer sources: RTSP cameras, video files and user pipelines.
//!
//! Every source ends in an appsink that hands over I420 (or GRAY8) frames:
//! the Y plane is the luma recognition wants, U and V colour the overview.
//! For live sources the appsink holds one buffer and drops the older one,
//! so a slow consumer never backs video up into the camera or the network.

use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::{CaptureError, Chroma, Frame, FrameSource, Next, Plane, Source, UtcMillis};
use crate::record::now_millis;

/// Buffers the appsink keeps before dropping the oldest.
const APPSINK_BUFFERS: u32 = 1;
/// Largest believable delay between capture and arrival; beyond it the
/// timestamps are not trusted and the arrival time is used.
const MAX_CAPTURE_DELAY_MS: i64 = 2000;

/// A running GStreamer pipeline ending in our appsink.
pub struct GstSource {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    live: bool,
    seq: u64,
}

impl GstSource {
    /// Builds and starts the pipeline for `source` (not V4L2).
    pub fn open(source: &Source) -> Result<GstSource, CaptureError> {
        gst::init().map_err(|e| CaptureError::Open(format!("GStreamer cannot start: {e}")))?;
        let (pipeline, sink) = match source {
            Source::Rtsp(uri) => decode_pipeline(uri, true)?,
            Source::File(path) => {
                let uri = gst::glib::filename_to_uri(path, None)
                    .map_err(|e| CaptureError::Open(format!("not a usable file path: {e}")))?;
                decode_pipeline(&uri, false)?
            }
            Source::Gst(description) => user_pipeline(description)?,
            Source::V4l2(_) => {
                return Err(CaptureError::Open(
                    "V4L2 devices are not GStreamer sources".into(),
                ));
            }
        };
        sink.set_caps(Some(
            &gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::I420, gst_video::VideoFormat::Gray8])
                .build(),
        ));
        sink.set_max_buffers(APPSINK_BUFFERS);
        // A sink keeps its last buffer for inspection unless told not to: a
        // decoded picture per camera held for nothing.
        sink.set_enable_last_sample(false);
        // A file is played at its own frame rate, as a camera would deliver it.
        sink.set_sync(source.ends_at_eof());
        let refused = |_| {
            CaptureError::Open(
                pipeline_error(&pipeline).unwrap_or_else(|| "pipeline refused to start".into()),
            )
        };
        // Only the step to PAUSED says whether the pipeline is live (NO_PREROLL).
        let started = pipeline.set_state(gst::State::Paused).map_err(refused)?;
        pipeline.set_state(gst::State::Playing).map_err(refused)?;
        // Live video must never back up: the appsink drops the oldest buffer.
        // A finite source (file, non-live pipeline) waits for us instead.
        let live = match source {
            Source::Rtsp(_) => true,
            Source::File(_) => false,
            _ => started == gst::StateChangeSuccess::NoPreroll,
        };
        sink.set_drop(live);
        Ok(GstSource {
            pipeline,
            sink,
            live,
            seq: 0,
        })
    }
}

impl FrameSource for GstSource {
    fn next_frame(&mut self, timeout: Duration) -> Result<Next, CaptureError> {
        if let Some(msg) = pipeline_error(&self.pipeline) {
            return Err(CaptureError::Lost(msg));
        }
        let timeout = gst::ClockTime::from_nseconds(timeout.as_nanos() as u64);
        match self.sink.try_pull_sample(timeout) {
            Some(sample) => {
                let captured_at = capture_time(&self.pipeline, &sample);
                let frame = to_frame(&sample, self.seq, captured_at)?;
                self.seq += 1;
                Ok(Next::Frame(frame))
            }
            // A source that fails sends end-of-stream after its error.
            None if self.sink.is_eos() => match pipeline_error(&self.pipeline) {
                Some(msg) => Err(CaptureError::Lost(msg)),
                None => Ok(Next::End),
            },
            None => Ok(Next::Timeout),
        }
    }

    fn is_live(&self) -> bool {
        self.live
    }
}

impl Drop for GstSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// `uridecodebin ! videoconvert ! appsink`, linked as the decoder exposes
/// its video pad. Built element by element, so the URI is never parsed as
/// pipeline syntax.
fn decode_pipeline(
    uri: &str,
    live: bool,
) -> Result<(gst::Pipeline, gst_app::AppSink), CaptureError> {
    let make = |factory: &str| {
        gst::ElementFactory::make(factory).build().map_err(|_| {
            CaptureError::Open(format!(
                "GStreamer element {factory} is missing (install the GStreamer plugins)"
            ))
        })
    };
    let decode = make("uridecodebin")?;
    decode.set_property("uri", uri);
    if live {
        // Bounded latency for RTSP: a late frame is worth less than a fresh one.
        decode.set_property("buffer-duration", 200_000_000i64);
    }
    let convert = make("videoconvert")?;
    let sink = gst_app::AppSink::builder().name("sink").build();
    let pipeline = gst::Pipeline::new();
    // libav decoders default to a thread (and a set of reference frames) per
    // core for every stream. Cameras already run in parallel, one stream
    // each: a single decoding thread apiece keeps memory per camera small.
    pipeline.connect_deep_element_added(|_, _, element| {
        let is_libav = element
            .factory()
            .is_some_and(|f| f.name().starts_with("avdec_"));
        if is_libav && element.has_property("max-threads") {
            element.set_property("max-threads", 1i32);
        }
    });
    pipeline
        .add_many([&decode, &convert, sink.upcast_ref()])
        .and_then(|()| {
            convert
                .link(&sink)
                .map_err(|e| gst::glib::bool_error!("{e}"))
        })
        .map_err(|e| CaptureError::Open(format!("cannot build the pipeline: {e}")))?;
    let convert_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(convert) = convert_weak.upgrade() else {
            return;
        };
        let is_video = pad
            .current_caps()
            .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        let Some(sink_pad) = convert.static_pad("sink") else {
            return;
        };
        if is_video && !sink_pad.is_linked() {
            let _ = pad.link(&sink_pad);
        }
    });
    Ok((pipeline, sink))
}

/// A pipeline written by the user, ending in `appsink name=sink`.
fn user_pipeline(description: &str) -> Result<(gst::Pipeline, gst_app::AppSink), CaptureError> {
    let element = gst::parse::launch(description).map_err(|e| {
        let why = e
            .kind::<gst::ParseError>()
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|| "error".into());
        CaptureError::Open(format!(
            "the gst: pipeline does not parse ({why}); gst-launch-1.0 shows where"
        ))
    })?;
    let pipeline = element.downcast::<gst::Pipeline>().map_err(|_| {
        CaptureError::Open(
            "the gst: pipeline is a single element; add … ! appsink name=sink".into(),
        )
    })?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| CaptureError::Open("the gst: pipeline has no appsink named sink".into()))?;
    Ok((pipeline, sink))
}

/// The first error posted on the pipeline's bus, if any, made safe to log.
fn pipeline_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(err) = msg.view() {
            return Some(describe(err.src(), &err.error()));
        }
    }
    None
}

/// A GStreamer error as it may be logged: the kind of element that failed
/// and the error's domain and code. GStreamer's own sentence is left out: it
/// names files, hosts and addresses (`Could not open file "/srv/…"`), and so
/// can an element's name in a `gst:` pipeline; gst-launch-1.0 on site shows
/// the rest.
fn describe(source: Option<&gst::Object>, err: &gst::glib::Error) -> String {
    let element = source
        .and_then(|s| s.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .map(|f| f.name().to_string())
        .unwrap_or_else(|| "pipeline".into());
    let what = if let Some(k) = err.kind::<gst::ResourceError>() {
        format!("resource error ({k:?})")
    } else if let Some(k) = err.kind::<gst::StreamError>() {
        format!("stream error ({k:?})")
    } else if let Some(k) = err.kind::<gst::CoreError>() {
        format!("core error ({k:?})")
    } else if let Some(k) = err.kind::<gst::LibraryError>() {
        format!("library error ({k:?})")
    } else {
        "error".into()
    };
    format!("{element}: {what}")
}

/// When the frame in `sample` was captured: the wall clock now, less how
/// long ago the pipeline clock says the buffer's timestamp was.
fn capture_time(pipeline: &gst::Pipeline, sample: &gst::Sample) -> UtcMillis {
    let now = now_millis();
    let delay = (|| {
        let pts = sample.buffer()?.pts()?;
        let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
        let running = segment.to_running_time(pts)?;
        let clock_now = pipeline.clock()?.time();
        let base = pipeline.base_time()?;
        Some(clock_now.nseconds() as i64 - (base + running).nseconds() as i64)
    })()
    .map(|ns| ns / 1_000_000)
    .filter(|ms| (0..=MAX_CAPTURE_DELAY_MS).contains(ms))
    .unwrap_or(0);
    now - delay
}

/// The frame in a sample. Planes whose rows are not padded are lent from
/// the decoder's buffer rather than copied (see [`Plane`]); padded ones are
/// copied row by row.
fn to_frame(sample: &gst::Sample, seq: u64, captured_at: UtcMillis) -> Result<Frame, CaptureError> {
    let bad = |why: &str| CaptureError::Frame(why.to_string());
    let caps = sample.caps().ok_or_else(|| bad("sample without caps"))?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| bad("caps are not raw video"))?;
    let buffer = sample
        .buffer_owned()
        .ok_or_else(|| bad("sample without a buffer"))?;
    // Where each plane starts and how far apart its rows are: a decoder that
    // pads its pictures says so in a video meta, otherwise the caps tell.
    let (offsets, strides): (Vec<usize>, Vec<i32>) = match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => (meta.offset().to_vec(), meta.stride().to_vec()),
        None => (info.offset().to_vec(), info.stride().to_vec()),
    };
    let mapped: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(
        buffer
            .into_mapped_buffer_readable()
            .map_err(|_| bad("buffer cannot be read"))?,
    );
    let (w, h) = (info.width() as usize, info.height() as usize);
    let plane = |i: usize, pw: usize, ph: usize| -> Result<Plane, CaptureError> {
        let short = || bad("buffer smaller than its layout says");
        let (offset, stride) = (
            *offsets.get(i).ok_or_else(|| bad("missing plane"))?,
            usize::try_from(*strides.get(i).ok_or_else(|| bad("missing plane"))?)
                .map_err(|_| bad("negative stride"))?,
        );
        if stride == pw {
            return Plane::lent(mapped.clone(), offset..offset + pw * ph).ok_or_else(short);
        }
        let data = (*mapped).as_ref().get(offset..).ok_or_else(short)?;
        super::convert::unpad(data, pw, ph, stride)
            .map(Plane::from)
            .ok_or_else(short)
    };
    let luma = plane(0, w, h)?;
    let chroma = match info.format() {
        gst_video::VideoFormat::I420 => {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            Some(Chroma {
                u: plane(1, cw, ch)?,
                v: plane(2, cw, ch)?,
            })
        }
        _ => None,
    };
    Ok(Frame {
        seq,
        captured_at,
        width: w as u32,
        height: h as u32,
        luma,
        chroma,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site's name in a file path or a `gst:` pipeline stays out of the
    /// errors that reach the logs.
    #[test]
    fn errors_name_the_kind_of_failure_not_the_file_or_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("kings-road-north.mp4");
        std::fs::write(&clip, b"not a video").unwrap();
        let missing = dir.path().join("kings-road-south.mp4");
        for (source, expected) in [
            (Source::File(missing), "resource error"),
            (
                Source::Gst(format!(
                    "filesrc location={} name=kings-road ! nosuchelement ! appsink name=sink",
                    clip.display()
                )),
                "(NoSuchElement)",
            ),
            (
                Source::Gst(format!(
                    "filesrc location={} name=kings-road ! decodebin ! appsink name=sink",
                    clip.display()
                )),
                "stream error",
            ),
        ] {
            let err = match GstSource::open(&source) {
                Err(e) => e.to_string(),
                // Some failures only show once frames are asked for.
                Ok(mut s) => loop {
                    match s.next_frame(Duration::from_secs(5)) {
                        Err(e) => break e.to_string(),
                        Ok(Next::Frame(_)) => panic!("{source:?} gave a frame"),
                        Ok(Next::End) => panic!("{source:?} ended without an error"),
                        Ok(Next::Timeout) => {}
                    }
                },
            };
            assert!(!err.contains("kings-road"), "{source:?}: {err}");
            assert!(!err.contains(dir.path().to_str().unwrap()), "{err}");
            assert!(err.contains(expected), "{source:?}: {err}");
        }
    }
}
