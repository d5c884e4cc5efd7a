//! The daemon's memory through a network outage: does a backlog of unsent
//! reads stay on disk, or does it also stay resident?
//!
//! Reads of the size the pipeline makes (`common::full_size_read`: a 3 KB
//! plate patch and a 25 KB overview, incompressible) are stored with nothing sent; the
//! store is closed and opened again and the backlog walked, as after a
//! restart during the outage; then every read is acknowledged. The resident
//! memory (anonymous and total) is read after each step, with freed memory
//! handed back as the daemon does once a second.
//!
//! Two child processes, one after the other, so neither inherits the
//! other's heap: **the spool** (payloads in files beside sled, `payloads.rs`)
//! and, as the baseline, **sled alone** holding the same frames whole, as
//! the spool did before, with the spool's sled settings. It prints each
//! one's steps and the ratio of their peaks.

#[path = "common.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

use anprd::config::SpoolConfig;
use anprd::spool::Spool;

const CHILD: &str = "--store";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CHILD) {
        let n: usize = args[at + 2].parse().unwrap();
        let peak = match args[at + 1].as_str() {
            "spool" => outage(n, &mut SpoolStore::open()),
            _ => outage(n, &mut SledStore::open()),
        };
        println!("peak {peak}");
        return;
    }
    if common::answered_test_listing() {
        return;
    }
    let n = if common::full_run() {
        common::env_or("ANPRD_BENCH_READS", 20_000)
    } else {
        400
    };
    println!("{n} reads of ~28 KB stored unsent, the store reopened, then all acknowledged");
    let mut peaks = Vec::new();
    for (mode, name) in [("spool", "the spool"), ("sled", "sled alone (baseline)")] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([CHILD, mode, &n.to_string()])
            .output()
            .expect("run the child");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        println!("\n{name}: resident MB, anonymous / total");
        let mut peak = 0.0;
        for line in text.lines() {
            match line.strip_prefix("peak ") {
                Some(p) => peak = p.parse::<f64>().unwrap(),
                None => println!("{line}"),
            }
        }
        peaks.push(peak);
    }
    println!(
        "\npeak anonymous memory: the spool {:.1} MB, sled alone {:.1} MB ({:.3}x)",
        peaks[0],
        peaks[1],
        peaks[0] / peaks[1]
    );
    assert!(peaks.iter().all(|&p| p > 0.0), "both children measured");
}

/// What the outage needs of a store.
trait Store {
    fn append(&mut self, reads: &[anprd::record::Read]);
    fn reopen(&mut self);
    /// Walks the backlog as the forwarder does; returns how many reads.
    fn walk(&mut self) -> usize;
    /// Acknowledges the oldest `n`.
    fn acknowledge(&mut self, n: usize);
    fn pending(&self) -> usize;
}

/// Stores `n` reads, reopens, walks and acknowledges them; prints each step
/// and returns the peak anonymous resident memory, in MB.
fn outage(n: usize, store: &mut dyn Store) -> f64 {
    let step = (n / 10).max(1);
    let report = |what: &str, store: &dyn Store| {
        anprd::memory::release_free_memory();
        let (anon, total) = rss();
        println!(
            "  {what:<24} {anon:>9.1} {total:>9.1}   pending {:>6}",
            store.pending()
        );
        anon
    };
    let mut peak = report("opened", store);
    let t = Instant::now();
    let mut stored = 0;
    while stored < n {
        // The writer commits what arrived within 10 ms: a few reads at a time.
        let batch: Vec<_> = (stored..(stored + 4).min(n))
            .map(common::full_size_read)
            .collect();
        store.append(&batch);
        stored += batch.len();
        if stored % step == 0 {
            peak = peak.max(report(&format!("{stored} stored"), store));
        }
    }
    let store_s = t.elapsed().as_secs_f64();
    store.reopen();
    peak = peak.max(report("reopened with backlog", store));
    assert_eq!(store.walk(), n);
    peak = peak.max(report("backlog walked", store));
    store.acknowledge(n / 2);
    peak = peak.max(report(&format!("{} acknowledged", n / 2), store));
    store.acknowledge(n - n / 2);
    peak = peak.max(report(&format!("{n} acknowledged"), store));
    println!("  {:.0} reads/s stored", n as f64 / store_s);
    peak
}

struct SpoolStore {
    _dir: tempfile::TempDir,
    cfg: SpoolConfig,
    spool: Option<Spool>,
}

impl SpoolStore {
    fn open() -> SpoolStore {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            path: dir.path().join("spool"),
            max_bytes: 64 << 30,
            ..Default::default()
        };
        let spool = Some(Spool::open(&cfg).unwrap());
        SpoolStore {
            _dir: dir,
            cfg,
            spool,
        }
    }

    fn spool(&self) -> &Spool {
        self.spool.as_ref().unwrap()
    }
}

impl Store for SpoolStore {
    fn append(&mut self, reads: &[anprd::record::Read]) {
        self.spool().append(reads).unwrap();
    }
    fn reopen(&mut self) {
        self.spool = None;
        self.spool = Some(Spool::open(&self.cfg).unwrap());
    }
    fn walk(&mut self) -> usize {
        let mut after = None;
        let mut n = 0;
        while let Some((key, _)) = self.spool().next_after(after).unwrap() {
            after = Some(key);
            n += 1;
        }
        n
    }
    fn acknowledge(&mut self, n: usize) {
        for key in self.spool().keys().into_iter().take(n) {
            self.spool().remove(key).unwrap();
        }
        // As the writer does every second.
        self.spool().release_removed().unwrap();
    }
    fn pending(&self) -> usize {
        self.spool().stats().pending as usize
    }
}

/// The baseline: each read framed whole into one sled tree, with the cache
/// setting the spool gives sled, flushed per batch.
struct SledStore {
    dir: tempfile::TempDir,
    db: Option<sled::Db>,
    next: u64,
}

impl SledStore {
    fn open() -> SledStore {
        let dir = tempfile::tempdir().unwrap();
        let db = Some(Self::db(dir.path()));
        SledStore { dir, db, next: 0 }
    }

    fn db(dir: &std::path::Path) -> sled::Db {
        sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .unwrap()
    }

    fn db_ref(&self) -> &sled::Db {
        self.db.as_ref().unwrap()
    }
}

impl Store for SledStore {
    fn append(&mut self, reads: &[anprd::record::Read]) {
        let mut batch = sled::Batch::default();
        for r in reads {
            batch.insert(
                &self.next.to_be_bytes(),
                anprd::spool::frame::encode(r).unwrap(),
            );
            self.next += 1;
        }
        self.db_ref().apply_batch(batch).unwrap();
        self.db_ref().flush().unwrap();
    }
    fn reopen(&mut self) {
        self.db = None;
        self.db = Some(Self::db(self.dir.path()));
        // The spool indexes what it holds at open: one scan of the headers.
        for item in self.db_ref().iter() {
            let (_, v) = item.unwrap();
            anprd::spool::frame::decode_header(&v).unwrap();
        }
    }
    fn walk(&mut self) -> usize {
        let mut n = 0;
        for item in self.db_ref().iter() {
            anprd::spool::frame::decode(&item.unwrap().1).unwrap();
            n += 1;
        }
        n
    }
    fn acknowledge(&mut self, n: usize) {
        let keys: Vec<_> = self
            .db_ref()
            .iter()
            .keys()
            .take(n)
            .map(|k| k.unwrap())
            .collect();
        for k in keys {
            self.db_ref().remove(k).unwrap();
        }
        self.db_ref().flush().unwrap();
    }
    fn pending(&self) -> usize {
        self.db_ref().len()
    }
}

/// This process's resident memory in MB: anonymous, and in all.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("RssAnon:"), kb("VmRSS:"))
}
