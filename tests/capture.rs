//! Capture through real GStreamer pipelines.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anprd::capture::{self, Frame, FrameQueue, Pop};
use anprd::config::CameraConfig;
use anprd::health::CameraStats;

struct Running {
    queue: Arc<FrameQueue>,
    stats: Arc<CameraStats>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn start(source: &str, queue_frames: usize) -> Running {
    start_as("cam-t", source, queue_frames)
}

fn start_as(id: &str, source: &str, queue_frames: usize) -> Running {
    let camera = CameraConfig {
        id: id.into(),
        source: source.into(),
        enabled: true,
        label: None,
        queue_frames,
        roi: None,
        min_plate_width: 0,
        motion_gating: true,
        redact: Vec::new(),
    };
    let queue = Arc::new(FrameQueue::new(queue_frames));
    let stats = Arc::new(CameraStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = capture::spawn(&camera, queue.clone(), stats.clone(), stop.clone()).unwrap();
    Running {
        queue,
        stats,
        stop,
        thread,
    }
}

/// Every frame until the camera ends.
fn drain(queue: &FrameQueue, timeout: Duration) -> Vec<Frame> {
    let deadline = Instant::now() + timeout;
    let mut frames = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "the camera did not end within {timeout:?}"
        );
        match queue.pop(Duration::from_millis(100)) {
            Pop::Frame(f) => frames.push(f),
            Pop::Timeout => {}
            Pop::Closed => return frames,
        }
    }
}

#[test]
fn a_gst_pipeline_with_padded_gray_rows_gives_clean_luma() {
    // 642 px rows are padded to 644 bytes in GRAY8; SMPTE bars make every row
    // of the top part identical, so any stride mistake shows as a shift.
    let cam = start(
        "gst:videotestsrc num-buffers=10 pattern=smpte ! video/x-raw,format=GRAY8,width=642,height=362 ! appsink name=sink",
        16,
    );
    let frames = drain(&cam.queue, Duration::from_secs(20));
    cam.thread.join().unwrap();
    assert_eq!(frames.len(), 10);
    let f = &frames[0];
    assert_eq!((f.width, f.height, f.luma.len()), (642, 362, 642 * 362));
    assert!(f.chroma.is_none(), "GRAY8 has no colour");
    assert!(!f.luma.is_lent(), "padded rows are copied out, not lent");
    let row = |y: usize| &f.luma[y * 642..(y + 1) * 642];
    for y in 1..200 {
        assert_eq!(
            row(y),
            row(0),
            "row {y} differs from row 0: stride not honoured"
        );
    }
    assert!(
        row(0).iter().any(|&v| v > 150) && row(0).iter().any(|&v| v < 60),
        "bars are visible"
    );
    assert_eq!(
        frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(cam.stats.ended.load(Ordering::Relaxed));
}

#[test]
fn colour_sources_give_i420_chroma_at_half_resolution() {
    let cam = start(
        "gst:videotestsrc num-buffers=3 pattern=red ! video/x-raw,format=I420,width=321,height=181 ! appsink name=sink",
        8,
    );
    let frames = drain(&cam.queue, Duration::from_secs(20));
    assert_eq!(frames.len(), 3);
    let f = &frames[0];
    let chroma = f.chroma.as_ref().expect("I420 keeps colour");
    assert_eq!((chroma.u.len(), chroma.v.len()), (161 * 91, 161 * 91));
    assert!(chroma.v.iter().all(|&v| v > 200), "red has high V (Cr)");
    assert!(
        f.luma.iter().all(|&y| (60..=90).contains(&y)),
        "red's luma is about 81"
    );
}

#[test]
fn unpadded_planes_are_lent_from_the_pipeline_not_copied() {
    // 640 and 320 byte rows need no padding: all three planes are the
    // pipeline's own buffer, read in place.
    let cam = start(
        "gst:videotestsrc num-buffers=4 pattern=smpte ! video/x-raw,format=I420,width=640,height=360 ! appsink name=sink",
        8,
    );
    let frames = drain(&cam.queue, Duration::from_secs(20));
    assert_eq!(frames.len(), 4);
    let f = &frames[0];
    let chroma = f.chroma.as_ref().expect("I420 keeps colour");
    assert!(f.luma.is_lent() && chroma.u.is_lent() && chroma.v.is_lent());
    assert_eq!((f.luma.len(), chroma.u.len()), (640 * 360, 320 * 180));
    // The planes are where they should be: SMPTE bars repeat row after row
    // in the top part, in every plane, and the bars differ in colour.
    let rows_repeat = |plane: &[u8], w: usize, rows: usize| {
        (1..rows).all(|y| plane[y * w..(y + 1) * w] == plane[..w])
    };
    assert!(rows_repeat(&f.luma, 640, 200));
    assert!(rows_repeat(&chroma.u, 320, 100) && rows_repeat(&chroma.v, 320, 100));
    assert!(chroma.u[..320].iter().any(|&u| u > 160) && chroma.u[..320].iter().any(|&u| u < 96));

    // Written to (as redaction does), a lent plane becomes the frame's own
    // copy; the other frames, lent the same way, are untouched.
    let mut copy = f.clone();
    copy.luma.to_mut().fill(0);
    assert!(!copy.luma.is_lent() && f.luma.is_lent());
    assert!(
        f.luma.iter().any(|&y| y > 150),
        "the original still shows the bars"
    );
}

#[test]
fn a_file_plays_at_its_frame_rate_to_the_end_without_losing_frames() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.avi");
    let status = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=50",
            "!",
            "video/x-raw,width=320,height=240,framerate=25/1",
        ])
        .args(["!", "jpegenc", "!", "avimux", "!", "filesink"])
        .arg(format!("location={}", clip.display()))
        .status()
        .expect("gst-launch-1.0 is installed by scripts/setup.sh");
    assert!(status.success());

    let started = anprd::record::now_millis();
    let cam = start(&format!("file://{}", clip.display()), 64);
    let frames = drain(&cam.queue, Duration::from_secs(30));
    cam.thread.join().unwrap();
    assert_eq!(frames.len(), 50, "a file is read to its end, every frame");
    assert_eq!(cam.stats.frames.load(Ordering::Relaxed), 50);
    let (first, last) = (frames[0].captured_at, frames[49].captured_at);
    assert!(first >= started - 100 && last <= anprd::record::now_millis());
    assert!(
        frames
            .windows(2)
            .all(|w| w[0].captured_at <= w[1].captured_at),
        "capture times increase"
    );
    // 49 frame intervals at 25 fps: about 1.96 s, as a camera would deliver them.
    assert!(
        (1500..=4000).contains(&(last - first)),
        "paced at its frame rate: {} ms",
        last - first
    );
}

#[test]
fn a_slow_consumer_costs_the_oldest_frames_and_they_are_counted() {
    let cam = start(
        "gst:videotestsrc num-buffers=40 ! video/x-raw,width=64,height=48 ! appsink name=sink",
        2,
    );
    // Nobody pops until the camera has ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cam.stats.ended.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let frames = drain(&cam.queue, Duration::from_secs(1));
    let delivered = cam.stats.frames.load(Ordering::Relaxed);
    assert_eq!(frames.len(), 2, "the queue holds its capacity");
    assert_eq!(cam.stats.dropped.load(Ordering::Relaxed), delivered - 2);
    assert_eq!(frames[1].seq, delivered - 1, "the newest frames are kept");
}

#[test]
fn a_failing_live_source_is_reopened_with_backoff_and_stops_promptly() {
    // Nothing listens on this port: every open fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cam = start(&format!("rtsp://127.0.0.1:{port}/stream"), 4);
    let deadline = Instant::now() + Duration::from_secs(15);
    while cam.stats.reopens.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "no second reopen attempt");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!cam.stats.streaming.load(Ordering::Relaxed));
    let asked = Instant::now();
    cam.stop.store(true, Ordering::Relaxed);
    cam.thread.join().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "stopped in {:?}",
        asked.elapsed()
    );
    assert!(matches!(cam.queue.pop(Duration::ZERO), Pop::Closed));
}

#[test]
fn a_live_stream_that_ends_is_reopened_not_ended() {
    let cam = start(
        "gst:videotestsrc is-live=true num-buffers=5 ! video/x-raw,width=32,height=24 ! appsink name=sink",
        64,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while cam.stats.frames.load(Ordering::Relaxed) < 8 {
        assert!(
            Instant::now() < deadline,
            "the stream was not reopened after its end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cam.stats.reopens.load(Ordering::Relaxed) >= 1);
    assert!(!cam.stats.ended.load(Ordering::Relaxed));
    cam.stop.store(true, Ordering::Relaxed);
    cam.thread.join().unwrap();
}

#[test]
fn a_file_that_fails_part_way_is_not_played_again() {
    // Not live, and an error after its fifth frame: played again from the
    // start, every vehicle in it would be read twice.
    let cam = start(
        "gst:videotestsrc num-buffers=50 ! video/x-raw,width=32,height=24 ! identity error-after=5 ! appsink name=sink",
        64,
    );
    let frames = drain(&cam.queue, Duration::from_secs(15));
    cam.thread.join().unwrap();
    assert!(
        (1..=5).contains(&frames.len()),
        "{} frames: played again",
        frames.len()
    );
    assert_eq!(cam.stats.reopens.load(Ordering::Relaxed), 0);
    assert!(cam.stats.ended.load(Ordering::Relaxed));
    assert!(
        cam.stats.failed.load(Ordering::Relaxed),
        "told as a failure"
    );
}

/// Warnings logged by this test binary, as text.
fn warnings() -> &'static std::sync::Mutex<Vec<String>> {
    struct Warnings(std::sync::Mutex<Vec<String>>);
    impl log::Log for Warnings {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                self.0.lock().unwrap().push(r.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: std::sync::OnceLock<&'static Warnings> = std::sync::OnceLock::new();
    let logger = LOGGER.get_or_init(|| {
        let logger: &'static Warnings = Box::leak(Box::new(Warnings(Default::default())));
        log::set_logger(logger).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        logger
    });
    &logger.0
}

#[test]
fn every_outage_after_streaming_is_warned_about_not_only_the_first() {
    let warnings = warnings();
    let cam = start_as(
        "cam-outages",
        "gst:videotestsrc is-live=true num-buffers=3 ! video/x-raw,width=32,height=24 ! appsink name=sink",
        64,
    );
    let lost = || {
        warnings
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.starts_with("camera cam-outages lost"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while cam.stats.reopens.load(Ordering::Relaxed) < 3 {
        assert!(Instant::now() < deadline, "not reopened three times");
        std::thread::sleep(Duration::from_millis(50));
    }
    cam.stop.store(true, Ordering::Relaxed);
    cam.thread.join().unwrap();
    // Each end followed frames: each is an outage of its own.
    assert!(lost() >= 3, "{:?}", warnings.lock().unwrap());
}
