//! Procedural glyphs for A–Z and 0–9 in the spirit of the UK plate typeface.
//!
//! The statutory "Charles Wright 2001" face has no free copy, so each glyph is
//! drawn here from stroke centre-lines (straight segments and elliptical arcs
//! flattened to segments) swept by a round pen 14 mm wide, inside the 50 × 79 mm
//! character cell the regulations prescribe. Coverage is the pen's distance
//! field, which gives exact anti-aliasing at any size: plates and recogniser
//! templates are both drawn from it.

use std::sync::OnceLock;

/// Character height on the plate.
pub const CHAR_HEIGHT_MM: f32 = 79.0;
/// Character cell width (all characters share it, even the narrow 1 and I).
pub const CHAR_WIDTH_MM: f32 = 50.0;
/// Stroke width of the typeface.
pub const STROKE_MM: f32 = 14.0;
/// Every character a glyph exists for.
pub const CHARSET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// One character: stroke centre-lines in cell millimetres (x right, y down).
#[derive(Clone, Debug)]
pub struct Glyph {
    pub ch: char,
    segments: Vec<[f32; 4]>,
    /// Ink bounds in cell millimetres: x0, y0, x1, y1.
    pub bounds: [f32; 4],
}

impl Glyph {
    /// Ink coverage (0–1) of a pixel centred at (`x`, `y`) cell mm, for pixels
    /// `px_mm` millimetres wide.
    pub fn coverage(&self, x: f32, y: f32, px_mm: f32) -> f32 {
        let half = STROKE_MM * 0.5;
        let b = &self.bounds;
        if x < b[0] - px_mm || x > b[2] + px_mm || y < b[1] - px_mm || y > b[3] + px_mm {
            return 0.0;
        }
        let mut best = f32::MAX;
        for s in &self.segments {
            let d2 = seg_dist2(x, y, s);
            if d2 < best {
                best = d2;
            }
        }
        let d = best.sqrt() - half;
        (0.5 - d / px_mm).clamp(0.0, 1.0)
    }
}

fn seg_dist2(px: f32, py: f32, s: &[f32; 4]) -> f32 {
    let (dx, dy) = (s[2] - s[0], s[3] - s[1]);
    let (ex, ey) = (px - s[0], py - s[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        ((ex * dx + ey * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (ex - t * dx, ey - t * dy);
    qx * qx + qy * qy
}

/// The glyph for `c` (upper-case A–Z, 0–9), or `None`.
pub fn glyph(c: char) -> Option<&'static Glyph> {
    static TABLE: OnceLock<Vec<Glyph>> = OnceLock::new();
    let table = TABLE.get_or_init(|| CHARSET.chars().map(build).collect());
    let c = c.to_ascii_uppercase();
    table.iter().find(|g| g.ch == c)
}

// Stroke centre-line box: the pen is 14 mm, so centres sit 7 mm inside the cell.
const L: f32 = 7.0;
const R: f32 = 43.0;
const T: f32 = 7.0;
const B: f32 = 72.0;
const M: f32 = 39.5;
const CX: f32 = 25.0;

/// Collects centre-lines for one glyph.
struct Pen(Vec<[f32; 4]>);

impl Pen {
    fn line(&mut self, pts: &[(f32, f32)]) -> &mut Self {
        for w in pts.windows(2) {
            self.0.push([w[0].0, w[0].1, w[1].0, w[1].1]);
        }
        self
    }
    /// Elliptical arc from `a0` to `a1` degrees (0 = right, 90 = down).
    fn arc(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, a0: f32, a1: f32) -> &mut Self {
        let steps = (((a1 - a0).abs() / 12.0).ceil() as usize).max(2);
        let pts: Vec<(f32, f32)> = (0..=steps)
            .map(|i| {
                let a = (a0 + (a1 - a0) * i as f32 / steps as f32).to_radians();
                (cx + rx * a.cos(), cy + ry * a.sin())
            })
            .collect();
        self.line(&pts)
    }
    /// Stadium (rounded-end oval) spanning x0..x1, y0..y1 at stroke centres.
    fn stadium(&mut self, x0: f32, x1: f32, y0: f32, y1: f32) -> &mut Self {
        let r = (x1 - x0) * 0.5;
        let c = (x0 + x1) * 0.5;
        self.arc(c, y0 + r, r, r, 180.0, 360.0)
            .line(&[(x1, y0 + r), (x1, y1 - r)])
            .arc(c, y1 - r, r, r, 0.0, 180.0)
            .line(&[(x0, y1 - r), (x0, y0 + r)])
    }
}

fn build(ch: char) -> Glyph {
    let mut p = Pen(Vec::new());
    match ch {
        'A' => p
            .line(&[(L - 1.0, B), (CX, T), (R + 1.0, B)])
            .line(&[(13.5, 53.0), (36.5, 53.0)]),
        'B' => p
            .line(&[(L, B), (L, T), (27.0, T)])
            .arc(27.0, 23.25, 13.0, 16.25, -90.0, 90.0)
            .line(&[(27.0, M), (L, M)])
            .line(&[(L, B), (28.0, B)])
            .arc(28.0, 55.75, 15.0, 16.25, 90.0, -90.0)
            .line(&[(28.0, M), (27.0, M)]),
        'C' => p
            .arc(CX, T + 18.0, 18.0, 18.0, 340.0, 180.0)
            .line(&[(L, T + 18.0), (L, B - 18.0)])
            .arc(CX, B - 18.0, 18.0, 18.0, 180.0, 20.0),
        'D' => p
            .line(&[(L, T), (L, B), (24.0, B)])
            .arc(24.0, B - 19.0, 19.0, 19.0, 90.0, 0.0)
            .line(&[(R, B - 19.0), (R, T + 19.0)])
            .arc(24.0, T + 19.0, 19.0, 19.0, 0.0, -90.0)
            .line(&[(24.0, T), (L, T)]),
        'E' => p
            .line(&[(R, T), (L, T), (L, B), (R, B)])
            .line(&[(L, M), (R - 5.0, M)]),
        'F' => p
            .line(&[(R, T), (L, T), (L, B)])
            .line(&[(L, M), (R - 5.0, M)]),
        'G' => p
            .arc(CX, T + 18.0, 18.0, 18.0, 345.0, 180.0)
            .line(&[(L, T + 18.0), (L, B - 18.0)])
            .arc(CX, B - 18.0, 18.0, 18.0, 180.0, 0.0)
            .line(&[(R, B - 18.0), (R, 43.0), (27.0, 43.0)]),
        'H' => p
            .line(&[(L, T), (L, B)])
            .line(&[(R, T), (R, B)])
            .line(&[(L, M), (R, M)]),
        'I' => p.line(&[(CX, T), (CX, B)]),
        'J' => p
            .line(&[(R, T), (R, B - 17.0)])
            .arc(CX + 1.0, B - 17.0, 17.0, 17.0, 0.0, 165.0),
        'K' => p
            .line(&[(L, T), (L, B)])
            .line(&[(R, T), (L + 1.0, 50.0)])
            .line(&[(20.0, 37.0), (R + 1.0, B)]),
        'L' => p.line(&[(L, T), (L, B), (R, B)]),
        'M' => p.line(&[(L, B), (L, T), (CX, 48.0), (R, T), (R, B)]),
        'N' => p.line(&[(L, B), (L, T), (R, B), (R, T)]),
        'O' => p.stadium(L, R, T, B),
        'P' => p
            .line(&[(L, B), (L, T), (26.0, T)])
            .arc(26.0, 24.5, 17.0, 17.5, -90.0, 90.0)
            .line(&[(26.0, 42.0), (L, 42.0)]),
        'Q' => p
            .stadium(L, R, T, B)
            .line(&[(27.0, 55.0), (R + 1.0, B + 1.0)]),
        'R' => p
            .line(&[(L, B), (L, T), (26.0, T)])
            .arc(26.0, 24.5, 17.0, 17.5, -90.0, 90.0)
            .line(&[(26.0, 42.0), (L, 42.0)])
            .line(&[(22.0, 42.0), (R + 1.0, B)]),
        'S' => p
            .arc(CX, 23.0, 18.0, 16.0, 330.0, 90.0)
            .arc(CX, 55.5, 18.0, 16.5, -90.0, 150.0),
        'T' => p
            .line(&[(L - 2.0, T), (R + 2.0, T)])
            .line(&[(CX, T), (CX, B)]),
        'U' => p
            .line(&[(L, T), (L, B - 18.0)])
            .arc(CX, B - 18.0, 18.0, 18.0, 180.0, 0.0)
            .line(&[(R, B - 18.0), (R, T)]),
        'V' => p.line(&[(L - 1.0, T), (CX, B), (R + 1.0, T)]),
        'W' => p.line(&[(4.0, T), (14.0, B), (CX, 30.0), (36.0, B), (46.0, T)]),
        'X' => p.line(&[(L, T), (R, B)]).line(&[(R, T), (L, B)]),
        'Y' => p
            .line(&[(L - 1.0, T), (CX, 40.0), (R + 1.0, T)])
            .line(&[(CX, 40.0), (CX, B)]),
        'Z' => p.line(&[(L, T), (R, T), (L, B), (R, B)]),
        '0' => p.stadium(9.0, 41.0, T, B),
        '1' => p.line(&[(13.0, 21.0), (30.0, T), (30.0, B)]),
        '2' => p.arc(CX, 24.0, 18.0, 17.0, 180.0, 390.0).line(&[
            (CX + 18.0 * 0.866, 24.0 + 17.0 * 0.5),
            (L, B),
            (R + 1.0, B),
        ]),
        '3' => p
            .arc(CX, 23.0, 17.0, 16.0, 200.0, 450.0)
            .arc(CX, 55.5, 18.0, 16.5, 270.0, 520.0),
        '4' => p.line(&[(33.0, B), (33.0, T), (L - 1.0, 51.0), (R + 2.0, 51.0)]),
        '5' => p
            .line(&[(R, T), (L + 1.0, T), (L + 1.0, 37.0), (24.0, 37.0)])
            .arc(24.0, 54.5, 19.0, 17.5, -90.0, 150.0),
        '6' => p
            .arc(CX, 54.0, 18.0, 18.0, 0.0, 360.0)
            .line(&[(L, 54.0), (L, T + 18.0)])
            .arc(CX, T + 18.0, 18.0, 18.0, 180.0, 330.0),
        '7' => p.line(&[(L, T), (R, T), (19.0, B)]),
        '8' => p
            .arc(CX, 23.0, 16.0, 16.0, 0.0, 360.0)
            .arc(CX, 55.5, 18.0, 16.5, 0.0, 360.0),
        '9' => p
            .arc(CX, 25.0, 18.0, 18.0, 0.0, 360.0)
            .line(&[(R, 25.0), (R, B - 18.0)])
            .arc(CX, B - 18.0, 18.0, 18.0, 0.0, 150.0),
        _ => unreachable!("glyph table covers CHARSET only"),
    };
    let segments = p.0;
    let half = STROKE_MM * 0.5;
    let mut bounds = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for s in &segments {
        bounds[0] = bounds[0].min(s[0].min(s[2]) - half);
        bounds[1] = bounds[1].min(s[1].min(s[3]) - half);
        bounds[2] = bounds[2].max(s[0].max(s[2]) + half);
        bounds[3] = bounds[3].max(s[1].max(s[3]) + half);
    }
    Glyph {
        ch,
        segments,
        bounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a glyph into a `w`×`h` coverage bitmap over its whole cell.
    fn bitmap(g: &Glyph, w: usize, h: usize) -> Vec<f32> {
        let px = CHAR_HEIGHT_MM / h as f32;
        let mut out = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let xm = (x as f32 + 0.5) * CHAR_WIDTH_MM / w as f32;
                let ym = (y as f32 + 0.5) * px;
                out[y * w + x] = g.coverage(xm, ym, px);
            }
        }
        out
    }

    #[test]
    fn every_character_has_a_glyph_inside_its_cell() {
        for c in CHARSET.chars() {
            let g = glyph(c).unwrap_or_else(|| panic!("no glyph for {c}"));
            let b = g.bounds;
            assert!(
                b[0] >= -3.5 && b[2] <= CHAR_WIDTH_MM + 3.5,
                "{c} width {b:?}"
            );
            assert!(
                b[1] >= -0.5 && b[3] <= CHAR_HEIGHT_MM + 1.5,
                "{c} height {b:?}"
            );
            // Full height: the typeface has no descenders or short letters.
            assert!(b[3] - b[1] > 75.0, "{c} too short {b:?}");
            let bm = bitmap(g, 25, 40);
            let ink: f32 = bm.iter().sum::<f32>() / bm.len() as f32;
            assert!((0.12..0.75).contains(&ink), "{c} ink {ink}");
        }
        assert!(glyph('a').is_some());
        assert!(glyph('-').is_none());
    }

    #[test]
    fn glyphs_are_distinct() {
        let maps: Vec<(char, Vec<f32>)> = CHARSET
            .chars()
            .map(|c| (c, bitmap(glyph(c).unwrap(), 25, 40)))
            .collect();
        for (i, (a, ma)) in maps.iter().enumerate() {
            for (b, mb) in &maps[i + 1..] {
                let diff: f32 =
                    ma.iter().zip(mb).map(|(x, y)| (x - y).abs()).sum::<f32>() / ma.len() as f32;
                // O and 0 differ only in width, as on real plates.
                let floor = if (*a, *b) == ('O', '0') { 0.02 } else { 0.05 };
                assert!(diff > floor, "{a} and {b} look alike ({diff})");
            }
        }
    }

    #[test]
    fn coverage_is_antialiased() {
        let g = glyph('I').unwrap();
        assert_eq!(g.coverage(CX, M, 1.0), 1.0);
        assert_eq!(g.coverage(2.0, M, 1.0), 0.0);
        let edge = g.coverage(CX + STROKE_MM * 0.5, M, 2.0);
        assert!(edge > 0.3 && edge < 0.7, "{edge}");
    }
}
