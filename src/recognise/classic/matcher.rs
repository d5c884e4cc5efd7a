//! Character classification by normalised cross-correlation against
//! templates drawn from the plate glyphs.

use std::sync::OnceLock;

use super::{Gray, glyph_for};
use crate::plate::glyphs::{CHAR_HEIGHT_MM, CHARSET};

pub(crate) const PATCH_W: usize = 16;
pub(crate) const PATCH_H: usize = 24;
pub(crate) const PATCH_LEN: usize = PATCH_W * PATCH_H;
/// Sampled cell width over ink height: room for the widest glyph (W) with
/// the ink box centred, the same for templates and for characters read.
const CELL_W: f32 = 0.74;
/// Template renderings: character height in pixels, extra blur (pixels) and
/// sub-pixel phase (x, y). A distant plate's few pixels look different at
/// each phase, so small sizes get several.
const VARIANTS: [(f32, f32, f32, f32); 12] = [
    (96.0, 0.0, 0.0, 0.0),
    (32.0, 0.6, 0.0, 0.0),
    (24.0, 1.0, 0.0, 0.0),
    (18.0, 1.0, 0.5, 0.5),
    (15.0, 1.0, 0.0, 0.0),
    (15.0, 1.0, 0.5, 0.5),
    (13.0, 1.2, 0.0, 0.0),
    (13.0, 1.2, 0.5, 0.0),
    (13.0, 1.2, 0.0, 0.5),
    (13.0, 1.2, 0.5, 0.5),
    (11.0, 1.0, 0.0, 0.0),
    (11.0, 1.0, 0.5, 0.5),
];

type Templates = Vec<[[f32; PATCH_LEN]; VARIANTS.len()]>;

/// Templates are drawn once per process and shared by every recogniser
/// (one per recognition thread).
pub(crate) struct Matcher {
    templates: &'static Templates,
}

impl Matcher {
    pub fn new() -> Matcher {
        static TEMPLATES: OnceLock<Templates> = OnceLock::new();
        let templates = TEMPLATES.get_or_init(build_templates);
        Matcher { templates }
    }

    /// Correlation (−1…1) of a normalised patch with every character.
    pub fn scores(&self, patch: &[f32; PATCH_LEN]) -> [f32; 36] {
        let mut out = [-1f32; 36];
        for (k, variants) in self.templates.iter().enumerate() {
            for t in variants {
                let s: f32 = t.iter().zip(patch).map(|(a, b)| a * b).sum();
                out[k] = out[k].max(s);
            }
        }
        out
    }
}

fn build_templates() -> Templates {
    (0..CHARSET.len())
        .map(|k| {
            let mut t = [[0f32; PATCH_LEN]; VARIANTS.len()];
            for (v, &(height, blur, px, py)) in VARIANTS.iter().enumerate() {
                render_template(k, height, blur, (px, py), &mut t[v]);
            }
            t
        })
        .collect()
}

/// Draws character `k` with its ink `height` pixels tall and samples it like
/// a character found in a frame.
fn render_template(
    k: usize,
    height: f32,
    blur: f32,
    phase: (f32, f32),
    out: &mut [f32; PATCH_LEN],
) {
    let g = glyph_for(k);
    let mm_px = CHAR_HEIGHT_MM / height;
    let ramp = mm_px * (1.0 + blur);
    // Canvas: the glyph's ink bounds plus a margin of a quarter height.
    let pad = 0.25 * CHAR_HEIGHT_MM;
    let (ox, oy) = (
        g.bounds[0] - pad - phase.0 * mm_px,
        g.bounds[1] - pad - phase.1 * mm_px,
    );
    let w = ((g.bounds[2] - g.bounds[0] + 2.0 * pad) / mm_px).ceil() as usize;
    let h = ((g.bounds[3] - g.bounds[1] + 2.0 * pad) / mm_px).ceil() as usize;
    let mut data = vec![0u8; w * h];
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let cov = g.coverage(
                ox + (x as f32 + 0.5) * mm_px,
                oy + (y as f32 + 0.5) * mm_px,
                ramp,
            );
            // Same polarity as a plate: dark ink on a light ground.
            data[y * w + x] = (235.0 - 215.0 * cov).round() as u8;
            if cov >= 0.5 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    let img = Gray { data: &data, w, h };
    sample(&img, x0 as f32, y0 as f32, x1 as f32, y1 as f32, out);
}

/// Resamples the cell around ink box `x0..x1`, `y0..y1` (pixel edges) into a
/// zero-mean, unit-length patch. False if the box is degenerate or flat.
pub(crate) fn sample(
    img: &Gray,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    out: &mut [f32; PATCH_LEN],
) -> bool {
    let ch = y1 - y0;
    if ch < 2.0 || x1 <= x0 {
        return false;
    }
    let cw = ch * CELL_W;
    let left = (x0 + x1) * 0.5 - cw * 0.5;
    // Up to 3×3 taps per output cell: area-averages when shrinking.
    let taps = if ch > PATCH_H as f32 * 1.5 { 3 } else { 2 };
    let norm = 1.0 / (taps * taps) as f32;
    for oy in 0..PATCH_H {
        for ox in 0..PATCH_W {
            let mut acc = 0.0;
            for sy in 0..taps {
                let fy = y0 + (oy as f32 + (sy as f32 + 0.5) / taps as f32) * ch / PATCH_H as f32;
                for sx in 0..taps {
                    let fx =
                        left + (ox as f32 + (sx as f32 + 0.5) / taps as f32) * cw / PATCH_W as f32;
                    acc += bilinear(img, fx, fy);
                }
            }
            out[oy * PATCH_W + ox] = acc * norm;
        }
    }
    let mean = out.iter().sum::<f32>() / PATCH_LEN as f32;
    let mut len2 = 0.0;
    for v in out.iter_mut() {
        *v -= mean;
        len2 += *v * *v;
    }
    if len2 < 1e-3 {
        return false;
    }
    let inv = 1.0 / len2.sqrt();
    for v in out.iter_mut() {
        *v *= inv;
    }
    true
}

/// Bilinear sample at continuous position (pixel centres at +0.5), clamped.
pub(crate) fn bilinear(img: &Gray, x: f32, y: f32) -> f32 {
    let fx = (x - 0.5).clamp(0.0, (img.w - 1) as f32);
    let fy = (y - 0.5).clamp(0.0, (img.h - 1) as f32);
    let (ix, iy) = (fx as usize, fy as usize);
    let (ax, ay) = (fx - ix as f32, fy - iy as f32);
    let ix1 = (ix + 1).min(img.w - 1);
    let iy1 = (iy + 1).min(img.h - 1);
    let p = |x: usize, y: usize| img.data[y * img.w + x] as f32;
    let top = p(ix, iy) + (p(ix1, iy) - p(ix, iy)) * ax;
    let bot = p(ix, iy1) + (p(ix1, iy1) - p(ix, iy1)) * ax;
    top + (bot - top) * ay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_matches_itself_best() {
        let m = Matcher::new();
        for k in 0..CHARSET.len() {
            let mut p = [0f32; PATCH_LEN];
            render_template(k, 40.0, 0.5, (0.3, 0.2), &mut p);
            let s = m.scores(&p);
            let best = (0..36).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
            let c = CHARSET.as_bytes()[k] as char;
            let b = CHARSET.as_bytes()[best] as char;
            // O and 0 are twins in the typeface; position rules split them.
            assert!(
                best == k || matches!((c, b), ('O', '0') | ('0', 'O')),
                "{c} read as {b}"
            );
            assert!(s[k] > 0.9, "{c}: {}", s[k]);
        }
    }
}
