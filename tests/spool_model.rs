//! The spool against a simple in-memory model (a FIFO of reads), under random
//! sequences of appends, acknowledgements, crash-and-reopen and cap pressure.
//!
//! What must hold after every step (docs/delivery.md):
//! - pending reads come back in append order, with their text intact;
//! - every read appended and not acknowledged is pending, or was dropped —
//!   and dropped reads are always the oldest (a prefix of the queue);
//! - images go before text: an overview before the plate patch, the oldest
//!   read's first; no read loses its text while any read keeps an image;
//! - the accounted size never passes `max_bytes`; counters add up.

use std::collections::VecDeque;

use anprd::config::SpoolConfig;
use anprd::record::Read;
use anprd::spool::Spool;
use proptest::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    /// Append this many reads, each with (overview, plate) image sizes.
    Append(Vec<(usize, usize)>),
    /// The broker acknowledged the pending read at this position (modulo).
    Ack(usize),
    /// The process goes away and the spool is opened again.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0usize..6000, 0usize..1500), 1..6).prop_map(Op::Append),
        2 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
    ]
}

fn read(i: usize, overview: usize, plate: usize) -> Read {
    Read {
        read_id: Uuid::now_v7(),
        gateway_id: "gw-model".into(),
        camera_id: format!("cam-{}", i % 3),
        captured_at: anprd::record::now_millis(),
        vrm: format!("MD{i:05}"),
        confidence: 0.8,
        char_confidence: vec![0.8; 7],
        plate_box: [1, 2, 3, 4],
        plate_jpeg: vec![0xaa; plate],
        overview_jpeg: vec![0xbb; overview],
        frames: 1,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

fn drain(spool: &Spool) -> Vec<(u64, Read)> {
    let mut out = Vec::new();
    let mut cursor = None;
    while let Some((k, e)) = spool.next_after(cursor).unwrap() {
        cursor = Some(k);
        out.push((k, Read::from_payload(&e.payload).unwrap()));
    }
    out
}

/// Compares the spool with the model, dropping from the model's front what
/// the spool dropped (it must be a prefix); returns how many were dropped.
fn check(spool: &Spool, model: &mut VecDeque<Read>, max_bytes: u64) -> Result<u64, TestCaseError> {
    let got = drain(spool);
    let stats = spool.stats();
    prop_assert!(stats.bytes <= max_bytes, "{} > {max_bytes}", stats.bytes);
    prop_assert_eq!(stats.pending as usize, got.len());
    let mut dropped = 0;
    while model.len() > got.len() {
        model.pop_front();
        dropped += 1;
    }
    prop_assert_eq!(model.len(), got.len());
    let mut image_seen = false;
    let mut overview_seen = false;
    for ((_, g), m) in got.iter().zip(model.iter()) {
        prop_assert_eq!(
            g.read_id,
            m.read_id,
            "order or dropped reads not the oldest"
        );
        prop_assert_eq!(
            (&g.vrm, &g.camera_id, g.captured_at),
            (&m.vrm, &m.camera_id, m.captured_at)
        );
        // Images are the originals or gone, never altered.
        prop_assert!(g.overview_jpeg.is_empty() || g.overview_jpeg == m.overview_jpeg);
        prop_assert!(g.plate_jpeg.is_empty() || g.plate_jpeg == m.plate_jpeg);
        // The plate patch goes only after the overview.
        prop_assert!(
            !(g.plate_jpeg.is_empty() && !m.plate_jpeg.is_empty() && !g.overview_jpeg.is_empty())
        );
        // Oldest first: scanning oldest to newest, a shed overview after a
        // kept one is a violation.
        let overview_shed = g.overview_jpeg.is_empty() && !m.overview_jpeg.is_empty();
        prop_assert!(
            !(overview_seen && overview_shed),
            "a newer overview shed before an older"
        );
        overview_seen |= !g.overview_jpeg.is_empty() && !m.overview_jpeg.is_empty();
        image_seen |= !g.overview_jpeg.is_empty() || !g.plate_jpeg.is_empty();
    }
    if dropped > 0 {
        // Whole reads go only when no image is left to shed.
        prop_assert!(!image_seen, "reads dropped while images were kept");
    }
    Ok(dropped)
}

/// Once removals are flushed, the payload files beside sled are no more
/// than one per pending read, and within the bytes the spool accounts.
fn payload_files_are_the_pending_reads(spool: &Spool) -> Result<(), TestCaseError> {
    let dir = spool.path().join("payloads");
    let sizes: Vec<u64> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    let s = spool.stats();
    prop_assert!(
        sizes.len() as u64 <= s.pending,
        "{} files, {} pending",
        sizes.len(),
        s.pending
    );
    prop_assert!(sizes.iter().sum::<u64>() <= s.bytes);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn the_spool_behaves_like_a_fifo_that_sheds_images_before_reads(
        max_kib in 8u64..64,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let max_bytes = max_kib * 1024;
        let cfg = SpoolConfig { path: dir.path().join("spool"), max_bytes, ..Default::default() };
        let mut spool = Spool::open(&cfg).unwrap();
        let mut model: VecDeque<Read> = VecDeque::new();
        let (mut n, mut dropped_total) = (0, 0);
        let mut dropped_before_reopen = 0;
        for op in ops {
            match op {
                Op::Append(sizes) => {
                    let reads: Vec<Read> = sizes.iter().map(|&(o, p)| { n += 1; read(n, o, p) }).collect();
                    match spool.append(&reads) {
                        Ok(()) => model.extend(reads),
                        Err(anprd::spool::SpoolError::TooLarge { .. }) => {}
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                }
                Op::Ack(i) => {
                    let keys = spool.keys();
                    if !keys.is_empty() {
                        let i = i % keys.len();
                        // The model is aligned after every step: key i is model[i].
                        prop_assert!(spool.remove(keys[i]).unwrap());
                        model.remove(i);
                    }
                }
                Op::Reopen => {
                    dropped_before_reopen += spool.stats().dropped;
                    drop(spool);
                    spool = Spool::open(&cfg).unwrap();
                    payload_files_are_the_pending_reads(&spool)?;
                }
            }
            dropped_total += check(&spool, &mut model, max_bytes)?;
        }
        spool.flush().unwrap();
        payload_files_are_the_pending_reads(&spool)?;
        prop_assert_eq!(dropped_before_reopen + spool.stats().dropped, dropped_total);
    }
}
