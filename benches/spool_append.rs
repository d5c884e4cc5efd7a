//! Durable appends of ~300-byte reads: the spool (framing, index, cap
//! accounting, one flush per group) against raw sled insert + flush with the
//! same values and the same grouping, measured in the same run.
//! Target: the spool at ≥ 50 % of raw sled.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use anprd::spool::frame;

fn main() {
    if common::answered_test_listing() {
        return;
    }
    let full = common::full_run();
    // Short interleaved rounds, median of each side: on a shared machine
    // fsync latency comes in bursts, and a burst then hits all sides alike.
    let (rounds, n) = if full { (9, 4_000) } else { (1, 256) };
    println!(
        "durable appends of ~300-byte reads, one flush per group; median of {rounds} interleaved rounds"
    );
    println!(
        "{:>6} {:>12} {:>15} {:>12} {:>7} {:>15}",
        "group", "raw sled/s", "raw+framing/s", "spool/s", "ratio", "ratio w/framing"
    );
    let mut worst: f64 = f64::MAX;
    for group in [1usize, 16, 256] {
        let count = if group == 1 { n / 10 } else { n };
        let (mut raw, mut raw_framing, mut ours) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let reads: Vec<_> = (0..count).map(common::small_read).collect();
            let framed: Vec<Vec<u8>> = reads.iter().map(|r| frame::encode(r).unwrap()).collect();
            raw.push(raw_sled(&framed, group, |v| v.clone()));
            // The one piece of work the spool does that raw sled is spared
            // above: Read → JSON payload → frame.
            raw_framing.push(raw_sled(&reads, group, |r| frame::encode(r).unwrap()));
            ours.push(spool(&reads, group));
        }
        let (raw, raw_framing, ours) = (median(raw), median(raw_framing), median(ours));
        let ratio = ours / raw;
        worst = worst.min(ratio);
        println!(
            "{group:>6} {raw:>12.0} {raw_framing:>15.0} {ours:>12.0} {:>6.0}% {:>14.0}%",
            ratio * 100.0,
            ours / raw_framing * 100.0
        );
    }
    println!(
        "worst ratio spool/raw: {:.0}% (target ≥ 50%)",
        worst * 100.0
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Raw sled: `value(item)` under sequential keys, one batch and one flush per group.
fn raw_sled<T>(items: &[T], group: usize, value: impl Fn(&T) -> Vec<u8>) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("raw"))
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let tree = db.open_tree("reads").unwrap();
    let t = Instant::now();
    for (g, chunk) in items.chunks(group).enumerate() {
        let mut batch = sled::Batch::default();
        for (i, item) in chunk.iter().enumerate() {
            batch.insert(&((g * group + i) as u64).to_be_bytes(), value(item));
        }
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
    }
    common::per_s(items.len(), t.elapsed())
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
