//! Plates with a side band, read a second time with the band painted over.
//!
//! Many UK plates carry a band at their left end: a blue or green strip
//! with a national identifier (UK, GB, CYM …) and often a flag. In grey it
//! is a dark block as tall as the plate with a few light marks in it, and
//! the reader, which saw such bands in training, still sometimes reads one
//! as a character: generated picture 1291, `D81 WCC`, read `BD81WCC`, a
//! valid current-format mark, with the `B` as sure as the rest. So a strip
//! that starts with something shaped like a band is read a second time with
//! the band painted in the plate's ground, and the surer reading of the two
//! is kept with the plate's other readings (`choose.rs`), as for inverted
//! strips (`polarity.rs`).
//!
//! What tells a band from a bold first character (`B`, `D`, `X`) is its
//! height: a character leaves the plate's ground above and below it, a band
//! runs from the strip's top edge to its bottom. The thresholds were set on
//! the generated test set's banded and unbanded plates: the first try, which
//! only asked for a dark run of columns, painted over the `B` of
//! `BD90 KPT` and the `X` of `XZ25` and lost both plates.

/// A column belongs to a band when at least this share of its pixels is
/// darker than halfway between the strip's 5th and 95th percentiles.
const BAND_COLUMN: f32 = 0.6;
/// Up to this many lighter columns (the identifier's letters) may break a
/// band, each still at least [`LETTER_COLUMN`] dark.
const MAX_LETTER_RUN: usize = 4;
/// See [`MAX_LETTER_RUN`].
const LETTER_COLUMN: f32 = 0.3;
/// A band starts within this many columns of the strip's left edge (the
/// quad is widened by 6 % before it is read, so a little of what surrounds
/// the plate comes first).
const MAX_START: usize = 8;
/// A band's width in strip columns, of [`READ_W`](super::READ_W) = 128: the
/// UK band is 50 mm of a 520 mm plate, about 12 columns.
const WIDTH: std::ops::RangeInclusive<usize> = 6..=16;
/// A band carries light marks: a run of columns at least this dark on
/// average is a dark surround or shadow, not a band.
const MAX_MEAN_DARK: f32 = 0.95;
/// Share of a band's pixels in the strip's top and bottom [`EDGE_ROWS`] rows
/// that must be dark: a band is as tall as the plate, a character is not.
/// Measured: 0.93 for the band of picture 1291, 0.05–0.19 for the `BD` of
/// `BD90 KPT`.
const MIN_EDGE_DARK: f32 = 0.6;
/// See [`MIN_EDGE_DARK`].
const EDGE_ROWS: usize = 4;
/// After the band, within this many columns, a column at most
/// [`GROUND_COLUMN`] dark: the plate's ground between band and first
/// character. The band is painted over up to it.
const MAX_GAP_AFTER: usize = 6;
/// See [`MAX_GAP_AFTER`].
const GROUND_COLUMN: f32 = 0.15;
/// A strip whose 5th and 95th percentiles differ by less than this shows
/// too little to tell a band from anything else.
const MIN_CONTRAST: f32 = 0.1;

/// The `q` quantile of `values` (reordered).
fn quantile(values: &mut [f32], q: f32) -> f32 {
    let k = ((values.len() - 1) as f32 * q) as usize;
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Where the side band at the left of `strip` (`w` × `h` values, 0–1) ends:
/// the first column of plate ground after it. None when the strip does not
/// start with a band. `scratch` is reused between calls.
pub(super) fn band_end(strip: &[f32], w: usize, h: usize, scratch: &mut Vec<f32>) -> Option<usize> {
    if w <= MAX_START || h <= 2 * EDGE_ROWS || strip.len() != w * h {
        return None;
    }
    scratch.clear();
    scratch.extend_from_slice(strip);
    let dark = quantile(scratch, 0.05);
    let light = quantile(scratch, 0.95);
    if light - dark < MIN_CONTRAST {
        return None;
    }
    let mid = (dark + light) / 2.0;
    let is_dark = |x: usize, y: usize| strip[y * w + x] < mid;
    let column: Vec<f32> = (0..w)
        .map(|x| (0..h).filter(|&y| is_dark(x, y)).count() as f32 / h as f32)
        .collect();
    let start = (0..MAX_START).find(|&x| column[x] >= BAND_COLUMN)?;
    let mut end = start;
    loop {
        while end < w && column[end] >= BAND_COLUMN {
            end += 1;
        }
        // Lighter columns of the identifier's letters, then the band again.
        let letters = (end..w)
            .take(MAX_LETTER_RUN)
            .take_while(|&x| (LETTER_COLUMN..BAND_COLUMN).contains(&column[x]))
            .count();
        if letters > 0 && end + letters < w && column[end + letters] >= BAND_COLUMN {
            end += letters;
        } else {
            break;
        }
    }
    let width = end - start;
    if !WIDTH.contains(&width) {
        return None;
    }
    if column[start..end].iter().sum::<f32>() / width as f32 >= MAX_MEAN_DARK {
        return None;
    }
    let edge_rows: Vec<usize> = (0..EDGE_ROWS).chain(h - EDGE_ROWS..h).collect();
    let edge_dark = (start..end)
        .flat_map(|x| edge_rows.iter().map(move |&y| (x, y)))
        .filter(|&(x, y)| is_dark(x, y))
        .count();
    if (edge_dark as f32) < MIN_EDGE_DARK * (width * edge_rows.len()) as f32 {
        return None;
    }
    (end..(end + MAX_GAP_AFTER).min(w)).find(|&x| column[x] <= GROUND_COLUMN)
}

/// Appends to `strips` (strips of `w` × `h` values, one per entry of
/// `batch`) a copy of each that starts with a side band, the band painted in
/// the strip's ground (its 90th percentile), and to `batch` a copy of that
/// strip's entry, so that the copy is read for the same plate.
pub(super) fn add_unbanded<T: Clone>(
    strips: &mut Vec<f32>,
    (w, h): (usize, usize),
    batch: &mut Vec<T>,
    scratch: &mut Vec<f32>,
) {
    let len = w * h;
    let read = batch.len();
    strips.truncate(read * len);
    for k in 0..read {
        let strip = &strips[k * len..(k + 1) * len];
        let Some(end) = band_end(strip, w, h, scratch) else {
            continue;
        };
        scratch.clear();
        scratch.extend_from_slice(strip);
        let ground = quantile(scratch, 0.9);
        strips.extend_from_within(k * len..(k + 1) * len);
        let at = strips.len() - len;
        for row in strips[at..].chunks_exact_mut(w) {
            row[..end].fill(ground);
        }
        batch.push(batch[k].clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 128;
    const H: usize = 32;

    /// A light plate strip (0.9) with dark characters (0.1): 10 columns wide
    /// and rows 5–26 tall, 4 columns apart from column `first` on.
    fn plate(first: usize) -> Vec<f32> {
        let mut s = vec![0.9; W * H];
        let mut x0 = first;
        while x0 + 10 < W - 4 {
            for y in 5..27 {
                for x in [x0, x0 + 1, x0 + 8, x0 + 9] {
                    s[y * W + x] = 0.1;
                }
                if !(8..=23).contains(&y) {
                    s[y * W + x0..y * W + x0 + 10].fill(0.1);
                }
            }
            x0 += 14;
        }
        s
    }

    /// `plate(first)` with a band in columns `from..to`, full height, dark
    /// (0.2) with a light letter (0.8) in rows 8–23 of its columns
    /// from+3..from+7.
    fn banded(from: usize, to: usize, first: usize) -> Vec<f32> {
        let mut s = plate(first);
        for y in 0..H {
            for x in from..to {
                let letter = (8..24).contains(&y) && (from + 3..from + 7).contains(&x);
                s[y * W + x] = if letter { 0.8 } else { 0.2 };
            }
        }
        s
    }

    #[test]
    fn a_band_as_tall_as_the_plate_is_found_and_ends_at_the_ground_after_it() {
        let mut scratch = Vec::new();
        assert_eq!(band_end(&banded(3, 15, 19), W, H, &mut scratch), Some(15));
        assert_eq!(band_end(&banded(0, 12, 16), W, H, &mut scratch), Some(12));
    }

    #[test]
    fn a_bold_first_character_a_dark_surround_or_a_plain_plate_is_no_band() {
        let mut scratch = Vec::new();
        // Characters leave ground above and below them.
        assert_eq!(band_end(&plate(4), W, H, &mut scratch), None);
        let mut bold = plate(4);
        for y in 5..27 {
            bold[y * W + 4..y * W + 14].fill(0.1);
        }
        assert_eq!(band_end(&bold, W, H, &mut scratch), None);
        // Dark all through, with nothing light in it: what surrounds the plate.
        let mut surround = plate(24);
        for y in 0..H {
            surround[y * W..y * W + 12].fill(0.05);
        }
        assert_eq!(band_end(&surround, W, H, &mut scratch), None);
        // Too wide for a band.
        assert_eq!(band_end(&banded(2, 30, 34), W, H, &mut scratch), None);
        // Too narrow.
        assert_eq!(band_end(&banded(2, 6, 10), W, H, &mut scratch), None);
        // No contrast, nothing to tell.
        assert_eq!(band_end(&vec![0.5; W * H], W, H, &mut scratch), None);
        // A strip of the wrong size.
        assert_eq!(band_end(&[0.5; 8], W, H, &mut scratch), None);
    }

    #[test]
    fn a_banded_strip_is_read_again_with_the_band_painted_over() {
        let len = W * H;
        let (bare, band) = (plate(4), banded(3, 15, 19));
        let mut strips = [bare.clone(), band.clone()].concat();
        // Room left over from an earlier, larger batch is not read.
        strips.extend(std::iter::repeat_n(0.5, len));
        let mut batch = vec!['a', 'b'];
        add_unbanded(&mut strips, (W, H), &mut batch, &mut Vec::new());
        assert_eq!(batch, ['a', 'b', 'b']);
        assert_eq!(strips.len(), 3 * len);
        assert_eq!(&strips[len..2 * len], &band[..], "the strip itself is kept");
        let painted = &strips[2 * len..];
        for y in 0..H {
            assert!(
                painted[y * W..y * W + 15].iter().all(|&v| v == 0.9),
                "row {y}"
            );
            assert_eq!(
                painted[y * W + 15..(y + 1) * W],
                band[y * W + 15..(y + 1) * W]
            );
        }
    }
}
