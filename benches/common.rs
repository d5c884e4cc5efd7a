//! Shared by the bench binaries: the reads they store and how they report.
#![allow(dead_code)]

use std::time::Duration;

use anprd::record::Read;
use uuid::Uuid;

/// `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and
/// then the benches run a small smoke version so they stay correct.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The environment variable `name` parsed, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A text read with a small plate patch: about 300 bytes stored.
pub fn small_read(i: usize) -> Read {
    Read {
        read_id: Uuid::now_v7(),
        gateway_id: "gw-bench".into(),
        camera_id: format!("cam-{:02}", i % 4),
        captured_at: anprd::record::now_millis(),
        vrm: format!("BE{:05}", i % 100_000),
        confidence: 0.93,
        char_confidence: vec![0.93; 7],
        plate_box: [512, 388, 164, 36],
        plate_jpeg: vec![],
        overview_jpeg: vec![],
        frames: 1,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

/// A read of the size the pipeline makes: a 3 KB plate patch and a 25 KB
/// overview, incompressible as JPEG is, a different pattern per read.
pub fn full_size_read(i: usize) -> Read {
    let mut r = small_read(i);
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ i as u64;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    r.plate_jpeg = noise(3_000);
    r.overview_jpeg = noise(25_000);
    r
}

/// A spool in `dir` with room for everything a bench stores.
pub fn open_spool(dir: &std::path::Path) -> anprd::spool::Spool {
    anprd::spool::Spool::open(&anprd::config::SpoolConfig {
        path: dir.join("spool"),
        max_bytes: 1 << 30,
        ..Default::default()
    })
    .unwrap()
}

pub fn per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Bytes under `path`, as the filesystem allocated them (what a disk holds).
pub fn disk_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else {
            total += m.blocks() * 512;
        }
    }
    total
}

pub fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Test runners (cargo nextest) first ask a test binary for its tests with
/// libtest's `--list`. As a test, a bench is one smoke test and has no
/// ignored ones. Returns true when that question was asked and answered.
pub fn answered_test_listing() -> bool {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--list") {
        return false;
    }
    if !args.iter().any(|a| a == "--ignored") {
        println!("smoke: test");
    }
    true
}
