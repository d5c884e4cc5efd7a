//! Disk footprint of the spool through two long outages: does `max_bytes`
//! hold on disk? sled never shrinks its files, so what it uses after a big
//! backlog has drained is what matters for sizing the partition.
//!
//! Outage: N reads stored with nothing sent; drain: every read acknowledged
//! (removed) as the forwarder does on PUBACK. Reported at each step: pending
//! reads, the spool's accounted bytes, sled's own size_on_disk and the bytes
//! the files take on disk, against `max_bytes`.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use anprd::config::SpoolConfig;
use anprd::spool::Spool;

fn main() {
    if common::answered_test_listing() {
        return;
    }
    let full = common::full_run();
    println!("text reads (kept whole in sled)");
    outages(if full { 1_000_000 } else { 5_000 }, common::small_read);
    println!("\nreads with a 3 KB plate patch and a 25 KB overview (payloads in files)");
    outages(if full { 20_000 } else { 200 }, common::full_size_read);
}

/// Two outages of `n` reads made by `make`, each drained, under a cap the
/// outage passes (so the spool drops) and one it does not.
fn outages(n: usize, make: fn(usize) -> anprd::record::Read) {
    let frame = anprd::spool::frame::encode(&make(0)).unwrap().len() as u64 + 8;
    let caps = [
        ("cap below the outage", frame * n as u64 / 2),
        ("cap above the outage", frame * n as u64 * 2),
    ];
    println!("{n} reads per outage, ~{frame} bytes each as accounted");
    for (what, max_bytes) in caps {
        println!("\n{what}: max_bytes {:.1} MiB", common::mib(max_bytes));
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            path: dir.path().join("spool"),
            max_bytes,
            ..Default::default()
        };
        let spool = Spool::open(&cfg).unwrap();
        let report = |step: &str, spool: &Spool| {
            spool.flush().unwrap();
            let s = spool.stats();
            let disk = common::disk_bytes(&cfg.path);
            println!(
                "  {step:<22} pending {:>8}  accounted {:>8.1} MiB  on disk {:>8.1} MiB  ({:.2}x max_bytes)  dropped {}",
                s.pending,
                common::mib(s.bytes),
                common::mib(disk),
                disk as f64 / max_bytes as f64,
                s.dropped
            );
            disk
        };
        let mut peak = 0;
        for outage in 1..=2 {
            let t = Instant::now();
            let mut i = 0;
            while i < n {
                let chunk: Vec<_> = (i..(i + 256).min(n)).map(make).collect();
                spool.append(&chunk).unwrap();
                i += chunk.len();
            }
            let secs = t.elapsed().as_secs_f64();
            peak = peak.max(report(&format!("outage {outage} ({secs:.0} s)"), &spool));
            for key in spool.keys() {
                spool.remove(key).unwrap();
            }
            peak = peak.max(report(&format!("drained {outage}"), &spool));
        }
        drop(spool);
        let spool = Spool::open(&cfg).unwrap();
        peak = peak.max(report("reopened", &spool));
        println!(
            "  peak on disk {:.1} MiB = {:.2}x max_bytes",
            common::mib(peak),
            peak as f64 / max_bytes as f64
        );
    }
}
