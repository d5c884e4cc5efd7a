//! Plate rectification: a perspective warp of the plate's quadrilateral in
//! the full-resolution frame to the reader's level rectangle.
//!
//! Coordinates are continuous: pixel `i` covers `[i, i + 1)`, its centre is
//! `i + 0.5`. The quad's corners map onto the rectangle's outer corners,
//! `(0, 0)`, `(W, 0)`, `(W, H)`, `(0, H)`; each output pixel samples the frame
//! bilinearly at the image of its centre, and is 0 where that falls outside
//! the frame. This is what Pillow's perspective transform does, which the
//! training data (training/synth.py) is rectified with.

/// The smallest quad worth reading, in square pixels.
const MIN_AREA: f32 = 16.0;

/// A plane projective map from the unit square onto a quad:
/// `(u, v) ↦ ((a u + b v + c) / (g u + h v + 1), (d u + e v + f) / (…))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Homography {
    m: [f64; 8],
}

impl Homography {
    /// The map taking the unit square's corners (clockwise from `(0, 0)`) to
    /// `quad`'s, or None for a quad that is not a proper convex one.
    pub fn square_to_quad(quad: &[[f32; 2]; 4]) -> Option<Homography> {
        if !quad_ok(quad) {
            return None;
        }
        let p = quad.map(|[x, y]| [f64::from(x), f64::from(y)]);
        let [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = p;
        let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let den = dx1 * dy2 - dx2 * dy1;
        if den.abs() < 1e-12 {
            return None;
        }
        let g = (sx * dy2 - dx2 * sy) / den;
        let h = (dx1 * sy - sx * dy1) / den;
        let m = [
            x1 - x0 + g * x1,
            x3 - x0 + h * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + h * y3,
            y0,
            g,
            h,
        ];
        m.iter().all(|v| v.is_finite()).then_some(Homography { m })
    }

    /// The image of `(u, v)`.
    #[inline]
    pub fn apply(&self, u: f64, v: f64) -> (f64, f64) {
        let [a, b, c, d, e, f, g, h] = self.m;
        let z = g * u + h * v + 1.0;
        ((a * u + b * v + c) / z, (d * u + e * v + f) / z)
    }
}

/// A quad worth warping: finite corners, convex, clockwise on screen (y
/// down) or anticlockwise (a mirrored plate still reads as something), with
/// no three corners in line and some area.
pub(crate) fn quad_ok(quad: &[[f32; 2]; 4]) -> bool {
    if !quad
        .iter()
        .flatten()
        .all(|v| v.is_finite() && v.abs() < 1e7)
    {
        return false;
    }
    let turn = |i: usize| {
        let [a, b, c] = [quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]];
        (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
    };
    let turns = [turn(0), turn(1), turn(2), turn(3)];
    let convex = turns.iter().all(|&t| t > 0.0) || turns.iter().all(|&t| t < 0.0);
    convex && quad_area(quad) >= MIN_AREA
}

/// The quad's area (shoelace), square pixels.
pub(crate) fn quad_area(quad: &[[f32; 2]; 4]) -> f32 {
    let mut twice = 0.0;
    for i in 0..4 {
        let ([x0, y0], [x1, y1]) = (quad[i], quad[(i + 1) % 4]);
        twice += x0 * y1 - x1 * y0;
    }
    twice.abs() / 2.0
}

/// The frame's luma plane (the classic engine's borrowed view).
pub(crate) type Luma<'a> = crate::recognise::classic::Gray<'a>;

/// Bilinear sample of `img` at continuous `(x, y)` as byte / 255: 0
/// outside the frame, neighbours clamped to it within the outermost half
/// pixel.
#[inline]
fn sample(img: &Luma, x: f64, y: f64) -> f32 {
    // Also false for NaN.
    let inside = (0.0..img.w as f64).contains(&x) && (0.0..img.h as f64).contains(&y);
    if !inside {
        return 0.0;
    }
    let fx = (x - 0.5).clamp(0.0, (img.w - 1) as f64);
    let fy = (y - 0.5).clamp(0.0, (img.h - 1) as f64);
    let (x0, y0) = (fx as usize, fy as usize);
    let (x1, y1) = ((x0 + 1).min(img.w - 1), (y0 + 1).min(img.h - 1));
    let (ax, ay) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
    let at = |x: usize, y: usize| f32::from(img.data[y * img.w + x]);
    let top = at(x0, y0) + ax * (at(x1, y0) - at(x0, y0));
    let bottom = at(x0, y1) + ax * (at(x1, y1) - at(x0, y1));
    (top + ay * (bottom - top)) / 255.0
}

/// Warps `quad` of `img` onto the `ow`×`oh` block of `out` (row stride
/// `stride`) starting at column `x0`. False, leaving `out` alone, when the
/// quad is not warpable.
pub(crate) fn warp(
    img: Luma,
    quad: &[[f32; 2]; 4],
    out: &mut [f32],
    stride: usize,
    x0: usize,
    ow: usize,
    oh: usize,
) -> bool {
    let Some(hom) = Homography::square_to_quad(quad) else {
        return false;
    };
    if img.w == 0 || img.h == 0 || img.data.len() < img.w * img.h || out.len() < stride * oh {
        return false;
    }
    for v in 0..oh {
        let fv = (v as f64 + 0.5) / oh as f64;
        let row = &mut out[v * stride + x0..v * stride + x0 + ow];
        for (u, o) in row.iter_mut().enumerate() {
            let (x, y) = hom.apply((u as f64 + 0.5) / ow as f64, fv);
            *o = sample(&img, x, y);
        }
    }
    true
}

/// The plate as the reader takes it: `quad` warped to `ow`×`oh`; a two-line
/// plate as its top half on the left, its bottom half on the right (each
/// side edge split at its midpoint). False when the quad is degenerate.
pub(crate) fn rectify(
    img: Luma,
    quad: &[[f32; 2]; 4],
    two_line: bool,
    out: &mut [f32],
    ow: usize,
    oh: usize,
) -> bool {
    if !quad_ok(quad) {
        return false;
    }
    if !two_line {
        return warp(img, quad, out, ow, 0, ow, oh);
    }
    let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    let [c0, c1, c2, c3] = *quad;
    let (right, left) = (mid(c1, c2), mid(c0, c3));
    let half = ow / 2;
    warp(img, &[c0, c1, right, left], out, ow, 0, half, oh)
        && warp(img, &[left, right, c2, c3], out, ow, half, ow - half, oh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_square_maps_onto_the_quad_corners() {
        let quad = [[10.0, 20.0], [110.0, 30.0], [105.0, 60.0], [12.0, 45.0]];
        let h = Homography::square_to_quad(&quad).unwrap();
        for ((u, v), [x, y]) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
            .into_iter()
            .zip(quad)
        {
            let (px, py) = h.apply(u, v);
            assert!(
                (px - f64::from(x)).abs() < 1e-9 && (py - f64::from(y)).abs() < 1e-9,
                "({u},{v}) -> ({px},{py}), want ({x},{y})"
            );
        }
        // A parallelogram is affine: the centre maps to the centre.
        let para = [[0.0, 0.0], [100.0, 10.0], [120.0, 40.0], [20.0, 30.0]];
        let (x, y) = Homography::square_to_quad(&para).unwrap().apply(0.5, 0.5);
        assert!((x - 60.0).abs() < 1e-9 && (y - 20.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_quads_are_refused() {
        let nan = [[f32::NAN, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let line = [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]];
        let point = [[5.0, 5.0]; 4];
        let bowtie = [[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]];
        let tiny = [[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [0.0, 3.0]];
        let dart = [[0.0, 0.0], [40.0, 0.0], [10.0, 5.0], [0.0, 40.0]];
        let huge = [[0.0, 0.0], [1e9, 0.0], [1e9, 1e9], [0.0, 1e9]];
        for q in [nan, line, point, bowtie, tiny, dart, huge] {
            assert!(!quad_ok(&q), "{q:?}");
            assert!(Homography::square_to_quad(&q).is_none(), "{q:?}");
            let mut out = vec![7.0; 8 * 4];
            let img = Luma {
                data: &[0; 16],
                w: 4,
                h: 4,
            };
            assert!(!rectify(img, &q, false, &mut out, 8, 4));
            assert!(out.iter().all(|&v| v == 7.0));
        }
        let ok = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]];
        assert!(quad_ok(&ok));
        let mirrored = [ok[1], ok[0], ok[3], ok[2]];
        assert!(quad_ok(&mirrored));
    }

    /// A frame whose pixel (x, y) holds `x + 10 y`.
    fn ramp(w: usize, h: usize) -> Vec<u8> {
        (0..w * h).map(|i| (i % w + 10 * (i / w)) as u8).collect()
    }

    #[test]
    fn an_axis_aligned_box_at_pixel_scale_is_copied() {
        let (w, h) = (10, 8);
        let data = ramp(w, h);
        let img = Luma { data: &data, w, h };
        // Pixels 2..8 × 3..6: corners on pixel edges.
        let quad = [[2.0, 3.0], [8.0, 3.0], [8.0, 6.0], [2.0, 6.0]];
        let mut out = vec![0.0; 6 * 3];
        assert!(rectify(img, &quad, false, &mut out, 6, 3));
        for v in 0..3 {
            for u in 0..6 {
                let want = f32::from(data[(3 + v) * w + 2 + u]) / 255.0;
                assert!((out[v * 6 + u] - want).abs() < 1e-6, "{u},{v}");
            }
        }
    }

    #[test]
    fn outside_the_frame_is_black_and_its_edge_half_pixel_clamped() {
        let data = [255; 16];
        let img = Luma {
            data: &data,
            w: 4,
            h: 4,
        };
        // Left half of the quad outside the frame.
        let quad = [[-4.0, 0.0], [4.0, 0.0], [4.0, 4.0], [-4.0, 4.0]];
        let mut out = vec![0.5; 8 * 4];
        assert!(rectify(img, &quad, false, &mut out, 8, 4));
        for row in out.chunks(8) {
            assert_eq!(row, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        }
    }

    #[test]
    fn a_two_line_plate_is_laid_side_by_side() {
        // Top half of the plate bright, bottom half dark.
        let (w, h) = (40, 20);
        let data: Vec<u8> = (0..w * h)
            .map(|i| if i / w < 10 { 255 } else { 0 })
            .collect();
        let img = Luma { data: &data, w, h };
        let quad = [[0.0, 0.0], [40.0, 0.0], [40.0, 20.0], [0.0, 20.0]];
        let (ow, oh) = (16, 4);
        let mut out = vec![0.5; ow * oh];
        assert!(rectify(img, &quad, true, &mut out, ow, oh));
        for v in 0..oh {
            for u in 0..ow {
                let want = if u < ow / 2 { 1.0 } else { 0.0 };
                assert_eq!(out[v * ow + u], want, "{u},{v}");
            }
        }
        // One line: the top rows are bright, the bottom dark.
        assert!(rectify(img, &quad, false, &mut out, ow, oh));
        assert_eq!((out[0], out[(oh - 1) * ow]), (1.0, 0.0));
    }
}
