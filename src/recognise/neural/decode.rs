//! Decoding the networks' outputs: plate peaks from the detector's maps,
//! text from the reader's per-column class probabilities (CTC).

use super::warp::quad_ok;

/// Channels of the detector's output maps.
pub(crate) const MAP_CHANNELS: usize = 10;
/// Input pixels per map cell, each way.
pub(crate) const STRIDE: f32 = 4.0;
/// Corner offsets are stored divided by this (input pixels).
pub(crate) const CORNER_SCALE: f32 = 32.0;
/// The reader's classes after the CTC blank (index 0).
pub(crate) const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One plate found by the detector, in detector input pixels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Peak {
    /// Plate-centre probability at the peak.
    pub score: f32,
    /// Probability that the plate has two lines of characters.
    pub two_line: f32,
    /// Clockwise from top left.
    pub corners: [[f32; 2]; 4],
}

impl Peak {
    /// Axis-aligned bounds of the corners: x0, y0, x1, y1.
    pub fn bounds(&self) -> [f32; 4] {
        let xs = self.corners.map(|c| c[0]);
        let ys = self.corners.map(|c| c[1]);
        let min = |v: [f32; 4]| v.into_iter().fold(f32::INFINITY, f32::min);
        let max = |v: [f32; 4]| v.into_iter().fold(f32::NEG_INFINITY, f32::max);
        [min(xs), min(ys), max(xs), max(ys)]
    }

    /// The quad grown about its centre by `dx` of its width along its own
    /// horizontal axis and `dy` of its height along its vertical one.
    pub fn widened(&self, dx: f32, dy: f32) -> [[f32; 2]; 4] {
        let [tl, tr, br, bl] = self.corners;
        // Half of each growth goes to each side: the top edge moves up by
        // dy/2 of the left or right edge, and so on.
        let grow = |p: [f32; 2], across: [f32; 2], along: [f32; 2]| {
            [
                p[0] + (p[0] - across[0]) * dx / 2.0 + (p[0] - along[0]) * dy / 2.0,
                p[1] + (p[1] - across[1]) * dx / 2.0 + (p[1] - along[1]) * dy / 2.0,
            ]
        };
        [
            grow(tl, tr, bl),
            grow(tr, tl, br),
            grow(br, bl, tr),
            grow(bl, br, tl),
        ]
    }
}

impl Peak {
    /// How many times wider than tall the quad is, along its own axes: the
    /// mean length of its top and bottom edges over that of its sides.
    pub fn aspect(&self) -> f32 {
        let [tl, tr, br, bl] = self.corners;
        let len = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
        let across = len(tl, tr) + len(bl, br);
        let down = len(tl, bl) + len(tr, br);
        if down > 0.0 {
            across / down
        } else {
            f32::INFINITY
        }
    }

    /// The quad moved along its own vertical axis by `dy` of its height
    /// (positive: down).
    pub fn shifted(&self, dy: f32) -> [[f32; 2]; 4] {
        let [tl, tr, br, bl] = self.corners;
        let down = |top: [f32; 2], bottom: [f32; 2]| {
            [(bottom[0] - top[0]) * dy, (bottom[1] - top[1]) * dy]
        };
        let (l, r) = (down(tl, bl), down(tr, br));
        let add = |p: [f32; 2], d: [f32; 2]| [p[0] + d[0], p[1] + d[1]];
        [add(tl, l), add(tr, r), add(br, r), add(bl, l)]
    }
}

/// The area two `[x0, y0, x1, y1]` boxes share.
fn intersection(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    w * h
}

/// The area of an `[x0, y0, x1, y1]` box.
pub(crate) fn area(r: [f32; 4]) -> f32 {
    (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes.
pub(crate) fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let inter = intersection(a, b);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// The share of box `a` that lies inside box `b` (`[x0, y0, x1, y1]`).
pub(crate) fn share_inside(a: [f32; 4], b: [f32; 4]) -> f32 {
    let own = area(a);
    if own > 0.0 {
        intersection(a, b) / own
    } else {
        0.0
    }
}

/// Plates in the detector's `maps` (`MAP_CHANNELS` planes of `mw`×`mh`):
/// cells of channel 0 above `threshold` that are local maxima of their 3×3
/// neighbourhood, within the first `valid_w`×`valid_h` cells (the scaled
/// frame; the zero padding is ignored). Strongest first; a peak whose box
/// overlaps a stronger kept one by IoU above `max_iou` is dropped, as are
/// peaks whose corners do not make a proper quad; at most `max` are kept.
#[allow(clippy::too_many_arguments)]
pub(crate) fn peaks(
    maps: &[f32],
    mw: usize,
    mh: usize,
    valid_w: usize,
    valid_h: usize,
    threshold: f32,
    max_iou: f32,
    max: usize,
) -> Vec<Peak> {
    let plane = mw * mh;
    if maps.len() < MAP_CHANNELS * plane {
        return Vec::new();
    }
    let (vw, vh) = (valid_w.min(mw), valid_h.min(mh));
    let centre = &maps[..plane];
    let mut found: Vec<(f32, usize, usize)> = Vec::new();
    for y in 0..vh {
        for x in 0..vw {
            let p = centre[y * mw + x];
            if p.is_nan() || p <= threshold {
                continue;
            }
            // Ties go to the first cell in scan order, so a plateau yields one.
            let mut is_max = true;
            'around: for ny in y.saturating_sub(1)..=(y + 1).min(vh - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(vw - 1) {
                    let q = centre[ny * mw + nx];
                    let earlier = (ny, nx) < (y, x);
                    if q > p || (earlier && q == p) {
                        is_max = false;
                        break 'around;
                    }
                }
            }
            if is_max {
                found.push((p, x, y));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Vec<Peak> = Vec::new();
    for (score, x, y) in found {
        if kept.len() >= max {
            break;
        }
        let at = |ch: usize| maps[ch * plane + y * mw + x];
        let (cx, cy) = ((x as f32 + 0.5) * STRIDE, (y as f32 + 0.5) * STRIDE);
        let corners: [[f32; 2]; 4] = std::array::from_fn(|i| {
            [
                cx + CORNER_SCALE * at(2 + 2 * i),
                cy + CORNER_SCALE * at(3 + 2 * i),
            ]
        });
        if !quad_ok(&corners) {
            continue;
        }
        let peak = Peak {
            score,
            two_line: at(1),
            corners,
        };
        let bounds = peak.bounds();
        if kept.iter().all(|k| iou(k.bounds(), bounds) <= max_iou) {
            kept.push(peak);
        }
    }
    kept
}

/// What [`ctc_greedy`] read from the reader's columns.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decoded {
    pub text: String,
    /// Each character's confidence: the highest probability among the
    /// columns that emitted it.
    pub confidence: Vec<f32>,
    /// Where each character stands across the strip, 0 (left edge) to 1
    /// (right edge): the middle of the columns that emitted it.
    pub at: Vec<f32>,
}

/// Greedy CTC decoding of `probs` (`columns` rows of `classes` values; class
/// 0 is the blank, class `1 + i` is `ALPHABET[i]`): the likeliest class per
/// column, repeats collapsed, blanks dropped. NaN counts as no probability
/// at all.
pub(crate) fn ctc_greedy(probs: &[f32], classes: usize) -> Decoded {
    let mut out = Decoded::default();
    if classes == 0 {
        return out;
    }
    let columns = probs.len() / classes;
    let middle = |first: usize, last: usize| (first + last + 1) as f32 / 2.0 / columns as f32;
    // The column where the character being emitted began.
    let mut began = 0;
    let mut prev = 0;
    for (t, column) in probs.chunks_exact(classes).enumerate() {
        let (best, p) = column.iter().enumerate().filter(|(_, p)| !p.is_nan()).fold(
            (0, f32::NEG_INFINITY),
            |(bi, bp), (i, &p)| {
                if p > bp { (i, p) } else { (bi, bp) }
            },
        );
        let p = p.clamp(0.0, 1.0);
        match ALPHABET.get(best.wrapping_sub(1)) {
            Some(&c) if best != prev => {
                out.text.push(char::from(c));
                out.confidence.push(p);
                out.at.push(middle(t, t));
                began = t;
            }
            Some(_) => {
                if let Some(last) = out.confidence.last_mut() {
                    *last = last.max(p);
                }
                if let Some(at) = out.at.last_mut() {
                    *at = middle(began, t);
                }
            }
            None => {} // the blank, or a class past the alphabet
        }
        prev = best;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MW: usize = 8;
    const MH: usize = 6;

    /// Maps with the given centre scores and every corner offset describing
    /// a 32×8 box around its cell.
    fn maps(scores: &[(usize, usize, f32)]) -> Vec<f32> {
        let plane = MW * MH;
        let mut m = vec![0.0; MAP_CHANNELS * plane];
        let offsets = [[-16.0, -4.0], [16.0, -4.0], [16.0, 4.0], [-16.0, 4.0]];
        for (i, [dx, dy]) in offsets.into_iter().enumerate() {
            m[(2 + 2 * i) * plane..(3 + 2 * i) * plane].fill(dx / CORNER_SCALE);
            m[(3 + 2 * i) * plane..(4 + 2 * i) * plane].fill(dy / CORNER_SCALE);
        }
        for &(x, y, s) in scores {
            m[y * MW + x] = s;
        }
        m
    }

    #[test]
    fn local_maxima_above_the_threshold_become_plates() {
        let m = maps(&[(1, 1, 0.9), (2, 1, 0.5), (6, 4, 0.6), (4, 4, 0.2)]);
        let p = peaks(&m, MW, MH, MW, MH, 0.3, 1.0, 8);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].score, 0.9);
        // Cell (1, 1) has its centre at (6, 6) input pixels.
        assert_eq!(
            p[0].corners,
            [[-10.0, 2.0], [22.0, 2.0], [22.0, 10.0], [-10.0, 10.0]]
        );
        assert_eq!(p[1].score, 0.6);
        assert_eq!(p[1].bounds(), [10.0, 14.0, 42.0, 22.0]);
    }

    #[test]
    fn widening_grows_a_quad_along_its_own_axes() {
        let level = Peak {
            score: 1.0,
            two_line: 0.0,
            corners: [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]],
        };
        assert_eq!(
            level.widened(0.1, 0.5),
            [[-5.0, -5.0], [105.0, -5.0], [105.0, 25.0], [-5.0, 25.0]]
        );
        // A plate turned a quarter turn grows along its own width (now y).
        let turned = Peak {
            corners: [[20.0, 0.0], [20.0, 100.0], [0.0, 100.0], [0.0, 0.0]],
            ..level
        };
        assert_eq!(
            turned.widened(0.1, 0.5),
            [[25.0, -5.0], [25.0, 105.0], [-5.0, 105.0], [-5.0, -5.0]]
        );
    }

    #[test]
    fn shifting_moves_a_quad_along_its_own_vertical_axis() {
        let level = Peak {
            score: 1.0,
            two_line: 0.0,
            corners: [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]],
        };
        assert_eq!(
            level.shifted(0.25),
            [[0.0, 5.0], [100.0, 5.0], [100.0, 25.0], [0.0, 25.0]]
        );
        // Turned a quarter turn (top edge now on the right): "down" is -x.
        let turned = Peak {
            corners: [[20.0, 0.0], [20.0, 100.0], [0.0, 100.0], [0.0, 0.0]],
            ..level
        };
        assert_eq!(
            turned.shifted(-0.5),
            [[30.0, 0.0], [30.0, 100.0], [10.0, 100.0], [10.0, 0.0]]
        );
    }

    #[test]
    fn overlapping_weaker_peaks_are_suppressed_and_the_count_capped() {
        // Cells two apart: boxes 32 wide shifted by 8 overlap with IoU 0.6.
        let m = maps(&[(1, 1, 0.9), (3, 1, 0.8), (1, 4, 0.7), (6, 4, 0.6)]);
        let p = peaks(&m, MW, MH, MW, MH, 0.3, 0.3, 8);
        let scores: Vec<f32> = p.iter().map(|p| p.score).collect();
        assert_eq!(scores, [0.9, 0.7, 0.6]);
        let p = peaks(&m, MW, MH, MW, MH, 0.3, 0.3, 2);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn plateaus_ties_nan_and_padding_yield_one_or_nothing() {
        let m = maps(&[(2, 2, 0.7), (3, 2, 0.7)]);
        assert_eq!(peaks(&m, MW, MH, MW, MH, 0.3, 1.0, 8).len(), 1);
        let m = maps(&[(2, 2, f32::NAN), (5, 2, 0.7)]);
        assert_eq!(peaks(&m, MW, MH, MW, MH, 0.3, 1.0, 8).len(), 1);
        // Outside the valid (scaled frame) area.
        let m = maps(&[(6, 4, 0.9)]);
        assert!(peaks(&m, MW, MH, 4, 4, 0.3, 1.0, 8).is_empty());
        assert!(peaks(&m[..10], MW, MH, MW, MH, 0.3, 1.0, 8).is_empty());
        assert!(peaks(&m, MW, MH, 0, 0, 0.3, 1.0, 8).is_empty());
    }

    #[test]
    fn degenerate_corners_are_skipped() {
        let mut m = maps(&[(1, 1, 0.9), (5, 3, 0.8)]);
        let plane = MW * MH;
        // Collapse the first plate's corners onto its centre.
        for ch in 2..10 {
            m[ch * plane + MW + 1] = 0.0;
        }
        m[2 * plane + 3 * MW + 5] = f32::INFINITY;
        assert!(peaks(&m, MW, MH, MW, MH, 0.3, 1.0, 8).is_empty());
    }

    fn columns(classes: &[usize], p: f32) -> Vec<f32> {
        let mut probs = vec![0.0; classes.len() * 37];
        for (t, &c) in classes.iter().enumerate() {
            probs[t * 37..(t + 1) * 37].fill((1.0 - p) / 36.0);
            probs[t * 37 + c] = p;
        }
        probs
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        // A B B _ B 1 1 _ _ → "AB B1" without the space.
        let (a, b, one) = (1 + 10, 1 + 11, 1 + 1);
        let mut probs = columns(&[a, b, b, 0, b, one, one, 0, 0], 0.9);
        probs[2 * 37 + b] = 0.95; // the second column of the first B
        let read = ctc_greedy(&probs, 37);
        assert_eq!(read.text, "ABB1");
        assert_eq!(read.confidence, [0.9, 0.95, 0.9, 0.9]);
        // Columns 0, 1–2, 4 and 5–6 of nine.
        let ninths = |c: f32| c / 9.0;
        assert_eq!(
            read.at,
            [ninths(0.5), ninths(2.0), ninths(4.5), ninths(6.0)]
        );
        assert_eq!(ctc_greedy(&columns(&[0; 32], 0.99), 37).text, "");
        assert_eq!(ctc_greedy(&[], 37).text, "");
        assert_eq!(ctc_greedy(&[0.5; 10], 0).text, "");
    }

    #[test]
    fn ctc_ignores_nan_and_clamps() {
        let mut probs = columns(&[1 + 35, 1 + 35], 0.8);
        probs[0..37].fill(f32::NAN);
        probs[37 + 36] = 1.5;
        let read = ctc_greedy(&probs, 37);
        assert_eq!(
            (read.text.as_str(), read.confidence.as_slice()),
            ("Z", &[1.0][..])
        );
    }

    #[test]
    fn iou_of_boxes() {
        assert_eq!(
            iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]),
            50.0 / 150.0
        );
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou([0.0; 4], [0.0; 4]), 0.0);
    }

    #[test]
    fn share_of_a_box_inside_another() {
        let large = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(share_inside([2.0, 2.0, 4.0, 4.0], large), 1.0);
        assert_eq!(share_inside(large, [2.0, 2.0, 4.0, 4.0]), 0.04);
        assert_eq!(share_inside([5.0, 0.0, 15.0, 10.0], large), 0.5);
        assert_eq!(share_inside([0.0; 4], large), 0.0);
    }
}
