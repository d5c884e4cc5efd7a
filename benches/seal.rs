//! What encryption at rest costs: sealing and opening read-sized values, and
//! spool appends with and without a key.
//!
//! `cargo bench --bench seal` reports MB/s and µs per read; run as a test
//! (`cargo test --benches`) it makes one small pass so the bench stays working.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use anprd::config::SpoolConfig;
use anprd::record::Read;
use anprd::seal::Sealer;
use anprd::spool::Spool;

/// A read the size of a real one: ~3 KB patch, ~25 KB overview.
fn read(n: usize) -> Read {
    Read {
        read_id: uuid::Uuid::now_v7(),
        gateway_id: "gw-bench".into(),
        camera_id: "cam-01".into(),
        captured_at: anprd::record::now_millis() - 3_600_000 + n as i64,
        vrm: "AB12CDE".into(),
        confidence: 0.9,
        char_confidence: vec![0.9; 7],
        plate_box: [1, 2, 3, 4],
        plate_jpeg: (0..3_000).map(|i| (i * 7 + n) as u8).collect(),
        overview_jpeg: (0..25_000).map(|i| (i * 13 + n) as u8).collect(),
        frames: 3,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

fn main() {
    if common::answered_test_listing() {
        return;
    }
    let n = if common::full_run() { 5_000 } else { 20 };
    let sealer = Sealer::with_key(&[3; 32]);
    let value = read(0).to_payload();

    let t = Instant::now();
    let mut sealed = Vec::new();
    for i in 0..n {
        sealed = sealer.seal(i as u64, value.clone());
    }
    let seal_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        assert!(sealer.open((n - 1) as u64, &sealed).is_ok());
    }
    let open_s = t.elapsed().as_secs_f64();
    let mb = (value.len() * n) as f64 / 1e6;
    println!(
        "seal: {} B values, {:.0} MB/s ({:.1} µs each); open: {:.0} MB/s ({:.1} µs each)",
        value.len(),
        mb / seal_s,
        seal_s * 1e6 / n as f64,
        mb / open_s,
        open_s * 1e6 / n as f64
    );

    let batch = 8;
    for (name, sealer) in [("clear", Sealer::clear()), ("sealed", sealer)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            path: dir.path().join("spool"),
            max_bytes: 4 << 30,
            ..SpoolConfig::default()
        };
        let spool = Spool::open_sealed(&cfg, sealer).unwrap();
        let reads: Vec<Read> = (0..n).map(read).collect();
        let t = Instant::now();
        for chunk in reads.chunks(batch) {
            spool.append(chunk).unwrap();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "spool append ({name}, flushed batches of {batch}): {:.0} reads/s ({:.0} µs per read)",
            n as f64 / s,
            s * 1e6 / n as f64
        );
        assert_eq!(spool.stats().pending, n as u64);
    }
}
