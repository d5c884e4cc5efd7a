//! Recognition under overload: a busy camera cannot starve a quiet one, and
//! what cannot be analysed is dropped (oldest first) and counted, never
//! allowed to block capture.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anprd::capture::Frame;
use anprd::config::Config;
use anprd::pipeline::Pipeline;
use anprd::recognise::{PlateCandidate, Recogniser};

/// A recogniser that only takes time: this test is about scheduling, not
/// reading. It lives in tests/ only.
struct Slow(Duration);

impl Recogniser for Slow {
    fn recognise(&mut self, _frame: &Frame) -> Vec<PlateCandidate> {
        std::thread::sleep(self.0);
        Vec::new()
    }
}

fn live(fps: u32) -> String {
    format!(
        "gst:videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate={fps}/1 ! appsink name=sink"
    )
}

#[test]
fn a_busy_camera_cannot_starve_a_quiet_one_and_overload_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    // The busy camera comes first: a worker that always looked at the first
    // camera first would never get to the quiet one.
    let text = format!(
        "[gateway]\nid = \"gw-s\"\n\
         [[camera]]\nid = \"busy\"\nsource = \"{}\"\nmotion_gating = false\n\
         [[camera]]\nid = \"quiet\"\nsource = \"{}\"\nmotion_gating = false\n\
         [recognise]\nworkers = 1\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n[spool]\npath = \"{}\"\n",
        live(100),
        live(10),
        dir.path().join("spool").display()
    );
    let config = Config::parse(&text, Path::new("s.toml")).unwrap_or_else(|e| panic!("{e}"));
    // 15 ms a frame: one worker manages about 66 frames a second of the 110 offered.
    let engines =
        || -> anyhow::Result<Box<dyn Recogniser>> { Ok(Box::new(Slow(Duration::from_millis(15)))) };
    let pipeline = Pipeline::start(&config, &engines).unwrap();
    let (busy, quiet) = (
        pipeline.stats.camera("busy").unwrap(),
        pipeline.stats.camera("quiet").unwrap(),
    );
    // The four seconds count from when both cameras deliver: on a fresh
    // machine GStreamer's first registry scan can take seconds of its own.
    let starting = std::time::Instant::now();
    while busy.frames.load(Ordering::Relaxed) == 0 || quiet.frames.load(Ordering::Relaxed) == 0 {
        assert!(
            starting.elapsed() < Duration::from_secs(60),
            "both cameras deliver within a minute"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(4));
    pipeline.stop();

    let get = |c: &anprd::health::CameraStats| {
        (
            c.frames.load(Ordering::Relaxed),
            c.analysed.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
        )
    };
    let (busy_frames, busy_analysed, busy_dropped) = get(&busy);
    let (quiet_frames, quiet_analysed, quiet_dropped) = get(&quiet);
    assert!(
        busy_frames >= 250,
        "capture kept its pace under overload: {busy_frames} frames in 4 s"
    );
    assert!(busy_dropped > 0, "the overload shows as counted drops");
    assert_eq!(
        busy_frames,
        busy_analysed + busy_dropped,
        "every busy frame is analysed or counted as dropped"
    );
    assert!(quiet_frames >= 30, "{quiet_frames}");
    assert!(
        quiet_analysed + 2 >= quiet_frames && quiet_dropped <= 2,
        "the quiet camera is served: {quiet_analysed} of {quiet_frames} analysed, {quiet_dropped} dropped"
    );
}

/// One camera delivering `frames` small test frames as fast as they are
/// taken (not live), every one queued and analysed, by one worker.
fn one_camera(dir: &Path, id: &str, frames: u32, queue_frames: u32) -> Config {
    one_camera_with(dir, id, frames, queue_frames, 1)
}

fn one_camera_with(dir: &Path, id: &str, frames: u32, queue_frames: u32, workers: u32) -> Config {
    let text = format!(
        "[gateway]\nid = \"gw-s\"\n\
         [[camera]]\nid = \"{id}\"\nqueue_frames = {queue_frames}\nmotion_gating = false\n\
         source = \"gst:videotestsrc num-buffers={frames} ! video/x-raw,width=64,height=48 ! appsink name=sink\"\n\
         [recognise]\nworkers = {workers}\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n[spool]\npath = \"{}\"\n",
        dir.join("spool").display()
    );
    Config::parse(&text, Path::new("s.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Takes time and sees one plate standing still in every frame; counts how
/// many of its copies are at work at once. Lives in tests/ only.
struct Counted {
    busy: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Recogniser for Counted {
    fn recognise(&mut self, _frame: &Frame) -> Vec<PlateCandidate> {
        let now = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(15));
        self.busy.fetch_sub(1, Ordering::SeqCst);
        let plate_box = [8, 20, 40, 10];
        vec![PlateCandidate {
            text: "AB12CDE".into(),
            confidence: 0.9,
            char_confidence: vec![0.9; 7],
            char_at: Vec::new(),
            plate_box,
            corners: anprd::recognise::box_corners(plate_box),
            format: None,
        }]
    }
}

#[test]
fn every_worker_analyses_one_cameras_frames_and_its_pass_is_still_one_read() {
    let dir = tempfile::tempdir().unwrap();
    // 60 frames queued at once, two workers, one camera.
    let config = one_camera_with(dir.path(), "cam-w", 60, 100, 2);
    let (busy, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = most.clone();
    let engines = move || -> anyhow::Result<Box<dyn Recogniser>> {
        Ok(Box::new(Counted {
            busy: busy.clone(),
            most: seen.clone(),
        }))
    };
    let pipeline = Pipeline::start(&config, &engines).unwrap();
    let cam = pipeline.stats.camera("cam-w").unwrap();
    let spool = pipeline.spool.clone();
    while !cam.ended.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    pipeline.stop();
    assert_eq!(
        cam.analysed.load(Ordering::Relaxed),
        60,
        "every frame analysed"
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "both workers analysed the one camera's frames at once"
    );
    let keys = spool.keys();
    assert_eq!(keys.len(), 1, "the plate seen in every frame is one read");
    let entry = spool.get(keys[0]).unwrap().unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&entry.payload).unwrap();
    assert_eq!(payload["vrm"], "AB12CDE");
    assert_eq!(
        payload["frames"], 60,
        "every frame's sighting is in the read"
    );
}

/// Panics on every tenth frame it is given. Lives in tests/ only.
struct Flaky(u32);

impl Recogniser for Flaky {
    fn recognise(&mut self, _frame: &Frame) -> Vec<PlateCandidate> {
        self.0 += 1;
        assert!(
            !self.0.is_multiple_of(10),
            "a bug tripped by frame {}",
            self.0
        );
        Vec::new()
    }
}

#[test]
fn a_recognition_panic_costs_one_frame_not_the_worker_or_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_camera(dir.path(), "cam-p", 50, 100);
    let engines = || -> anyhow::Result<Box<dyn Recogniser>> { Ok(Box::new(Flaky(0))) };
    let pipeline = Pipeline::start(&config, &engines).unwrap();
    let cam = pipeline.stats.camera("cam-p").unwrap();
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while !cam.ended.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Stopping analyses what is still queued, then returns.
        pipeline.stop();
        done.send(cam.analysed.load(Ordering::Relaxed)).unwrap();
    });
    let analysed = stopped
        .recv_timeout(Duration::from_secs(30))
        .expect("the pipeline stops after a recognition panic");
    assert_eq!(analysed, 45, "every frame but the five that panicked");
}

#[test]
fn shutdown_stops_analysing_long_queues_in_time_and_counts_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    // 300 frames queued at once, at 100 ms each: 30 s of work.
    let config = one_camera(dir.path(), "cam-d", 300, 300);
    let engines = || -> anyhow::Result<Box<dyn Recogniser>> {
        Ok(Box::new(Slow(Duration::from_millis(100))))
    };
    let pipeline = Pipeline::start(&config, &engines).unwrap();
    let cam = pipeline.stats.camera("cam-d").unwrap();
    while cam.frames.load(Ordering::Relaxed) < 300 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let asked = std::time::Instant::now();
    pipeline.stop();
    let took = asked.elapsed();
    // Ten seconds of draining, then the rest dropped: well inside the
    // 30 s systemd allows, against the half minute analysing it all takes.
    assert!(took < Duration::from_secs(20), "stopped in {took:?}");
    let (analysed, dropped) = (
        cam.analysed.load(Ordering::Relaxed),
        cam.dropped.load(Ordering::Relaxed),
    );
    assert!(dropped > 0, "the rest of the queue is dropped, and counted");
    assert_eq!(analysed + dropped, 300, "every frame analysed or counted");
}
