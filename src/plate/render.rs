//! Renders UK plates at any pixel size: one-line 520 × 111 mm plates, with
//! an optional national-identifier band at the left, and two-line square
//! plates (285 × 203, 279 × 203 and the 229 × 178 mm motorcycle plate).
//!
//! Layout follows the regulations: 79 mm characters in 50 mm cells, 11 mm
//! between characters, 33 mm between groups, text centred; square plates put
//! the mark's last group on a second line 19 mm below the first. Motorcycle
//! plates use 64 × 44 mm characters 10 mm apart, 13 mm between lines. Drawing
//! works in plate millimetres per destination pixel, so a plate can be drawn
//! straight into a video frame at a fractional position without resampling.

use super::glyphs::{self, CHAR_HEIGHT_MM, CHAR_WIDTH_MM, Glyph};
use crate::capture::{Chroma, Frame, UtcMillis};

/// Width of the one-line plate (the usual car plate).
pub const PLATE_WIDTH_MM: f32 = 520.0;
/// Height of the one-line plate.
pub const PLATE_HEIGHT_MM: f32 = 111.0;
/// Space between characters of one group.
pub const CHAR_GAP_MM: f32 = 11.0;
/// Space between groups ("AB12 CDE").
pub const GROUP_GAP_MM: f32 = 33.0;
/// Clear margin the text must keep from the plate edge.
const SIDE_MARGIN_MM: f32 = 11.0;
/// Width of the national-identifier band at the left of a one-line plate.
pub const BAND_WIDTH_MM: f32 = 50.0;

/// Plate background: white on the front of a vehicle, yellow on the rear;
/// black with silver characters on historic vehicles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateColour {
    White,
    Yellow,
    BlackSilver,
}

/// The plate's outline and how its lines run. Kept apart from the colour so
/// every colour can come in every shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateShape {
    /// 520 × 111 mm, one line of characters, optionally with a side band.
    OneLine { band: Option<SideBand> },
    /// A square plate (motorcycles, imports): the mark's groups on two lines.
    TwoLine(TwoLineSize),
}

/// The legal sizes of two-line plates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwoLineSize {
    /// 285 × 203 mm, full-size (79 mm) characters.
    Square285,
    /// 279 × 203 mm, full-size (79 mm) characters.
    Square279,
    /// 229 × 178 mm motorcycle plate: 64 mm characters in 44 mm cells.
    Motorcycle,
}

/// A coloured band at the left edge of a one-line plate: an emblem over the
/// national identifier in white letters. It narrows the room for characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SideBand {
    pub colour: BandColour,
    pub ident: NationalIdent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandColour {
    Blue,
    Green,
}

/// The letters printed in a side band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NationalIdent {
    Gb,
    Uk,
}

impl NationalIdent {
    pub fn letters(self) -> &'static str {
        match self {
            NationalIdent::Gb => "GB",
            NationalIdent::Uk => "UK",
        }
    }
}

impl PlateShape {
    /// The ordinary car plate: one line, no band.
    pub const ONE_LINE: PlateShape = PlateShape::OneLine { band: None };

    /// Outer width and height in millimetres.
    pub fn size_mm(self) -> (f32, f32) {
        match self {
            PlateShape::OneLine { .. } => (PLATE_WIDTH_MM, PLATE_HEIGHT_MM),
            PlateShape::TwoLine(TwoLineSize::Square285) => (285.0, 203.0),
            PlateShape::TwoLine(TwoLineSize::Square279) => (279.0, 203.0),
            PlateShape::TwoLine(TwoLineSize::Motorcycle) => (229.0, 178.0),
        }
    }

    pub fn is_two_line(self) -> bool {
        matches!(self, PlateShape::TwoLine(_))
    }

    fn band(self) -> Option<SideBand> {
        match self {
            PlateShape::OneLine { band } => band,
            PlateShape::TwoLine(_) => None,
        }
    }

    /// Character cell, spacing and line gap for this plate.
    fn metrics(self) -> Metrics {
        match self {
            PlateShape::TwoLine(TwoLineSize::Motorcycle) => Metrics {
                char_w: 44.0,
                char_h: 64.0,
                char_gap: 10.0,
                // Not in the rules (groups sit on separate lines): 33 mm scaled.
                group_gap: 27.0,
                line_gap: 13.0,
            },
            _ => Metrics {
                char_w: CHAR_WIDTH_MM,
                char_h: CHAR_HEIGHT_MM,
                char_gap: CHAR_GAP_MM,
                group_gap: GROUP_GAP_MM,
                line_gap: 19.0,
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Metrics {
    char_w: f32,
    char_h: f32,
    char_gap: f32,
    group_gap: f32,
    line_gap: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlateStyle {
    pub colour: PlateColour,
    /// A thin black border inside the plate edge (optional on UK plates).
    pub border: bool,
    pub shape: PlateShape,
}

impl PlateStyle {
    pub const FRONT: PlateStyle = PlateStyle {
        colour: PlateColour::White,
        border: false,
        shape: PlateShape::ONE_LINE,
    };
    pub const REAR: PlateStyle = PlateStyle {
        colour: PlateColour::Yellow,
        border: false,
        shape: PlateShape::ONE_LINE,
    };

    pub const HISTORIC: PlateStyle = PlateStyle {
        colour: PlateColour::BlackSilver,
        border: false,
        shape: PlateShape::ONE_LINE,
    };

    fn background(&self) -> [f32; 3] {
        match self.colour {
            PlateColour::White => [238.0, 240.0, 236.0],
            PlateColour::Yellow => [250.0, 204.0, 20.0],
            PlateColour::BlackSilver => [22.0, 22.0, 24.0],
        }
    }

    fn ink(&self) -> [f32; 3] {
        match self.colour {
            PlateColour::BlackSilver => [200.0, 202.0, 205.0],
            _ => [18.0, 18.0, 20.0],
        }
    }
}

/// Why a plate could not be drawn.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("plate text {text:?}: no glyph for {ch:?}")]
    UnknownChar { text: String, ch: char },
    #[error("plate text {0:?}: too long for the plate")]
    TooLong(String),
    #[error("plate text is empty")]
    Empty,
    #[error("plate width must be at least 8 pixels, got {0}")]
    TooNarrow(u32),
}

/// An 8-bit RGB picture, rows packed.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

/// An 8-bit grey picture, rows packed.
#[derive(Clone, Debug, PartialEq)]
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn new(width: u32, height: u32, fill: [u8; 3]) -> Self {
        let mut data = Vec::with_capacity(width as usize * height as usize * 3);
        for _ in 0..width as usize * height as usize {
            data.extend_from_slice(&fill);
        }
        RgbImage {
            width,
            height,
            data,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// BT.601 full-range luma: what a grey camera stream carries.
    pub fn to_gray(&self) -> GrayImage {
        let data = self
            .data
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect();
        GrayImage {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// The picture as a captured [`Frame`] with 4:2:0 chroma, as a camera
    /// source would hand it to recognition.
    pub fn to_frame(&self, seq: u64, captured_at: UtcMillis) -> Frame {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut u = vec![128u8; cw * ch];
        let mut v = vec![128u8; cw * ch];
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut r, mut g, mut b, mut n) = (0u32, 0u32, 0u32, 0u32);
                for y in (cy * 2)..(cy * 2 + 2).min(h) {
                    for x in (cx * 2)..(cx * 2 + 2).min(w) {
                        let i = (y * w + x) * 3;
                        r += self.data[i] as u32;
                        g += self.data[i + 1] as u32;
                        b += self.data[i + 2] as u32;
                        n += 1;
                    }
                }
                let (r, g, b) = (
                    r as f32 / n as f32,
                    g as f32 / n as f32,
                    b as f32 / n as f32,
                );
                u[cy * cw + cx] = (128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8;
                v[cy * cw + cx] = (128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
        Frame {
            seq,
            captured_at,
            width: self.width,
            height: self.height,
            luma: self.to_gray().data.into(),
            chroma: Some(Chroma {
                u: u.into(),
                v: v.into(),
            }),
        }
    }
}

pub(crate) fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 32768) >> 16) as u8
}

/// One character placed on a plate, in plate millimetres.
#[derive(Clone, Copy, Debug)]
pub struct PlacedChar {
    pub glyph: &'static Glyph,
    /// Left edge of its cell.
    pub left: f32,
    /// Top of its line of characters.
    pub top: f32,
    /// 0 for the top line, 1 for the second line of a two-line plate.
    pub line: usize,
}

/// Where each character of a plate sits, in plate millimetres.
#[derive(Clone, Debug)]
pub struct PlateLayout {
    pub cells: Vec<PlacedChar>,
    /// Cell width and character height (smaller on motorcycle plates).
    pub char_width: f32,
    pub char_height: f32,
    /// The plate's outer size.
    pub plate_width: f32,
    pub plate_height: f32,
}

/// Lays out `text` on a one-line plate (spaces split groups; see
/// [`super::plate_groups`]).
pub fn layout(text: &str) -> Result<PlateLayout, RenderError> {
    layout_shape(text, PlateShape::ONE_LINE)
}

/// Lays out `text` on a plate of `shape`. Two-line plates put the last group
/// on the second line ("AB12 CDE" → "AB12" over "CDE"); each line is centred
/// in the room the plate leaves for characters (right of a side band, if any).
pub fn layout_shape(text: &str, shape: PlateShape) -> Result<PlateLayout, RenderError> {
    let groups = super::plate_groups(text);
    if groups.iter().all(|g| g.is_empty()) {
        return Err(RenderError::Empty);
    }
    let m = shape.metrics();
    let (plate_w, plate_h) = shape.size_mm();
    let lines = if shape.is_two_line() {
        split_lines(groups)
    } else {
        vec![groups]
    };
    let (area0, area1) = match shape.band() {
        Some(_) => (BAND_WIDTH_MM, plate_w),
        None => (0.0, plate_w),
    };
    let n = lines.len() as f32;
    let block = n * m.char_h + (n - 1.0) * m.line_gap;
    let mut cells = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        let top = (plate_h - block) * 0.5 + li as f32 * (m.char_h + m.line_gap);
        let first = cells.len();
        let mut cursor = 0.0;
        for (gi, group) in line.iter().enumerate() {
            if gi > 0 {
                cursor += m.group_gap - m.char_gap;
            }
            for ch in group.chars() {
                let glyph = glyphs::glyph(ch).ok_or_else(|| RenderError::UnknownChar {
                    text: text.to_owned(),
                    ch,
                })?;
                cells.push(PlacedChar {
                    glyph,
                    left: cursor,
                    top,
                    line: li,
                });
                cursor += m.char_w + m.char_gap;
            }
        }
        let total = cursor - m.char_gap;
        if total > area1 - area0 - 2.0 * SIDE_MARGIN_MM {
            return Err(RenderError::TooLong(text.to_owned()));
        }
        let offset = area0 + (area1 - area0 - total) * 0.5;
        for c in &mut cells[first..] {
            c.left += offset;
        }
    }
    Ok(PlateLayout {
        cells,
        char_width: m.char_w,
        char_height: m.char_h,
        plate_width: plate_w,
        plate_height: plate_h,
    })
}

/// The two lines of a square plate: all groups but the last over the last
/// one; a single group is halved (the longer half on top).
fn split_lines(mut groups: Vec<String>) -> Vec<Vec<String>> {
    if groups.len() >= 2 {
        let last = groups.pop().unwrap_or_default();
        return vec![groups, vec![last]];
    }
    let g = groups.pop().unwrap_or_default();
    let n = g.chars().count();
    if n < 2 {
        return vec![vec![g]];
    }
    let top: String = g.chars().take(n.div_ceil(2)).collect();
    let bottom: String = g.chars().skip(n.div_ceil(2)).collect();
    vec![vec![top], vec![bottom]]
}

/// Renders a plate `width_px` wide (height follows the plate's shape).
pub fn render_plate(text: &str, style: PlateStyle, width_px: u32) -> Result<RgbImage, RenderError> {
    if width_px < 8 {
        return Err(RenderError::TooNarrow(width_px));
    }
    let (w_mm, h_mm) = style.shape.size_mm();
    let height = ((width_px as f32 * h_mm / w_mm).round() as u32).max(1);
    let mut img = RgbImage::new(width_px, height, [0, 0, 0]);
    draw_plate(&mut img, text, style, 0.0, 0.0, width_px as f32, 0.0)?;
    Ok(img)
}

/// The side band's drawing: band colour, an emblem (a ring of dots, standing
/// in for a flag) and the identifier in small white letters below it.
struct BandArt {
    colour: [f32; 3],
    letters: Vec<(&'static Glyph, f32)>,
}

/// Emblem ring centre, radius and dot radius, in plate mm.
const EMBLEM: (f32, f32, f32, f32) = (BAND_WIDTH_MM * 0.5, 36.0, 13.0, 2.6);
const EMBLEM_RGB: [f32; 3] = [255.0, 204.0, 0.0];
/// Identifier letters: glyphs scaled to 14 × 22 mm, 4 mm apart, top at 68 mm.
const IDENT_SCALE: f32 = 0.28;
const IDENT_TOP_MM: f32 = 68.0;
const IDENT_RGB: [f32; 3] = [250.0, 250.0, 250.0];

impl BandArt {
    fn new(band: SideBand) -> BandArt {
        let colour = match band.colour {
            BandColour::Blue => [0.0, 51.0, 153.0],
            BandColour::Green => [0.0, 132.0, 61.0],
        };
        let text = band.ident.letters();
        let (w, gap) = (CHAR_WIDTH_MM * IDENT_SCALE, 4.0);
        let n = text.chars().count() as f32;
        let left = (BAND_WIDTH_MM - (n * w + (n - 1.0) * gap)) * 0.5;
        let letters = text
            .chars()
            .enumerate()
            .filter_map(|(i, c)| glyphs::glyph(c).map(|g| (g, left + i as f32 * (w + gap))))
            .collect();
        BandArt { colour, letters }
    }

    /// Paints the band over `base` at plate mm (`xm`, `ym`).
    fn paint(&self, base: &mut [f32; 3], xm: f32, ym: f32, ramp: f32) {
        let band = (0.5 - (xm - BAND_WIDTH_MM) / ramp).clamp(0.0, 1.0);
        if band <= 0.0 {
            return;
        }
        blend(base, self.colour, band);
        let (cx, cy, r, dot) = EMBLEM;
        let (dx, dy) = (xm - cx, ym - cy);
        if (dx * dx + dy * dy).sqrt() < r + dot + ramp {
            // Nearest of 12 dots around the ring.
            let step = std::f32::consts::TAU / 12.0;
            let a = (dy.atan2(dx) / step).round() * step;
            let (ex, ey) = (dx - r * a.cos(), dy - r * a.sin());
            let d = (ex * ex + ey * ey).sqrt() - dot;
            blend(base, EMBLEM_RGB, (0.5 - d / ramp).clamp(0.0, 1.0));
        }
        let ly = (ym - IDENT_TOP_MM) / IDENT_SCALE;
        if ly > -8.0 && ly < CHAR_HEIGHT_MM + 8.0 {
            let mut ink: f32 = 0.0;
            for (g, left) in &self.letters {
                let lx = (xm - left) / IDENT_SCALE;
                ink = ink.max(g.coverage(lx, ly, ramp / IDENT_SCALE));
            }
            blend(base, IDENT_RGB, ink);
        }
    }
}

fn blend(base: &mut [f32; 3], over: [f32; 3], a: f32) {
    for k in 0..3 {
        base[k] += (over[k] - base[k]) * a;
    }
}

/// Draws a plate into `img` with its top-left corner at (`x`, `y`) and
/// `width` pixels wide, all fractional (the height follows the plate's
/// shape). `soften` (pixels, ≥ 0) widens the anti-aliasing ramp to mimic an
/// out-of-focus or smeared camera.
pub fn draw_plate(
    img: &mut RgbImage,
    text: &str,
    style: PlateStyle,
    x: f32,
    y: f32,
    width: f32,
    soften: f32,
) -> Result<(), RenderError> {
    let lay = layout_shape(text, style.shape)?;
    let (plate_w, plate_h) = (lay.plate_width, lay.plate_height);
    let mm_per_px = plate_w / width;
    let height = plate_h / mm_per_px;
    let ramp = mm_per_px * (1.0 + soften.max(0.0));
    // Glyphs are drawn in a 50 × 79 mm cell: scale them to this plate's.
    let (sx, sy) = (
        lay.char_width / CHAR_WIDTH_MM,
        lay.char_height / CHAR_HEIGHT_MM,
    );
    let glyph_ramp = ramp / (sx * sy).sqrt();
    let (cell_w, cell_h) = (lay.char_width, lay.char_height);
    let band = style.shape.band().map(BandArt::new);
    let bg = style.background();
    let ink_rgb = style.ink();
    let x0 = x.floor().max(0.0) as i64;
    let y0 = y.floor().max(0.0) as i64;
    let x1 = ((x + width).ceil() as i64).min(img.width as i64);
    let y1 = ((y + height).ceil() as i64).min(img.height as i64);
    let w = img.width as usize;
    let mut in_row: Vec<&PlacedChar> = Vec::with_capacity(lay.cells.len());
    for py in y0..y1 {
        let ym = (py as f32 + 0.5 - y) * mm_per_px;
        // Vertical coverage of the plate itself (anti-aliased edge).
        let vy = ((ym.min(plate_h - ym)) / mm_per_px + 0.5).clamp(0.0, 1.0);
        if vy <= 0.0 {
            continue;
        }
        in_row.clear();
        in_row.extend(
            lay.cells
                .iter()
                .filter(|c| ym > c.top - 8.0 && ym < c.top + cell_h + 8.0),
        );
        for px in x0..x1 {
            let xm = (px as f32 + 0.5 - x) * mm_per_px;
            let vx = ((xm.min(plate_w - xm)) / mm_per_px + 0.5).clamp(0.0, 1.0);
            let alpha = vx * vy;
            if alpha <= 0.0 {
                continue;
            }
            let mut ink: f32 = 0.0;
            for c in &in_row {
                let cx = xm - c.left;
                if cx > -8.0 && cx < cell_w + 8.0 {
                    ink = ink.max(c.glyph.coverage(cx / sx, (ym - c.top) / sy, glyph_ramp));
                }
            }
            if style.border {
                // 2.5 mm line, 3 mm inside the edge.
                let edge = xm.min(plate_w - xm).min(ym).min(plate_h - ym);
                let d = (edge - 4.25).abs() - 1.25;
                ink = ink.max((0.5 - d / ramp).clamp(0.0, 1.0));
            }
            let mut base = bg;
            if let Some(b) = &band {
                b.paint(&mut base, xm, ym, ramp);
            }
            let i = (py as usize * w + px as usize) * 3;
            for k in 0..3 {
                let plate = base[k] + (ink_rgb[k] - base[k]) * ink;
                let old = img.data[i + k] as f32;
                img.data[i + k] = (old + (plate - old) * alpha).round() as u8;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_has_uk_proportions_and_colours() {
        let img = render_plate("AB12 CDE", PlateStyle::FRONT, 520).unwrap();
        assert_eq!((img.width, img.height), (520, 111));
        // Corners are background; character cells hold ink.
        assert_eq!(img.pixel(2, 2), [238, 240, 236]);
        let lay = layout("AB12CDE").unwrap();
        assert_eq!(lay.cells.len(), 7);
        // 7 × 50 + 5 × 11 + 33 = 438 mm of text, centred.
        assert!((lay.cells[0].left - 41.0).abs() < 1e-3);
        assert!((lay.cells[4].left - lay.cells[3].left - 83.0).abs() < 1e-3);
        // The stem of the 1 in "AB12" (cell 2) is solid ink at full size.
        let stem_x = (lay.cells[2].left + 30.0) as u32;
        assert_eq!(img.pixel(stem_x, 55), [18, 18, 20]);
        let rear = render_plate("AB12CDE", PlateStyle::REAR, 260).unwrap();
        assert_eq!(rear.height, 56);
        assert_eq!(rear.pixel(1, 1), [250, 204, 20]);
    }

    #[test]
    fn border_is_drawn_only_when_asked() {
        let style = PlateStyle {
            border: true,
            ..PlateStyle::FRONT
        };
        let with = render_plate("AB12CDE", style, 520).unwrap();
        let without = render_plate("AB12CDE", PlateStyle::FRONT, 520).unwrap();
        assert_eq!(with.pixel(260, 4), [18, 18, 20]);
        assert_eq!(without.pixel(260, 4), [238, 240, 236]);
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        assert_eq!(
            render_plate("AB1£CDE", PlateStyle::FRONT, 200),
            Err(RenderError::UnknownChar {
                text: "AB1£CDE".into(),
                ch: '£'
            })
        );
        assert!(matches!(
            render_plate("ABCDEFGHIJ", PlateStyle::FRONT, 200),
            Err(RenderError::TooLong(_))
        ));
        assert_eq!(
            render_plate("  ", PlateStyle::FRONT, 200),
            Err(RenderError::Empty)
        );
        assert_eq!(
            render_plate("AB", PlateStyle::FRONT, 3),
            Err(RenderError::TooNarrow(3))
        );
    }

    #[test]
    fn frame_conversion_keeps_luma_and_subsamples_chroma() {
        let img = render_plate("AB12CDE", PlateStyle::REAR, 101).unwrap();
        let f = img.to_frame(3, 1000);
        assert_eq!(f.luma.len(), (101 * img.height) as usize);
        let c = f.chroma.unwrap();
        assert_eq!(c.u.len(), 51 * (img.height as usize).div_ceil(2));
        // Yellow: bright luma, low U (little blue), high V.
        assert!(
            f.luma[0] > 190 && c.u[0] < 80 && c.v[0] > 140,
            "{} {} {}",
            f.luma[0],
            c.u[0],
            c.v[0]
        );
    }

    const SQUARE: [TwoLineSize; 3] = [
        TwoLineSize::Square285,
        TwoLineSize::Square279,
        TwoLineSize::Motorcycle,
    ];

    fn line_text(lay: &PlateLayout, line: usize) -> String {
        lay.cells
            .iter()
            .filter(|c| c.line == line)
            .map(|c| c.glyph.ch)
            .collect()
    }

    #[test]
    fn two_line_plates_split_at_the_group_and_centre_each_line() {
        for size in SQUARE {
            let shape = PlateShape::TwoLine(size);
            let (w, h) = shape.size_mm();
            for (text, top, bottom) in [
                ("AB12 CDE", "AB12", "CDE"),
                ("AB12CDE", "AB12", "CDE"),
                ("A123 BCD", "A123", "BCD"),
                ("ABZ 1234", "ABZ", "1234"),
                ("K1 NGS", "K1", "NGS"),
            ] {
                let lay = layout_shape(text, shape).unwrap();
                assert_eq!(line_text(&lay, 0), top, "{size:?} {text}");
                assert_eq!(line_text(&lay, 1), bottom, "{size:?} {text}");
                let (cw, ch) = (lay.char_width, lay.char_height);
                let (want_w, want_h, gap) = match size {
                    TwoLineSize::Motorcycle => (44.0, 64.0, 13.0),
                    _ => (50.0, 79.0, 19.0),
                };
                assert_eq!((cw, ch), (want_w, want_h));
                for line in 0..2 {
                    let cells: Vec<_> = lay.cells.iter().filter(|c| c.line == line).collect();
                    let left = cells[0].left;
                    let right = w - (cells[cells.len() - 1].left + cw);
                    assert!(
                        (left - right).abs() < 1e-3,
                        "{size:?} {text}: {left} {right}"
                    );
                    assert!(left >= SIDE_MARGIN_MM, "{size:?} {text}");
                    assert!(cells.iter().all(|c| c.top == cells[0].top));
                }
                let (t0, t1) = (lay.cells[0].top, lay.cells.last().unwrap().top);
                assert!((t1 - t0 - ch - gap).abs() < 1e-3, "{size:?}");
                // The two lines sit centred, clear of the top and bottom edges.
                assert!((t0 - (h - (t1 + ch))).abs() < 1e-3, "{size:?}");
                assert!(t0 >= SIDE_MARGIN_MM, "{size:?}: {t0}");
            }
        }
        // A lone group is halved rather than left on one line.
        // (Eight characters make one group; see `plate_groups`.)
        let lay = layout_shape("ABC12345", PlateShape::TwoLine(TwoLineSize::Square285)).unwrap();
        let lines = (line_text(&lay, 0), line_text(&lay, 1));
        assert_eq!(lines, ("ABC1".into(), "2345".into()));
        assert!(matches!(
            layout_shape("ABCDE FG", PlateShape::TwoLine(TwoLineSize::Square285)),
            Err(RenderError::TooLong(_))
        ));
    }

    #[test]
    fn two_line_plate_has_ink_on_both_lines() {
        for size in SQUARE {
            let style = PlateStyle {
                shape: PlateShape::TwoLine(size),
                ..PlateStyle::REAR
            };
            let (w_mm, h_mm) = style.shape.size_mm();
            let img = render_plate("AB12 CDE", style, w_mm as u32).unwrap();
            assert_eq!(img.height, h_mm as u32, "{size:?}");
            let gray = img.to_gray();
            let dark = |y0: u32, y1: u32| {
                (y0..y1)
                    .flat_map(|y| (0..img.width).map(move |x| (x, y)))
                    .filter(|&(x, y)| gray.data[(y * img.width + x) as usize] < 60)
                    .count()
            };
            let half = img.height / 2;
            let (top, bottom) = (dark(0, half), dark(half, img.height));
            // Strokes of 3–4 characters, each well over 1000 mm².
            assert!(top > 3000 && bottom > 2000, "{size:?}: {top} {bottom}");
            // Corners stay plate background.
            assert_eq!(img.pixel(2, 2), [250, 204, 20]);
        }
    }

    #[test]
    fn side_band_keeps_characters_clear_and_can_refuse() {
        let shape = PlateShape::OneLine {
            band: Some(SideBand {
                colour: BandColour::Blue,
                ident: NationalIdent::Gb,
            }),
        };
        let lay = layout_shape("AB12 CDE", shape).unwrap();
        let first = lay.cells[0].left;
        let last = lay.cells[6].left + CHAR_WIDTH_MM;
        assert!(first >= BAND_WIDTH_MM + SIDE_MARGIN_MM, "{first}");
        assert!(last <= PLATE_WIDTH_MM - SIDE_MARGIN_MM, "{last}");
        // Centred in the room right of the band.
        assert!(((first - BAND_WIDTH_MM) - (PLATE_WIDTH_MM - last)).abs() < 1e-3);
        // Fits a plain plate, not one with a band.
        assert!(layout("AB 12 CDE").is_ok());
        assert!(matches!(
            layout_shape("AB 12 CDE", shape),
            Err(RenderError::TooLong(_))
        ));

        let style = PlateStyle {
            shape,
            ..PlateStyle::FRONT
        };
        let img = render_plate("AB12 CDE", style, 520).unwrap();
        assert_eq!((img.width, img.height), (520, 111));
        assert_eq!(img.pixel(25, 5), [0, 51, 153]);
        assert_eq!(img.pixel(100, 5), [238, 240, 236]);
        let mut white = 0;
        for y in 0..img.height {
            for x in 0..(BAND_WIDTH_MM + SIDE_MARGIN_MM) as u32 {
                let p = img.pixel(x, y);
                // No black character ink in or beside the band (the blue is
                // dark but has its blue channel; the emblem its red one).
                assert!(p[0] > 60 || p[2] > 60, "({x}, {y}): {p:?}");
                let letter = x < BAND_WIDTH_MM as u32 - 1 && y > 60;
                white += usize::from(letter && p[0] > 200 && p[1] > 200 && p[2] > 200);
            }
        }
        assert!(white > 80, "white identifier letters: {white}");
        // Without a band the same text starts further left.
        assert!(layout("AB12 CDE").unwrap().cells[0].left < first);
    }

    #[test]
    fn every_uk_format_fits_every_shape() {
        use crate::recognise::rules::{PlateRules, UK_FORMATS};
        let rules = PlateRules::uk();
        let band = |colour, ident| PlateShape::OneLine {
            band: Some(SideBand { colour, ident }),
        };
        let shapes = [
            PlateShape::ONE_LINE,
            band(BandColour::Blue, NationalIdent::Gb),
            band(BandColour::Green, NationalIdent::Uk),
            PlateShape::TwoLine(TwoLineSize::Square285),
            PlateShape::TwoLine(TwoLineSize::Square279),
            PlateShape::TwoLine(TwoLineSize::Motorcycle),
        ];
        let mut rng = super::super::SplitMix64::new(11);
        for (k, p) in rules.patterns().iter().enumerate() {
            for _ in 0..200 {
                let text = super::super::sample::printed(&p.sample(&mut rng), UK_FORMATS[k].0);
                for shape in shapes {
                    let lay = layout_shape(&text, shape)
                        .unwrap_or_else(|e| panic!("{text:?} on {shape:?}: {e}"));
                    let n = text.chars().filter(|c| !c.is_whitespace()).count();
                    assert_eq!(lay.cells.len(), n);
                    for c in &lay.cells {
                        assert!(c.left >= SIDE_MARGIN_MM, "{text:?} {shape:?}");
                        assert!(c.left + lay.char_width <= lay.plate_width - SIDE_MARGIN_MM);
                        assert!(c.top >= 0.0 && c.top + lay.char_height <= lay.plate_height);
                    }
                    // Characters never overlap one another.
                    for (a, b) in lay.cells.iter().zip(&lay.cells[1..]) {
                        assert!(a.line != b.line || b.left >= a.left + lay.char_width);
                    }
                }
            }
        }
    }
}
