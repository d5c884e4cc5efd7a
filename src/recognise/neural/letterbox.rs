//! The frame scaled into the detector's input: one scale for both axes,
//! placed top left, the rest zero, pixels as byte / 255.
//!
//! Downscaling averages the source area each output pixel covers (so thin
//! strokes survive a factor of three); upscaling a small frame is bilinear.
//! Both are separable: a vertical pass over whole rows (which vectorises),
//! then a short horizontal one over the already narrowed row.

/// Resampling along one axis: output `i` is the sum over `j < k` of
/// `weight[i * k + j] * source[start[i] + j]`.
#[derive(Debug, Default, PartialEq)]
struct Taps {
    start: Vec<usize>,
    k: usize,
    weight: Vec<f32>,
}

impl Taps {
    /// `dst` outputs from `src` samples at scale `s` (output = source × s);
    /// the weights sum to `gain`.
    fn new(src: usize, dst: usize, s: f64, gain: f32) -> Taps {
        let mut lists: Vec<Vec<(usize, f64)>> = Vec::with_capacity(dst);
        for i in 0..dst {
            let mut list = Vec::new();
            if s < 1.0 {
                // Output pixel i covers [a, b) of the source.
                let (a, b) = (i as f64 / s, ((i + 1) as f64 / s).min(src as f64));
                let mut j = a.floor() as usize;
                while (j as f64) < b && j < src {
                    let cover = b.min(j as f64 + 1.0) - a.max(j as f64);
                    if cover > 1e-9 {
                        list.push((j, cover));
                    }
                    j += 1;
                }
            } else {
                let u = ((i as f64 + 0.5) / s - 0.5).clamp(0.0, (src - 1) as f64);
                let j = (u.floor() as usize).min(src - 1);
                let frac = u - j as f64;
                list.push((j, 1.0 - frac));
                if j + 1 < src && frac > 1e-9 {
                    list.push((j + 1, frac));
                }
            }
            if list.is_empty() {
                // Only past the source's end, which `size` never asks for.
                list.push((src - 1, 1.0));
            }
            lists.push(list);
        }
        let k = lists.iter().map(Vec::len).max().unwrap_or(1);
        let mut taps = Taps {
            start: Vec::with_capacity(dst),
            k,
            weight: vec![0.0; dst * k],
        };
        for (i, list) in lists.iter().enumerate() {
            // Every list fits in the source, so a window of k does too.
            let start = list[0].0.min(src - k);
            let total: f64 = list.iter().map(|&(_, w)| w).sum();
            for &(j, w) in list {
                taps.weight[i * k + j - start] = (w / total) as f32 * gain;
            }
            taps.start.push(start);
        }
        taps
    }
}

/// Where a frame lands in the detector input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Placement {
    /// Input pixels per frame pixel.
    pub scale: f64,
    /// The scaled frame's size in input pixels (the rest is zero).
    pub width: usize,
    pub height: usize,
}

/// The scale and scaled size of a `w`×`h` frame in an `out_w`×`out_h` input.
pub(crate) fn placement(w: usize, h: usize, out_w: usize, out_h: usize) -> Placement {
    let scale = (out_w as f64 / w as f64).min(out_h as f64 / h as f64);
    let size = |n: usize, max: usize| ((n as f64 * scale - 1e-6).ceil() as usize).clamp(1, max);
    Placement {
        scale,
        width: size(w, out_w),
        height: size(h, out_h),
    }
}

/// Letterboxes frames; keeps its resampling tables while the frame size
/// stays the same.
#[derive(Debug, Default)]
pub(crate) struct Letterbox {
    for_size: (usize, usize, usize, usize),
    place: Option<Placement>,
    cols: Taps,
    rows: Taps,
    row: Vec<f32>,
    /// Column sums of a band of rows, for whole-factor downscales.
    sums: Vec<u16>,
}

impl Letterbox {
    /// Writes the `w`×`h` luma plane into `out` (`out_w`×`out_h`, row major).
    /// The caller checks `luma.len() == w * h`, both non-zero.
    pub fn run(
        &mut self,
        luma: &[u8],
        w: usize,
        h: usize,
        out: &mut [f32],
        out_w: usize,
        out_h: usize,
    ) -> Placement {
        debug_assert_eq!(luma.len(), w * h);
        debug_assert_eq!(out.len(), out_w * out_h);
        let place = match self.place {
            Some(p) if self.for_size == (w, h, out_w, out_h) => p,
            _ => {
                let p = placement(w, h, out_w, out_h);
                self.cols = Taps::new(w, p.width, p.scale, 1.0);
                self.rows = Taps::new(h, p.height, p.scale, 1.0 / 255.0);
                self.for_size = (w, h, out_w, out_h);
                self.place = Some(p);
                p
            }
        };
        if let Some(k) = whole_factor(w, h, place) {
            box_average(luma, w, k, &mut self.sums, out, out_w, place);
            return place;
        }
        self.row.resize(w, 0.0);
        let (rows, cols, row) = (&self.rows, &self.cols, &mut self.row);
        for (y, out_row) in out.chunks_exact_mut(out_w).enumerate() {
            if y >= place.height {
                out_row.fill(0.0);
                continue;
            }
            // Vertical: the source rows this output row covers, weighted.
            row.fill(0.0);
            let weights = &rows.weight[y * rows.k..(y + 1) * rows.k];
            for (j, &wt) in weights.iter().enumerate() {
                if wt == 0.0 {
                    continue;
                }
                let at = (rows.start[y] + j) * w;
                for (acc, &px) in row.iter_mut().zip(&luma[at..at + w]) {
                    *acc += wt * f32::from(px);
                }
            }
            // Horizontal.
            let (scaled, pad) = out_row.split_at_mut(place.width);
            for (x, o) in scaled.iter_mut().enumerate() {
                let src = &row[cols.start[x]..cols.start[x] + cols.k];
                let wts = &cols.weight[x * cols.k..(x + 1) * cols.k];
                *o = src.iter().zip(wts).map(|(a, b)| a * b).sum();
            }
            pad.fill(0.0);
        }
        place
    }
}

/// The downscale factor when the frame shrinks by a whole one that divides
/// both sides (3 for 1080p and 2 for 720p into 640×384): each input pixel is
/// then the plain mean of a k×k block.
fn whole_factor(w: usize, h: usize, place: Placement) -> Option<usize> {
    let k = (1.0 / place.scale).round();
    let exact = (k * place.scale - 1.0).abs() < 1e-9;
    let k = k as usize;
    (exact
        && (2..=16).contains(&k)
        && w.is_multiple_of(k)
        && h.is_multiple_of(k)
        && w / k == place.width
        && h / k == place.height)
        .then_some(k)
}

/// The k×k block means of `luma` into `out`, in integers (a band's column
/// sums, then each block's): the same values as the general path's
/// weighted sums, at a fraction of the cost on the largest frames.
fn box_average(
    luma: &[u8],
    w: usize,
    k: usize,
    sums: &mut Vec<u16>,
    out: &mut [f32],
    out_w: usize,
    place: Placement,
) {
    // At most 16 rows of 255: column sums fit u16, block sums (k² × 255) u32.
    let scale = 1.0 / (255.0 * (k * k) as f32);
    sums.resize(w, 0);
    for (y, out_row) in out.chunks_exact_mut(out_w).enumerate() {
        if y >= place.height {
            out_row.fill(0.0);
            continue;
        }
        sums.fill(0);
        for row in luma[y * k * w..(y + 1) * k * w].chunks_exact(w) {
            for (s, &px) in sums.iter_mut().zip(row) {
                *s += u16::from(px);
            }
        }
        let (scaled, pad) = out_row.split_at_mut(place.width);
        for (o, block) in scaled.iter_mut().zip(sums.chunks_exact(k)) {
            let total: u32 = block.iter().map(|&v| u32::from(v)).sum();
            *o = total as f32 * scale;
        }
        pad.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(luma: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> (Vec<f32>, Placement) {
        let mut out = vec![f32::NAN; ow * oh];
        let p = Letterbox::default().run(luma, w, h, &mut out, ow, oh);
        (out, p)
    }

    #[test]
    fn placement_fits_the_tighter_axis() {
        let p = placement(1280, 720, 640, 384);
        assert_eq!((p.scale, p.width, p.height), (0.5, 640, 360));
        let p = placement(1920, 1080, 640, 384);
        assert_eq!((p.width, p.height), (640, 360));
        let p = placement(640, 480, 640, 384);
        assert_eq!((p.scale, p.width, p.height), (0.8, 512, 384));
        let p = placement(32, 32, 640, 384);
        assert_eq!((p.scale, p.width, p.height), (12.0, 384, 384));
        let p = placement(1, 5000, 640, 384);
        assert_eq!((p.width, p.height), (1, 384));
    }

    #[test]
    fn halving_averages_two_by_two_blocks_and_pads_with_zero() {
        // 4×2 frame into a 2×2 input: scale 0.5 → 2×1, rest zero.
        let luma = [0, 255, 51, 51, 255, 0, 51, 51];
        let (out, p) = boxed(&luma, 4, 2, 2, 2);
        assert_eq!((p.scale, p.width, p.height), (0.5, 2, 1));
        assert!((out[0] - 0.5).abs() < 1e-6, "{out:?}");
        assert!((out[1] - 0.2).abs() < 1e-6, "{out:?}");
        assert_eq!(&out[2..], &[0.0; 2]);
    }

    #[test]
    fn a_third_scale_averages_three_by_three() {
        let (w, h) = (9, 6);
        let luma: Vec<u8> = (0..w * h).map(|i| ((i % w) / 3 * 100) as u8).collect();
        let (out, p) = boxed(&luma, w, h, 3, 2);
        assert_eq!((p.width, p.height), (3, 2));
        for (i, v) in out.iter().enumerate() {
            let want = ((i % 3) * 100) as f32 / 255.0;
            assert!((v - want).abs() < 1e-5, "{i}: {v} vs {want}");
        }
    }

    #[test]
    fn whole_factors_take_the_integer_path_with_the_same_values() {
        for (w, h, k) in [(1920, 1080, 3), (1280, 720, 2), (96, 48, 3)] {
            let luma: Vec<u8> = (0..w * h)
                .map(|i| ((i * 7919 + i / w * 31) % 256) as u8)
                .collect();
            let p = placement(w, h, 640, 384);
            assert_eq!(whole_factor(w, h, p), (w > 100).then_some(k));
            let (fast, _) = boxed(&luma, w, h, 640, 384);
            // The general path, by its taps.
            let cols = Taps::new(w, p.width, p.scale, 1.0);
            let rows = Taps::new(h, p.height, p.scale, 1.0 / 255.0);
            for y in (0..p.height).step_by(7) {
                for x in (0..p.width).step_by(5) {
                    let mut want = 0.0f32;
                    for (j, &wy) in rows.weight[y * rows.k..(y + 1) * rows.k].iter().enumerate() {
                        for (i, &wx) in cols.weight[x * cols.k..(x + 1) * cols.k].iter().enumerate()
                        {
                            let px = luma[(rows.start[y] + j) * w + cols.start[x] + i];
                            want += wy * wx * f32::from(px);
                        }
                    }
                    let got = fast[y * 640 + x];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{w}x{h} at {x},{y}: {got} vs {want}"
                    );
                }
            }
            assert!(fast[p.height * 640..].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn uneven_scales_keep_flat_images_flat() {
        for (w, h) in [(1000, 500), (641, 100), (100, 200), (7, 3), (32, 32)] {
            let luma = vec![200u8; w * h];
            let (out, p) = boxed(&luma, w, h, 640, 384);
            for y in 0..384 {
                for x in 0..640 {
                    let v = out[y * 640 + x];
                    let want = if x < p.width && y < p.height {
                        200.0 / 255.0
                    } else {
                        0.0
                    };
                    assert!((v - want).abs() < 1e-5, "{w}x{h} at {x},{y}: {v}");
                }
            }
        }
    }

    #[test]
    fn upscaling_is_bilinear_between_pixel_centres() {
        // 2×1 → 4×2 (scale 2): centres at 0.5 and 2.5 of the output hold the
        // source values; 1.5 is a quarter of the way.
        let (out, _) = boxed(&[0, 255], 2, 1, 4, 2);
        let row = &out[..4];
        assert_eq!(row[0], 0.0);
        assert!((row[1] - 0.25).abs() < 1e-6 && (row[2] - 0.75).abs() < 1e-6);
        assert_eq!(row[3], 1.0);
        assert_eq!(&out[4..], row, "both output rows sample the one source row");
    }

    #[test]
    fn tables_follow_a_change_of_frame_size() {
        let mut lb = Letterbox::default();
        let mut out = vec![0.0; 8 * 4];
        lb.run(&[255; 16 * 8], 16, 8, &mut out, 8, 4);
        assert!(out.iter().all(|&v| v == 1.0));
        let p = lb.run(&[255; 4 * 4], 4, 4, &mut out, 8, 4);
        assert_eq!((p.width, p.height), (4, 4));
        assert_eq!(out[3], 1.0);
        assert_eq!(out[4], 0.0, "old content is cleared");
    }
}
