//! Renders UK one-line plates (520 × 111 mm) at any pixel size.
//!
//! Layout follows the regulations: 79 mm characters in 50 mm cells, 11 mm
//! between characters, 33 mm between groups, text centred. Drawing works in
//! plate millimetres per destination pixel, so a plate can be drawn straight
//! into a video frame at a fractional position without resampling.

use super::glyphs::{self, CHAR_HEIGHT_MM, CHAR_WIDTH_MM, Glyph};
use crate::capture::{Chroma, Frame, UtcMillis};

pub const PLATE_WIDTH_MM: f32 = 520.0;
pub const PLATE_HEIGHT_MM: f32 = 111.0;
/// Space between characters of one group.
pub const CHAR_GAP_MM: f32 = 11.0;
/// Space between groups ("AB12 CDE").
pub const GROUP_GAP_MM: f32 = 33.0;
/// Clear margin the text must keep from the plate edge.
const SIDE_MARGIN_MM: f32 = 11.0;

/// Plate background: white on the front of a vehicle, yellow on the rear;
/// black with silver characters on historic vehicles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateColour {
    White,
    Yellow,
    BlackSilver,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlateStyle {
    pub colour: PlateColour,
    /// A thin black border inside the plate edge (optional on UK plates).
    pub border: bool,
}

impl PlateStyle {
    pub const FRONT: PlateStyle = PlateStyle {
        colour: PlateColour::White,
        border: false,
    };
    pub const REAR: PlateStyle = PlateStyle {
        colour: PlateColour::Yellow,
        border: false,
    };

    pub const HISTORIC: PlateStyle = PlateStyle {
        colour: PlateColour::BlackSilver,
        border: false,
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
    #[error("plate text {0:?}: too long for a 520 mm plate")]
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
            luma: self.to_gray().data,
            chroma: Some(Chroma { u, v }),
        }
    }
}

pub(crate) fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 32768) >> 16) as u8
}

/// Where each character of a plate sits, in plate millimetres.
#[derive(Clone, Debug)]
pub struct PlateLayout {
    /// (glyph, left edge of its 50 mm cell).
    pub cells: Vec<(&'static Glyph, f32)>,
    /// Top of the character row.
    pub top: f32,
}

/// Lays out `text` (spaces split groups; see [`super::plate_groups`]).
pub fn layout(text: &str) -> Result<PlateLayout, RenderError> {
    let groups = super::plate_groups(text);
    if groups.iter().all(|g| g.is_empty()) {
        return Err(RenderError::Empty);
    }
    let mut cells = Vec::new();
    let mut cursor = 0.0;
    for (gi, group) in groups.iter().enumerate() {
        if gi > 0 {
            cursor += GROUP_GAP_MM - CHAR_GAP_MM;
        }
        for ch in group.chars() {
            let g = glyphs::glyph(ch).ok_or_else(|| RenderError::UnknownChar {
                text: text.to_owned(),
                ch,
            })?;
            cells.push((g, cursor));
            cursor += CHAR_WIDTH_MM + CHAR_GAP_MM;
        }
    }
    let total = cursor - CHAR_GAP_MM;
    if total > PLATE_WIDTH_MM - 2.0 * SIDE_MARGIN_MM {
        return Err(RenderError::TooLong(text.to_owned()));
    }
    let offset = (PLATE_WIDTH_MM - total) * 0.5;
    for c in &mut cells {
        c.1 += offset;
    }
    Ok(PlateLayout {
        cells,
        top: (PLATE_HEIGHT_MM - CHAR_HEIGHT_MM) * 0.5,
    })
}

/// Renders a plate `width_px` wide (height follows the 520:111 shape).
pub fn render_plate(text: &str, style: PlateStyle, width_px: u32) -> Result<RgbImage, RenderError> {
    if width_px < 8 {
        return Err(RenderError::TooNarrow(width_px));
    }
    let height = ((width_px as f32 * PLATE_HEIGHT_MM / PLATE_WIDTH_MM).round() as u32).max(1);
    let mut img = RgbImage::new(width_px, height, [0, 0, 0]);
    draw_plate(&mut img, text, style, 0.0, 0.0, width_px as f32, 0.0)?;
    Ok(img)
}

/// Draws a plate into `img` with its top-left corner at (`x`, `y`) and
/// `width` pixels wide, all fractional. `soften` (pixels, ≥ 0) widens the
/// anti-aliasing ramp to mimic an out-of-focus or smeared camera.
pub fn draw_plate(
    img: &mut RgbImage,
    text: &str,
    style: PlateStyle,
    x: f32,
    y: f32,
    width: f32,
    soften: f32,
) -> Result<(), RenderError> {
    let lay = layout(text)?;
    let mm_per_px = PLATE_WIDTH_MM / width;
    let height = PLATE_HEIGHT_MM / mm_per_px;
    let ramp = mm_per_px * (1.0 + soften.max(0.0));
    let bg = style.background();
    let ink_rgb = style.ink();
    let x0 = x.floor().max(0.0) as i64;
    let y0 = y.floor().max(0.0) as i64;
    let x1 = ((x + width).ceil() as i64).min(img.width as i64);
    let y1 = ((y + height).ceil() as i64).min(img.height as i64);
    let w = img.width as usize;
    for py in y0..y1 {
        let ym = (py as f32 + 0.5 - y) * mm_per_px;
        // Vertical coverage of the plate itself (anti-aliased edge).
        let vy = ((ym.min(PLATE_HEIGHT_MM - ym)) / mm_per_px + 0.5).clamp(0.0, 1.0);
        if vy <= 0.0 {
            continue;
        }
        let in_row = ym > lay.top - 8.0 && ym < lay.top + CHAR_HEIGHT_MM + 8.0;
        for px in x0..x1 {
            let xm = (px as f32 + 0.5 - x) * mm_per_px;
            let vx = ((xm.min(PLATE_WIDTH_MM - xm)) / mm_per_px + 0.5).clamp(0.0, 1.0);
            let alpha = vx * vy;
            if alpha <= 0.0 {
                continue;
            }
            let mut ink: f32 = 0.0;
            if in_row {
                for (g, left) in &lay.cells {
                    let cx = xm - left;
                    if cx > -8.0 && cx < CHAR_WIDTH_MM + 8.0 {
                        ink = ink.max(g.coverage(cx, ym - lay.top, ramp));
                    }
                }
            }
            if style.border {
                // 2.5 mm line, 3 mm inside the edge.
                let edge = xm
                    .min(PLATE_WIDTH_MM - xm)
                    .min(ym)
                    .min(PLATE_HEIGHT_MM - ym);
                let d = (edge - 4.25).abs() - 1.25;
                ink = ink.max((0.5 - d / ramp).clamp(0.0, 1.0));
            }
            let i = (py as usize * w + px as usize) * 3;
            for k in 0..3 {
                let plate = bg[k] + (ink_rgb[k] - bg[k]) * ink;
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
        assert!((lay.cells[0].1 - 41.0).abs() < 1e-3);
        assert!((lay.cells[4].1 - lay.cells[3].1 - 83.0).abs() < 1e-3);
        // The stem of the 1 in "AB12" (cell 2) is solid ink at full size.
        let stem_x = (lay.cells[2].1 + 30.0) as u32;
        assert_eq!(img.pixel(stem_x, 55), [18, 18, 20]);
        let rear = render_plate("AB12CDE", PlateStyle::REAR, 260).unwrap();
        assert_eq!(rear.height, 56);
        assert_eq!(rear.pixel(1, 1), [250, 204, 20]);
    }

    #[test]
    fn border_is_drawn_only_when_asked() {
        let style = PlateStyle {
            colour: PlateColour::White,
            border: true,
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
}
