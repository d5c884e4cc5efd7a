//! Pipeline throughput and read accuracy on synthetic traffic.
//!
//! `cargo bench --bench pipeline` renders one 1080p, 25 fps traffic clip per
//! camera (4 by default; ANPRD_BENCH_CAMERAS, ANPRD_BENCH_SECONDS; each
//! camera's queue_frames from ANPRD_BENCH_QUEUE, else the default; the
//! recognition workers from ANPRD_BENCH_WORKERS, else one per core), runs the
//! whole pipeline on them in real time — capture, gate, recognition, grouping,
//! spool — and reports CPU, frames analysed and skipped, frames dropped for
//! overload, peak RSS, and how many vehicles were read exactly once. The same
//! run measures a baseline with motion gating off (every frame analysed).
//!
//! Run as a test (`cargo test --benches`, as the suite does) it makes one short
//! pass on one small camera, so the bench stays known to work.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anprd::config::Config;
use anprd::pipeline::Pipeline;
use anprd::plate::clip::{ClipSpec, Traffic, TruthEntry, write_clip};
use anprd::record::Read;

#[path = "common.rs"]
mod common;

struct Setup {
    cameras: usize,
    seconds: f32,
    width: u32,
    height: u32,
}

/// The recognition engine benched: ANPRD_BENCH_ENGINE, else the default.
fn engine() -> String {
    std::env::var("ANPRD_BENCH_ENGINE").unwrap_or_else(|_| "neural".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Test runners list a binary's tests first (libtest's `--list` protocol):
    // as a test this bench is one smoke test, and it has no ignored ones.
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("smoke: test");
        }
        return;
    }
    let benching = args.iter().any(|a| a == "--bench");
    let setup = if benching {
        Setup {
            cameras: common::env_or("ANPRD_BENCH_CAMERAS", 4),
            seconds: common::env_or("ANPRD_BENCH_SECONDS", 30.0),
            width: 1920,
            height: 1080,
        }
    } else {
        Setup {
            cameras: 1,
            seconds: 4.0,
            width: 640,
            height: 360,
        }
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "pipeline bench: {} camera(s), {}x{} at 25 fps, {} s of traffic each, {} core(s), workers: {}, {} engine",
        setup.cameras,
        setup.width,
        setup.height,
        setup.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::env::var("ANPRD_BENCH_WORKERS").unwrap_or_else(|_| "one per core".into()),
        engine()
    );
    let started = Instant::now();
    let clips: Vec<(std::path::PathBuf, Vec<TruthEntry>)> = (0..setup.cameras)
        .map(|i| {
            let path = dir.path().join(format!("cam{i}.mp4"));
            let spec = ClipSpec {
                width: setup.width,
                height: setup.height,
                seconds: setup.seconds,
                seed: 100 + i as u64,
                traffic: Traffic::Fill,
                gap_s: 2.5,
                lead_s: 2.0,
                rear: i % 2 == 1,
                ..ClipSpec::default()
            };
            let truth = write_clip(&spec, &path).expect("the clip renders");
            (path, truth)
        })
        .collect();
    println!(
        "clips rendered in {:.1} s\n",
        started.elapsed().as_secs_f32()
    );

    // Unmeasured warm-up: GStreamer loads its plugins on first use.
    run(
        dir.path(),
        &clips[..1],
        Looks::Moving,
        Some(Duration::from_secs(2)),
    );
    let gated = run(dir.path(), &clips, Looks::Moving, None);
    let whole = run(dir.path(), &clips, Looks::Whole, None);
    let every = run(dir.path(), &clips, Looks::Every, None);
    println!(
        "{:<34} {:>14} {:>14} {:>14}",
        "", "motion gating", "whole frames", "every frame"
    );
    let (a, b, c) = (&gated, &whole, &every);
    let row = |name: &str, f: &dyn Fn(&Outcome) -> String| {
        println!("{name:<34} {:>14} {:>14} {:>14}", f(a), f(b), f(c))
    };
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
    };
    row("CPU, % of one core", &|o| format!("{:.0}", o.cpu_pct));
    row("frames delivered", &|o| o.frames.to_string());
    row("frames analysed", &|o| o.analysed.to_string());
    row("frames skipped (no motion)", &|o| o.skipped.to_string());
    row("frames dropped (overload)", &|o| o.dropped.to_string());
    row("peak RSS, MB", &|o| format!("{:.0}", o.peak_rss_mb));
    // This process also rendered and encoded the clips: what it holds
    // before the pipeline starts is not the pipeline's.
    row("RSS before the pipeline started, MB", &|o| {
        format!("{:.0}", o.start_rss_mb)
    });
    row("vehicles", &|o| o.vehicles.to_string());
    row("read exactly once, %", &|o| format!("{:.2}", o.once_pct()));
    row("duplicate reads", &|o| o.duplicates.to_string());
    row("wrong or phantom reads", &|o| o.wrong.to_string());
    row("missed vehicles", &|o| o.missed.to_string());
    row("pass ended → stored, p50 ms", &|o| ms(o.latency_p50));
    row("pass ended → stored, p99 ms", &|o| ms(o.latency_p99));
    println!(
        "\nmotion gating: {:.2}x the CPU of analysing every frame",
        gated.cpu_pct / every.cpu_pct.max(1e-9)
    );
    println!(
        "looking only where something moved: {:.2}x the CPU of whole-frame looks",
        gated.cpu_pct / whole.cpu_pct.max(1e-9)
    );
}

struct Outcome {
    cpu_pct: f64,
    frames: u64,
    analysed: u64,
    skipped: u64,
    dropped: u64,
    peak_rss_mb: f64,
    start_rss_mb: f64,
    vehicles: usize,
    once: usize,
    duplicates: usize,
    wrong: usize,
    missed: usize,
    latency_p50: Option<Duration>,
    latency_p99: Option<Duration>,
}

impl Outcome {
    fn once_pct(&self) -> f64 {
        100.0 * self.once as f64 / self.vehicles.max(1) as f64
    }
}

/// Which frames recognition looks at, and where.
#[derive(Clone, Copy, Debug)]
enum Looks {
    /// Frames where something moved, only around what moved (the default).
    Moving,
    /// Frames where something moved, always whole.
    Whole,
    /// Every frame, whole.
    Every,
}

/// Runs the pipeline on `clips` until they end (or for `limit`).
fn run(
    dir: &Path,
    clips: &[(std::path::PathBuf, Vec<TruthEntry>)],
    looks: Looks,
    limit: Option<Duration>,
) -> Outcome {
    let motion_gating = !matches!(looks, Looks::Every);
    // A spool of its own per run: the warm-up's reads must not be scored
    // in a measured run with as many cameras.
    let spool_dir = dir.join(format!(
        "spool-{looks:?}-{}-{}",
        clips.len(),
        if limit.is_some() {
            "warm-up"
        } else {
            "measured"
        }
    ));
    let mut text = format!(
        "[gateway]\nid = \"gw-bench\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n\
         [spool]\npath = \"{}\"\nmax_bytes = 1073741824\n[recognise]\nengine = \"{}\"\n\
         look_where_moving = {}\n",
        spool_dir.display(),
        engine(),
        matches!(looks, Looks::Moving)
    );
    if let Ok(workers) = std::env::var("ANPRD_BENCH_WORKERS") {
        text += &format!("workers = {workers}\n");
    }
    for (i, (clip, _)) in clips.iter().enumerate() {
        text += &format!(
            "[[camera]]\nid = \"cam-{i}\"\nsource = \"file://{}\"\nmotion_gating = {motion_gating}\n{}",
            clip.display(),
            std::env::var("ANPRD_BENCH_QUEUE")
                .map(|q| format!("queue_frames = {q}\n"))
                .unwrap_or_default()
        );
    }
    let config = Config::parse(&text, Path::new("bench.toml")).unwrap_or_else(|e| panic!("{e}"));
    // Engines as the daemon makes them (src/cli.rs): models loaded once,
    // the plate rules over every engine.
    let loaded = anprd::recognise::Engines::from_config(&config.recognise)
        .unwrap_or_else(|e| panic!("the engine loads: {e:#}"));
    let rules = config.recognise.rules().expect("the default rules");
    let engines = move || -> anyhow::Result<Box<dyn anprd::recognise::Recogniser>> {
        Ok(Box::new(anprd::recognise::rules::RuledRecogniser::new(
            loaded.make(),
            rules.clone(),
        )))
    };
    reset_peak_rss();
    let start_rss_mb = status_kb("VmRSS:") as f64 / 1024.0;
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    let pipeline = Pipeline::start(&config, &engines).expect("the pipeline starts");
    let stats = pipeline.stats.clone();
    while !stats
        .cameras
        .iter()
        .all(|(_, c)| c.ended.load(Ordering::Relaxed))
        && limit.is_none_or(|l| wall.elapsed() < l)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let spool = pipeline.spool.clone();
    pipeline.stop();
    let cpu_pct = 100.0 * (cpu_seconds() - cpu_before) / wall.elapsed().as_secs_f64();
    let sum = |f: fn(&anprd::health::CameraStats) -> u64| -> u64 {
        stats.cameras.iter().map(|(_, c)| f(c)).sum()
    };

    // Score the stored reads against each clip's ground truth.
    let mut reads: HashMap<String, Vec<Read>> = HashMap::new();
    let mut cursor = None;
    while let Some((key, entry)) = spool.next_after(cursor).expect("the spool reads back") {
        cursor = Some(key);
        let read = Read::from_payload(&entry.payload).expect("stored payloads parse");
        reads.entry(read.camera_id.clone()).or_default().push(read);
    }
    let (mut vehicles, mut once, mut duplicates, mut wrong, mut missed) = (0, 0, 0, 0, 0);
    for (i, (_, truth)) in clips.iter().enumerate() {
        let got = reads.remove(&format!("cam-{i}")).unwrap_or_default();
        vehicles += truth.len();
        for t in truth {
            match got.iter().filter(|r| r.vrm == t.vrm && !r.preview).count() {
                0 => missed += 1,
                1 => once += 1,
                n => {
                    once += 1;
                    duplicates += n - 1;
                }
            }
        }
        wrong += got
            .iter()
            .filter(|r| !truth.iter().any(|t| t.vrm == r.vrm))
            .count();
    }
    Outcome {
        cpu_pct,
        frames: sum(|c| c.frames.load(Ordering::Relaxed)),
        analysed: sum(|c| c.analysed.load(Ordering::Relaxed)),
        skipped: sum(|c| c.skipped.load(Ordering::Relaxed)),
        dropped: sum(|c| c.dropped.load(Ordering::Relaxed)),
        peak_rss_mb: peak_rss_kb() as f64 / 1024.0,
        start_rss_mb,
        vehicles,
        once,
        duplicates,
        wrong,
        missed,
        latency_p50: stats.store_latency.percentile(50.0),
        latency_p99: stats.store_latency.percentile(99.0),
    }
}

/// User plus system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(usage.user_time()) + secs(usage.system_time())
}

/// Peak resident set size since the last reset (VmHWM), in KiB.
fn peak_rss_kb() -> u64 {
    status_kb("VmHWM:")
}

/// A KiB figure from /proc/self/status (`field` with its colon).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS, so each run reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
