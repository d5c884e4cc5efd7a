//! Durable appends of ~300-byte reads: the spool (framing, index, cap
//! accounting, one flush per group) against raw sled insert + flush with the
//! same values and the same grouping, measured in the same run.
//! Target: the spool at ≥ 50 % of raw sled.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use anprd::spool::frame;

fn main() {
    let full = common::full_run();
    let n = if full { 20_000 } else { 512 };
    println!("durable appends of {n} reads (~300 bytes), one flush per group");
    println!(
        "{:>6} {:>14} {:>14} {:>7}",
        "group", "raw sled/s", "spool/s", "ratio"
    );
    let mut worst: f64 = f64::MAX;
    for group in [1usize, 16, 256] {
        let count = if group == 1 { n / 8 } else { n };
        let reads: Vec<_> = (0..count).map(common::small_read).collect();
        let framed: Vec<Vec<u8>> = reads.iter().map(|r| frame::encode(r).unwrap()).collect();

        // Alternate, best of two each, so neither side gets only the cold start.
        let (mut raw, mut ours) = (0f64, 0f64);
        for _ in 0..2 {
            raw = raw.max(raw_sled(&framed, group));
            ours = ours.max(spool(&reads, group));
        }
        let ratio = ours / raw;
        worst = worst.min(ratio);
        println!(
            "{group:>6} {raw:>14.0} {ours:>14.0} {:>6.0}%",
            ratio * 100.0
        );
    }
    println!(
        "worst ratio spool/raw: {:.0}% (target ≥ 50%)",
        worst * 100.0
    );
}

/// Raw sled: the same framed values, one batch and one flush per group.
fn raw_sled(framed: &[Vec<u8>], group: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("raw"))
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let tree = db.open_tree("reads").unwrap();
    let t = Instant::now();
    for (g, chunk) in framed.chunks(group).enumerate() {
        let mut batch = sled::Batch::default();
        for (i, v) in chunk.iter().enumerate() {
            batch.insert(&((g * group + i) as u64).to_be_bytes(), v.clone());
        }
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
    }
    common::per_s(framed.len(), t.elapsed())
}

/// The spool: framing, index and cap accounting included.
fn spool(reads: &[anprd::record::Read], group: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let spool = common::open_spool(dir.path());
    let t = Instant::now();
    for chunk in reads.chunks(group) {
        spool.append(chunk).unwrap();
    }
    let rate = common::per_s(reads.len(), t.elapsed());
    assert_eq!(spool.stats().pending, reads.len() as u64);
    rate
}
