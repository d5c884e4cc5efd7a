//! Grey-image operations that make rendered plates look photographed:
//! perspective warps, blur, noise, contrast, glare, shadows and JPEG.
//! Training and test data for the learned engines are built from these.

use super::{GrayImage, SplitMix64};

/// A 3×3 projective map, row major, applied as (x, y, 1) → (u/w, v/w).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography(pub [f32; 9]);

impl Homography {
    /// The map taking each `from[i]` to `to[i]`; None for degenerate quads.
    pub fn from_points(from: &[[f32; 2]; 4], to: &[[f32; 2]; 4]) -> Option<Homography> {
        // Eight equations in h0..h7 (h8 = 1), solved by Gaussian elimination.
        let mut a = [[0f64; 9]; 8];
        for i in 0..4 {
            let ([x, y], [u, v]) = (from[i].map(f64::from), to[i].map(f64::from));
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        for c in 0..8 {
            let p = (c..8).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
            if a[p][c].abs() < 1e-9 {
                return None;
            }
            a.swap(c, p);
            for r in 0..8 {
                if r != c {
                    let pivot = a[c];
                    let f = a[r][c] / pivot[c];
                    for (x, p) in a[r].iter_mut().zip(pivot).skip(c) {
                        *x -= f * p;
                    }
                }
            }
        }
        let mut h = [1f32; 9];
        for (i, row) in a.iter().enumerate() {
            h[i] = (row[8] / row[i]) as f32;
        }
        Some(Homography(h))
    }

    pub fn apply(&self, x: f32, y: f32) -> [f32; 2] {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        [
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        ]
    }
}

/// Bilinear sample; None outside the image.
fn sample(img: &GrayImage, x: f32, y: f32) -> Option<f32> {
    let (w, h) = (img.width as f32, img.height as f32);
    if !(x >= 0.0 && y >= 0.0 && x <= w - 1.0 && y <= h - 1.0) {
        return None;
    }
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = (
        (x0 + 1).min(img.width as usize - 1),
        (y0 + 1).min(img.height as usize - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |xx: usize, yy: usize| img.data[yy * img.width as usize + xx] as f32;
    let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
    let bot = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
    Some(top + (bot - top) * fy)
}

/// Pastes `src` into `dst` so that `src_quad` (points in `src`) lands on
/// `dst_quad` (points in `dst`); pixels of `src` outside it come along.
pub fn warp_into(
    dst: &mut GrayImage,
    src: &GrayImage,
    src_quad: &[[f32; 2]; 4],
    dst_quad: &[[f32; 2]; 4],
) -> Option<()> {
    let back = Homography::from_points(dst_quad, src_quad)?;
    let fwd = Homography::from_points(src_quad, dst_quad)?;
    // Where the whole source lands bounds the pixels to visit.
    let (sw, sh) = (src.width as f32, src.height as f32);
    let outline = [[0.0, 0.0], [sw, 0.0], [sw, sh], [0.0, sh]].map(|[x, y]| fwd.apply(x, y));
    let xs = outline.map(|p| p[0]);
    let ys = outline.map(|p| p[1]);
    let fold = |v: [f32; 4], f: fn(f32, f32) -> f32| v.into_iter().reduce(f).unwrap_or(0.0);
    let x0 = fold(xs, f32::min).floor().max(0.0) as u32;
    let y0 = fold(ys, f32::min).floor().max(0.0) as u32;
    let x1 = (fold(xs, f32::max).ceil().max(0.0) as u32).min(dst.width);
    let y1 = (fold(ys, f32::max).ceil().max(0.0) as u32).min(dst.height);
    for y in y0..y1 {
        for x in x0..x1 {
            let [u, v] = back.apply(x as f32 + 0.5, y as f32 + 0.5);
            if let Some(g) = sample(src, u - 0.5, v - 0.5) {
                dst.data[(y * dst.width + x) as usize] = g.round() as u8;
            }
        }
    }
    Some(())
}

/// The quad `corners` of `img` resampled to an upright `w`×`h` picture (the
/// reader's input). Outside the image reads as mid grey.
pub fn rectify(img: &GrayImage, corners: &[[f32; 2]; 4], w: u32, h: u32) -> Option<GrayImage> {
    let rect = [
        [0.0, 0.0],
        [w as f32, 0.0],
        [w as f32, h as f32],
        [0.0, h as f32],
    ];
    let map = Homography::from_points(&rect, corners)?;
    let mut out = GrayImage {
        width: w,
        height: h,
        data: vec![128; (w * h) as usize],
    };
    for y in 0..h {
        for x in 0..w {
            let [u, v] = map.apply(x as f32 + 0.5, y as f32 + 0.5);
            if let Some(g) = sample(img, u - 0.5, v - 0.5) {
                out.data[(y * w + x) as usize] = g.round() as u8;
            }
        }
    }
    Some(out)
}

/// Box blur of radius `r` horizontally and `ry` vertically (separable).
pub fn box_blur(img: &mut GrayImage, rx: usize, ry: usize) {
    let (w, h) = (img.width as usize, img.height as usize);
    let pass =
        |data: &mut Vec<u8>, len: usize, lines: usize, step: usize, stride: usize, r: usize| {
            if r == 0 {
                return;
            }
            let mut line = vec![0u32; len];
            for l in 0..lines {
                for (i, v) in line.iter_mut().enumerate() {
                    *v = data[l * stride + i * step] as u32;
                }
                for i in 0..len {
                    let (a, b) = (i.saturating_sub(r), (i + r).min(len - 1));
                    let s: u32 = line[a..=b].iter().sum();
                    data[l * stride + i * step] = (s / (b - a + 1) as u32) as u8;
                }
            }
        };
    pass(&mut img.data, w, h, 1, w, rx);
    pass(&mut img.data, h, w, w, 1, ry);
}

/// Horizontal motion blur: each pixel averages a run of `length` pixels
/// centred on it, the run's two end pixels weighed by the fraction of them
/// it covers, so a blur may be any length, 1.7 px as well as 9. A length of
/// 1 or less leaves the picture as it is. At the picture's edges the run is
/// cut short and the rest averaged, as [`box_blur`] does.
pub fn motion_blur(img: &mut GrayImage, length: f32) {
    if length.is_nan() || length <= 1.0 {
        return;
    }
    let half = length / 2.0;
    let reach = (half + 0.5).ceil() as usize;
    // Tap k pixels away covers what of its pixel lies within `half` of the centre.
    let weights: Vec<f32> = (0..=reach)
        .map(|k| (half + 0.5 - k as f32).clamp(0.0, 1.0))
        .collect();
    let w = img.width as usize;
    let mut line = vec![0f32; w];
    for row in img.data.chunks_exact_mut(w) {
        for (v, &p) in line.iter_mut().zip(row.iter()) {
            *v = p as f32;
        }
        for (x, out) in row.iter_mut().enumerate() {
            let (mut sum, mut total) = (0.0, 0.0);
            for (k, &wt) in weights.iter().enumerate() {
                let mut tap = |i: Option<usize>| {
                    if let Some(v) = i.and_then(|i| line.get(i)) {
                        sum += v * wt;
                        total += wt;
                    }
                };
                tap(Some(x + k));
                if k > 0 {
                    tap(x.checked_sub(k));
                }
            }
            *out = (sum / total).round() as u8;
        }
    }
}

/// Gaussian-like sensor noise of standard deviation `sigma` grey levels.
pub fn add_noise(img: &mut GrayImage, rng: &mut SplitMix64, sigma: f32) {
    for p in &mut img.data {
        // Sum of four uniforms: close enough to normal, cheap.
        let n = (0..4).map(|_| rng.unit()).sum::<f32>() - 2.0;
        *p = (*p as f32 + n * sigma * 1.73).round().clamp(0.0, 255.0) as u8;
    }
}

/// Maps every pixel through `f` (contrast, gain, IR look).
pub fn map_levels(img: &mut GrayImage, f: impl Fn(f32) -> f32) {
    let lut: Vec<u8> = (0..256)
        .map(|v| f(v as f32).round().clamp(0.0, 255.0) as u8)
        .collect();
    for p in &mut img.data {
        *p = lut[*p as usize];
    }
}

/// Darkens the side of the line through (x, y) with direction `angle` by
/// `factor`: the shadow of a bridge, a sign or the vehicle itself.
pub fn shadow(img: &mut GrayImage, x: f32, y: f32, angle: f32, factor: f32) {
    let (s, c) = angle.sin_cos();
    let w = img.width as usize;
    for (i, p) in img.data.iter_mut().enumerate() {
        let (px, py) = ((i % w) as f32 - x, (i / w) as f32 - y);
        if px * s - py * c > 0.0 {
            *p = (*p as f32 * factor) as u8;
        }
    }
}

/// A bright round highlight: sun or headlight glare.
pub fn glare(img: &mut GrayImage, x: f32, y: f32, radius: f32, strength: f32) {
    let w = img.width as usize;
    let r2 = radius * radius;
    let (x0, x1) = (
        (x - 3.0 * radius).max(0.0) as usize,
        ((x + 3.0 * radius) as usize).min(w),
    );
    let h = img.height as usize;
    let (y0, y1) = (
        (y - 3.0 * radius).max(0.0) as usize,
        ((y + 3.0 * radius) as usize).min(h),
    );
    for py in y0..y1 {
        for px in x0..x1 {
            let d2 = (px as f32 - x).powi(2) + (py as f32 - y).powi(2);
            let add = strength * (-d2 / r2).exp();
            let p = &mut img.data[py * w + px];
            *p = (*p as f32 + add).min(255.0) as u8;
        }
    }
}

/// Round trip through JPEG at `quality`: blocking and ringing like video.
pub fn jpeg_round_trip(img: &mut GrayImage, quality: u8) {
    let mut buf = Vec::new();
    let ok = jpeg_encoder::Encoder::new(&mut buf, quality)
        .encode(
            &img.data,
            img.width as u16,
            img.height as u16,
            jpeg_encoder::ColorType::Luma,
        )
        .is_ok();
    if !ok {
        return;
    }
    let mut d = jpeg_decoder::Decoder::new(&buf[..]);
    if let Ok(px) = d.decode()
        && px.len() == img.data.len()
    {
        img.data = px;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_blur_spreads_a_line_over_its_length() {
        let line = |length: f32| {
            let mut img = GrayImage {
                width: 21,
                height: 2,
                data: vec![0; 42],
            };
            img.data[10] = 210;
            img.data[31] = 210;
            motion_blur(&mut img, length);
            assert_eq!(img.data[..21], img.data[21..], "rows blur alike");
            img.data[..21].to_vec()
        };
        // Whole pixels: a box of that width, as box_blur(r) is for 2r + 1.
        let mut three = vec![0u8; 21];
        three[9..12].fill(70);
        assert_eq!(line(3.0), three);
        // Half a pixel more on each side: the neighbours get half a share.
        let four = line(4.0);
        assert_eq!(&four[8..13], &[26, 53, 53, 53, 26]);
        assert_eq!(four.iter().map(|&v| u32::from(v)).sum::<u32>(), 211);
        // A run no longer than one pixel leaves it alone.
        let mut one = vec![0u8; 21];
        one[10] = 210;
        assert_eq!(line(1.0), one);
        assert_eq!(line(0.0), one);
        assert_eq!(line(f32::NAN), one);
    }

    #[test]
    fn motion_blur_averages_what_is_there_at_the_edges() {
        let mut img = GrayImage {
            width: 4,
            height: 1,
            data: vec![200, 100, 100, 100],
        };
        motion_blur(&mut img, 3.0);
        // (200 + 100) / 2 at the left edge, (200 + 100 + 100) / 3 next to it.
        assert_eq!(img.data, [150, 133, 100, 100]);
    }

    #[test]
    fn homography_maps_corners_and_rectify_inverts_warp() {
        let from = [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]];
        let to = [[3.0, 2.0], [20.0, 4.0], [19.0, 12.0], [2.0, 9.0]];
        let h = Homography::from_points(&from, &to).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let p = h.apply(f[0], f[1]);
            assert!((p[0] - t[0]).abs() < 1e-3 && (p[1] - t[1]).abs() < 1e-3);
        }
        assert!(Homography::from_points(&from, &[[0.0, 0.0]; 4]).is_none());

        // A left-dark / right-bright card warped in and rectified back.
        let mut card = GrayImage {
            width: 40,
            height: 20,
            data: vec![0; 800],
        };
        for (i, p) in card.data.iter_mut().enumerate() {
            *p = if i % 40 < 20 { 30 } else { 220 };
        }
        let mut scene = GrayImage {
            width: 100,
            height: 60,
            data: vec![128; 6000],
        };
        let quad = [[20.0, 10.0], [80.0, 14.0], [78.0, 44.0], [22.0, 40.0]];
        let card_quad = [[0.0, 0.0], [40.0, 0.0], [40.0, 20.0], [0.0, 20.0]];
        warp_into(&mut scene, &card, &card_quad, &quad).unwrap();
        let back = rectify(&scene, &quad, 40, 20).unwrap();
        assert!(back.data[10 * 40 + 8] < 60 && back.data[10 * 40 + 32] > 190);
    }
}
