//! Two-line plates: centring the quad on the gap between the lines.
//!
//! The reader takes a two-line plate as its upper half beside its lower half
//! ([`super::warp::rectify`]), split at the middle of the quad. The detector
//! errs most up and down, so a quad a tenth of the plate's height too low
//! splits the upper line's feet into the lower half and cuts the lower line.
//! The gap between the lines is in the pixels, though: a band of plate with
//! no character strokes, where rows change little from left to right. The
//! quad is moved along its own height so that its middle lies on that band.

use super::decode::Peak;
use super::warp::{Luma, warp};

/// Columns and rows of the grid the plate is sampled on.
const GRID_W: usize = 48;
const GRID_H: usize = 40;
/// The grid covers the quad's height and this share of it above and below.
const MARGIN: f32 = 0.2;
/// The gap is looked for this far (a share of the quad's height) either
/// side of the quad's middle (0.15 did as well on generated plates, 0.25 a
/// plate worse).
const REACH: f32 = 0.2;
// The search band stays two rows inside the grid (see `gap`).
const _: () = assert!((0.5 - REACH + MARGIN) / (1.0 + 2.0 * MARGIN) * GRID_H as f32 >= 2.0);
const _: () =
    assert!((0.5 + REACH + MARGIN) / (1.0 + 2.0 * MARGIN) * GRID_H as f32 <= GRID_H as f32 - 3.0);

/// The gap's rows must change less than this share of the lines' median
/// row, or the plate shows no clear gap and the quad is left as it was. On
/// 600 generated two-line plates 0.7–1.0 read one more exactly than 0.6 and
/// four more than 0.45.
const CLEAR: f32 = 0.8;

/// `peak` moved along its quad's own height so that the quad's middle lies
/// on the gap between a two-line plate's lines; `None` when no clear gap is
/// found. `grid` is scratch space kept between calls.
pub(crate) fn centred_on_gap(img: Luma, peak: &Peak, grid: &mut Vec<f32>) -> Option<Peak> {
    let gap = gap(img, peak, grid)?;
    Some(Peak {
        corners: peak.shifted(gap - 0.5),
        ..peak.clone()
    })
}

/// Where the gap between the lines lies, as a share of the quad's height
/// from its top edge.
fn gap(img: Luma, peak: &Peak, grid: &mut Vec<f32>) -> Option<f32> {
    // The quad grown by MARGIN of its height above and below.
    let grown = peak.widened(0.0, 2.0 * MARGIN);
    grid.clear();
    grid.resize(GRID_W * GRID_H, 0.0);
    if !warp(img, &grown, grid, GRID_W, 0, GRID_W, GRID_H) {
        return None;
    }
    // How much each row changes from left to right: high across characters,
    // low in the gap between lines (and above and below the plate).
    let change: Vec<f32> = grid
        .chunks_exact(GRID_W)
        .map(|row| row.windows(2).map(|p| (p[1] - p[0]).abs()).sum())
        .collect();
    // Smoothed over three rows, so one clean row inside a line is no gap.
    let smooth = |y: usize| (change[y - 1] + change[y] + change[y + 1]) / 3.0;
    let span = 1.0 + 2.0 * MARGIN;
    let row_at = |t: f32| ((t + MARGIN) / span * GRID_H as f32) as usize;
    let (first, last) = (row_at(0.5 - REACH), row_at(0.5 + REACH));
    let (row, least) = (first..=last)
        .map(|y| (y, smooth(y)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    // The lines themselves: the quad's rows outside the search band.
    let mut lines: Vec<f32> = (row_at(0.0)..first)
        .chain(last + 1..row_at(1.0))
        .map(|y| change[y])
        .collect();
    lines.sort_by(f32::total_cmp);
    let median = *lines.get(lines.len() / 2)?;
    // Also no gap when the rows are not numbers (`least` is NaN).
    if least.is_nan() || least >= CLEAR * median {
        return None;
    }
    // Between rows: the vertex of the parabola through the least row and
    // its neighbours (the search band stays two rows inside the grid).
    let (before, after) = (smooth(row - 1), smooth(row + 1));
    let curve = before - 2.0 * least + after;
    let offset = if curve > 0.0 {
        (0.5 * (before - after) / curve).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    Some(((row as f32 + 0.5 + offset) / GRID_H as f32) * span - MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `quad` ends up: centred on the gap, or as it was.
    fn centred(img: Luma, quad: [[f32; 2]; 4]) -> [[f32; 2]; 4] {
        let peak = Peak {
            score: 1.0,
            two_line: 1.0,
            corners: quad,
        };
        centred_on_gap(img, &peak, &mut Vec::new()).map_or(quad, |p| p.corners)
    }

    /// A `w`×`h` picture of a two-line plate: light plate from `top` to
    /// `bottom`, dark vertical strokes on rows of each line, a clean gap
    /// between them at `gap`.
    fn plate(w: usize, h: usize, top: usize, bottom: usize, gap: usize) -> Vec<u8> {
        let line = (bottom - top) * 2 / 5;
        let mut data = vec![60u8; w * h];
        for y in top..bottom {
            for x in 10..w - 10 {
                let in_line = (y > gap + 2 && y < gap + line) || (y + line > gap && y + 2 < gap);
                let stroke = in_line && (x / 4) % 2 == 0;
                data[y * w + x] = if stroke { 20 } else { 220 };
            }
        }
        data
    }

    #[test]
    fn a_quad_too_low_moves_up_onto_the_gap_and_a_centred_one_stays() {
        let (w, h) = (120, 120);
        let data = plate(w, h, 20, 100, 60);
        let img = Luma { data: &data, w, h };
        // Rows 32..112, its middle (72) 12 rows below the gap; and 20..100.
        for (top, bottom) in [(32.0, 112.0), (20.0, 100.0)] {
            let quad = [[8.0, top], [112.0, top], [112.0, bottom], [8.0, bottom]];
            let moved = centred(img, quad);
            let middle = (moved[0][1] + moved[3][1]) / 2.0;
            assert!(
                (middle - 60.0).abs() <= 2.5,
                "{top}..{bottom}: middle at {middle}"
            );
            // Along its height only, keeping its size.
            assert_eq!(moved[0][0], 8.0);
            assert!((moved[3][1] - moved[0][1] - 80.0).abs() < 1e-3);
        }
    }

    #[test]
    fn rendered_square_plates_are_split_between_their_lines() {
        use crate::plate::render::render_plate;
        use crate::plate::{PlateShape, PlateStyle, TwoLineSize};
        for (text, size) in [
            ("KD19WRT", TwoLineSize::Square285),
            ("AY64LMN", TwoLineSize::Motorcycle),
        ] {
            let style = PlateStyle {
                shape: PlateShape::TwoLine(size),
                ..PlateStyle::REAR
            };
            let plate = render_plate(text, style, 120).expect("renders").to_gray();
            let (pw, ph) = (plate.width as usize, plate.height as usize);
            // The plate on a dark frame, 40 px from each edge.
            let (m, w, h) = (40, pw + 80, ph + 80);
            let mut data = vec![50u8; w * h];
            for (y, row) in plate.data.chunks_exact(pw).enumerate() {
                data[(y + m) * w + m..(y + m) * w + m + pw].copy_from_slice(row);
            }
            let img = Luma { data: &data, w, h };
            let (x0, x1) = (m as f32, (m + pw) as f32);
            let plate_quad = [
                [x0, 40.0],
                [x1, 40.0],
                [x1, 40.0 + ph as f32],
                [x0, 40.0 + ph as f32],
            ];
            let on_gap = centred(img, plate_quad);
            let gap = (on_gap[0][1] + on_gap[3][1]) / 2.0;
            // A quad a tenth of the plate's height too high or too low.
            for off in [-0.1f32, 0.1] {
                let (y0, y1) = (40.0 + off * ph as f32, (40 + ph) as f32 + off * ph as f32);
                let quad = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
                let moved = centred(img, quad);
                let middle = (moved[0][1] + moved[3][1]) / 2.0;
                assert!(
                    (middle - gap).abs() < 0.04 * ph as f32,
                    "{text}, quad {off} of the height off: middle at {middle}, gap at {gap}"
                );
            }
            // The lines part near the plate's middle.
            let share = (gap - 40.0) / ph as f32;
            assert!(
                (0.4..0.6).contains(&share),
                "{text}: gap at {share} of the plate"
            );
        }
    }

    #[test]
    fn a_plate_with_no_gap_is_left_alone() {
        // Strokes on every row: nothing to centre on.
        let (w, h) = (120, 120);
        let data: Vec<u8> = (0..w * h)
            .map(|i| if (i % w / 4) % 2 == 0 { 20 } else { 220 })
            .collect();
        let img = Luma { data: &data, w, h };
        let quad = [[8.0, 32.0], [112.0, 32.0], [112.0, 112.0], [8.0, 112.0]];
        let peak = Peak {
            score: 1.0,
            two_line: 1.0,
            corners: quad,
        };
        assert_eq!(centred_on_gap(img, &peak, &mut Vec::new()), None);
    }
}
