//! The overview and plate patch encoders and redaction on frames of odd
//! sizes, boxes anywhere (partly or wholly outside the frame).
#![no_main]

use anprd::capture::{Chroma, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 37 {
        return;
    }
    let word = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
    let width = 1 + (word(0) % 700);
    let height = 1 + (word(4) % 500);
    let plate_box = [word(8), word(12), word(16), word(20)];
    let redact = [[word(24), word(28), word(32) % 4096, u32::from(data[36]) * 16]];
    let pixels = &data[37..];
    let at = |i: usize| pixels.get(i % pixels.len().max(1)).copied().unwrap_or(0);
    let n = (width * height) as usize;
    let c = (width.div_ceil(2) * height.div_ceil(2)) as usize;
    let mut frame = Frame {
        seq: 0,
        captured_at: 0,
        width,
        height,
        luma: (0..n).map(at).collect(),
        chroma: (data[36] % 2 == 0).then(|| Chroma {
            u: (0..c).map(|i| at(i + 1)).collect(),
            v: (0..c).map(|i| at(i + 2)).collect(),
        }),
    };
    anprd::imaging::redact(&mut frame, &redact);
    assert_eq!(frame.luma.len(), n);
    // Sizes are a best effort (noise does not compress to the budget);
    // an image there must always be.
    let snapshot = anprd::imaging::Snapshot::of(&frame, plate_box);
    assert!(!snapshot.overview_jpeg().is_empty());
    assert!(!snapshot.plate_jpeg().is_empty());
});
