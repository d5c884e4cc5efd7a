//! The daemon's memory on a site's worth of cameras, against capture alone.
//!
//! `cargo bench --bench daemon_memory` renders one 1080p, 25 fps traffic clip
//! per camera (4 by default; ANPRD_BENCH_CAMERAS, ANPRD_BENCH_SECONDS), then
//! runs two processes on the same files, one after the other, and has the
//! kernel measure each (peak resident set from `wait4`'s rusage, CPU time):
//!
//! 1. **capture alone**: this binary again, opening every clip with anprd's
//!    own capture code (the same GStreamer pipeline, decoder settings and
//!    appsink) and dropping each frame as it arrives, with the daemon's
//!    once-a-second `malloc_trim`: the floor any daemon that decodes these
//!    streams with GStreamer pays;
//! 2. **`anprd run`**: the built daemon on the same files, forwarding to a
//!    private mosquitto on a loopback port, until every camera has reached
//!    the end of its file and its reads have reached the broker.
//!
//! It prints both peaks, the median of the daemon's RSS sampled every
//! 200 ms, anprd's own share (daemon − capture alone) and the ratio.
//!
//! Run as a test (`cargo test --benches`, as the suite does) it makes one
//! short pass on one small camera and checks that both processes did their
//! work, so the bench stays known to work.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anprd::capture::{Next, Source};
use anprd::plate::clip::{ClipSpec, Traffic, write_clip};

#[path = "common.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

/// The argument that makes this binary the capture-alone child.
const CAPTURE_ONLY: &str = "--capture-only";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CAPTURE_ONLY) {
        capture_only(&args[at + 1..]);
        return;
    }
    if common::answered_test_listing() {
        return;
    }
    let full = common::full_run();
    let (cameras, seconds, width, height) = if full {
        (
            common::env_or("ANPRD_BENCH_CAMERAS", 4),
            common::env_or("ANPRD_BENCH_SECONDS", 30.0),
            1920,
            1080,
        )
    } else {
        (1, 4.0, 640, 360)
    };
    println!(
        "daemon memory bench: {cameras} camera(s), {width}x{height} at 25 fps, {seconds} s each, {} core(s)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = Instant::now();
    let mut clips = Vec::new();
    let mut vehicles = 0;
    for i in 0..cameras {
        let path = dir.path().join(format!("cam{i}.mp4"));
        let spec = ClipSpec {
            width,
            height,
            seconds,
            seed: 200 + i as u64,
            traffic: if full {
                Traffic::Fill
            } else {
                Traffic::Count(1)
            },
            gap_s: 2.5,
            lead_s: 1.0,
            rear: i % 2 == 1,
            ..ClipSpec::default()
        };
        vehicles += write_clip(&spec, &path).expect("the clip renders").len();
        clips.push(path);
    }
    println!(
        "{vehicles} vehicles rendered in {:.1} s\n",
        started.elapsed().as_secs_f32()
    );

    let alone = measure_capture_alone(&clips);
    let daemon = measure_daemon(dir.path(), &clips, vehicles, seconds);

    println!(
        "{:<28} {:>12} {:>12} {:>10}",
        "", "peak RSS MB", "median MB", "CPU s"
    );
    let row = |name: &str, m: &Measured| {
        println!(
            "{name:<28} {:>12.0} {:>12.0} {:>10.1}",
            m.peak_mb, m.median_mb, m.cpu_s
        )
    };
    row("capture alone", &alone);
    row("anprd run", &daemon);
    println!(
        "{:<28} {:>12.0} {:>12.0} {:>10.1}",
        "anprd's own share",
        daemon.peak_mb - alone.peak_mb,
        daemon.median_mb - alone.median_mb,
        daemon.cpu_s - alone.cpu_s
    );
    println!(
        "\npeak {:.2}x capture alone; {} of {vehicles} vehicles' reads reached the broker",
        daemon.peak_mb / alone.peak_mb,
        daemon.reads
    );

    // As a test: both processes did their work.
    assert!(alone.frames > 0, "capture alone decoded no frame");
    assert!(daemon.reads > 0, "the daemon delivered no read");
}

/// What the kernel measured of one child process.
struct Measured {
    peak_mb: f64,
    /// Median of the RSS sampled every 200 ms while it ran.
    median_mb: f64,
    cpu_s: f64,
    /// Frames decoded (capture alone).
    frames: u64,
    /// Reads that reached the broker (the daemon).
    reads: usize,
}

/// Runs this binary as the capture-alone child on `clips`.
// The child is reaped by wait4 in wait_sampling: Child::wait gives no rusage.
#[allow(clippy::zombie_processes)]
fn measure_capture_alone(clips: &[PathBuf]) -> Measured {
    let child = Command::new(std::env::current_exe().expect("this binary's path"))
        .arg(CAPTURE_ONLY)
        .args(clips)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the capture-alone child");
    let pid = child.id();
    let stdout = child.stdout.expect("its stdout");
    let (usage, samples) = wait_sampling(pid, || {});
    let frames = std::io::read_to_string(stdout)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    measured(usage, &samples, frames, 0)
}

/// The capture-alone child: every clip opened as anprd opens a camera,
/// each on its own thread, frames dropped as they come. Prints the count.
fn capture_only(clips: &[String]) {
    let _trimmer = anprd::memory::Trimmer::start(anprd::memory::TRIM_EVERY);
    let threads: Vec<_> = clips
        .iter()
        .map(|clip| {
            let clip = clip.clone();
            let source = Source::parse(&format!("file://{clip}")).expect("a file source");
            std::thread::spawn(move || {
                let mut capture = anprd::capture::open(&source).expect("the clip opens");
                let mut frames = 0u64;
                loop {
                    match capture.next_frame(Duration::from_secs(5)) {
                        Ok(Next::Frame(frame)) => {
                            frames += 1;
                            drop(frame);
                        }
                        Ok(Next::Timeout) => continue,
                        Ok(Next::End) => return frames,
                        Err(e) => panic!("{clip}: {e}"),
                    }
                }
            })
        })
        .collect();
    let frames: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    println!("{frames}");
}

/// `anprd run` on `clips` against a private broker, until the files have
/// ended and `vehicles` reads arrived (or a generous limit passed).
// The child is reaped by wait4 in wait_sampling: Child::wait gives no rusage.
#[allow(clippy::zombie_processes)]
fn measure_daemon(dir: &Path, clips: &[PathBuf], vehicles: usize, seconds: f32) -> Measured {
    let broker = support::Mosquitto::start();
    let subscriber = support::Subscriber::connect(broker.port(), "anpr/+/+/reads");
    let mut config = String::from("[gateway]\nid = \"gw-bench01\"\n\n");
    for (i, clip) in clips.iter().enumerate() {
        config += &format!(
            "[[camera]]\nid = \"cam-{i:02}\"\nsource = \"file://{}\"\n\n",
            clip.display()
        );
    }
    config += &format!(
        "[mqtt]\nurl = \"{}\"\nallow_insecure = true\ntopic_prefix = \"anpr\"\n\n\
         [spool]\npath = \"{}\"\nmax_bytes = 104857600\n\n[health]\nstate_file = \"{}\"\n",
        broker.url(),
        dir.join("spool").display(),
        dir.join("status.json").display()
    );
    let config_path = dir.join("anprd.toml");
    std::fs::write(&config_path, config).unwrap();
    let log_path = dir.join("anprd.log");
    let child = Command::new(support::daemon::ANPRD)
        .args(["run", "--config"])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start anprd");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs_f32(seconds + 60.0);
    let mut stopping = false;
    let (usage, samples) = wait_sampling(pid, || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let finished = log.matches("recognition finished").count() >= clips.len();
        let done = finished && subscriber.count() >= vehicles;
        if !stopping && (done || Instant::now() > deadline) {
            // Let the last reads settle, then stop as systemd would.
            std::thread::sleep(Duration::from_millis(500));
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            stopping = true;
        }
    });
    let reads = subscriber.count();
    if reads == 0 {
        eprintln!(
            "anprd's log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    measured(usage, &samples, 0, reads)
}

/// Samples `pid`'s RSS every 200 ms (calling `tick` each time) until it
/// exits, then reaps it with `wait4` for the kernel's own account.
fn wait_sampling(pid: u32, mut tick: impl FnMut()) -> (libc::rusage, Vec<u64>) {
    let mut samples = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child; status and usage are valid for writes.
        let reaped = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid as i32 {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child {pid} ended badly (wait status {status})"
            );
            return (usage, samples);
        }
        assert_eq!(reaped, 0, "wait4: {}", std::io::Error::last_os_error());
        if let Some(kb) = vm_rss_kb(pid) {
            samples.push(kb);
        }
        tick();
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn vm_rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn measured(usage: libc::rusage, samples: &[u64], frames: u64, reads: usize) -> Measured {
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let median_kb = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    Measured {
        // ru_maxrss is in KiB on Linux.
        peak_mb: usage.ru_maxrss as f64 / 1024.0,
        median_mb: median_kb as f64 / 1024.0,
        cpu_s: secs(usage.ru_utime) + secs(usage.ru_stime),
        frames,
        reads,
    }
}
