//! Images attached to a read: a plate patch and an overview, as JPEG.
//!
//! Both are re-encoded from pixels, so they carry no EXIF, XMP, ICC profile
//! or comment: nothing the camera or a tool wrote travels with them. Sizes are
//! bounded because every read is stored, forwarded and kept for a year.

use crate::capture::{Frame, UtcMillis};

/// The plate patch: the plate with a margin, 2:1, at this size.
pub const PATCH_SIZE: (u32, u32) = (120, 60);
/// Largest plate patch, in bytes.
pub const PATCH_MAX_BYTES: usize = 3 * 1024;
/// Width of the overview image (height follows the frame's aspect, up to
/// [`OVERVIEW_MAX_HEIGHT`]).
pub const OVERVIEW_WIDTH: u32 = 640;
/// Tallest overview: a portrait camera's overview fits 640×480 too.
pub const OVERVIEW_MAX_HEIGHT: u32 = 480;
/// Largest overview, in bytes.
pub const OVERVIEW_MAX_BYTES: usize = 25 * 1024;

/// The pixels a read's two images are made from, cut from a frame while it
/// is at hand: the plate patch and the overview, both already at their final
/// size (≈ 0.7 MB at 640×360 in colour). A track keeps one for each of its
/// best readings rather than the whole frame (3 MB at 1080p): frames held by
/// open tracks were the largest share of the daemon's memory at busy times.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When the frame it was cut from was captured.
    pub captured_at: UtcMillis,
    /// [`PATCH_SIZE`] luma.
    patch: Vec<u8>,
    overview: Overview,
}

/// The whole frame at [`OVERVIEW_WIDTH`], colour planes at full size.
#[derive(Clone, Debug)]
struct Overview {
    width: u32,
    height: u32,
    luma: Vec<u8>,
    chroma: Option<(Vec<u8>, Vec<u8>)>,
}

impl Snapshot {
    /// Cuts the patch of the plate at `plate_box` ([x, y, w, h]) and the
    /// overview out of `frame`.
    pub fn of(frame: &Frame, plate_box: [u32; 4]) -> Snapshot {
        Snapshot {
            captured_at: frame.captured_at,
            patch: patch_pixels(frame, plate_box),
            overview: Overview::of(frame),
        }
    }

    /// A grayscale JPEG of the plate with some of its surroundings, at
    /// [`PATCH_SIZE`] and at most [`PATCH_MAX_BYTES`].
    pub fn plate_jpeg(&self) -> Vec<u8> {
        let (pw, ph) = PATCH_SIZE;
        encode_within(
            &self.patch,
            pw,
            ph,
            jpeg_encoder::ColorType::Luma,
            PATCH_MAX_BYTES,
        )
    }

    /// A JPEG of the whole frame, [`OVERVIEW_WIDTH`] wide, in colour when the
    /// source had colour, at most [`OVERVIEW_MAX_BYTES`].
    pub fn overview_jpeg(&self) -> Vec<u8> {
        let o = &self.overview;
        match &o.chroma {
            None => encode_within(
                &o.luma,
                o.width,
                o.height,
                jpeg_encoder::ColorType::Luma,
                OVERVIEW_MAX_BYTES,
            ),
            Some((u, v)) => {
                let mut ycbcr = Vec::with_capacity(o.luma.len() * 3);
                for ((&y, &u), &v) in o.luma.iter().zip(u).zip(v) {
                    ycbcr.extend_from_slice(&[y, u, v]);
                }
                encode_within(
                    &ycbcr,
                    o.width,
                    o.height,
                    jpeg_encoder::ColorType::Ycbcr,
                    OVERVIEW_MAX_BYTES,
                )
            }
        }
    }
}

/// The plate patch of `frame`: the plate with a margin, widened to the
/// patch's 2:1, centred, at [`PATCH_SIZE`].
fn patch_pixels(frame: &Frame, plate_box: [u32; 4]) -> Vec<u8> {
    let (pw, ph) = PATCH_SIZE;
    let [x, y, w, h] = plate_box.map(|v| v as f32);
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let mut cw = (w * 1.15).max(8.0);
    let mut ch = (h * 1.6).max(4.0);
    let aspect = pw as f32 / ph as f32;
    if cw / ch > aspect {
        ch = cw / aspect;
    } else {
        cw = ch * aspect;
    }
    let crop = Rect {
        x: cx - cw / 2.0,
        y: cy - ch / 2.0,
        w: cw,
        h: ch,
    };
    resample(&frame.luma, frame.width, frame.height, crop, pw, ph)
}

impl Overview {
    fn of(frame: &Frame) -> Overview {
        let (ow, oh) = overview_size(frame.width, frame.height);
        let whole = Rect {
            x: 0.0,
            y: 0.0,
            w: frame.width as f32,
            h: frame.height as f32,
        };
        let luma = resample(&frame.luma, frame.width, frame.height, whole, ow, oh);
        let chroma = frame.chroma.as_ref().map(|chroma| {
            let (cw, chh) = (frame.width.div_ceil(2), frame.height.div_ceil(2));
            let half = Rect {
                x: 0.0,
                y: 0.0,
                w: cw as f32,
                h: chh as f32,
            };
            (
                resample(&chroma.u, cw, chh, half, ow, oh),
                resample(&chroma.v, cw, chh, half, ow, oh),
            )
        });
        Overview {
            width: ow,
            height: oh,
            luma,
            chroma,
        }
    }
}

/// Blanks each `[x, y, w, h]` box of the frame (black, no colour), clipped
/// to the frame. Done to the frame itself, before recognition, so text a
/// camera burns in (site names) reaches no image and is never read as a plate.
pub fn redact(frame: &mut Frame, boxes: &[[u32; 4]]) {
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    // Half-resolution planes: a box covers every chroma sample it touches.
    let (cw, ch) = (fw.div_ceil(2), fh.div_ceil(2));
    for &[x, y, w, h] in boxes {
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + w as usize).min(fw), (y0 + h as usize).min(fh));
        if x0 >= x1 || y0 >= y1 {
            continue;
        }
        fill(frame.luma.to_mut(), fw, (x0, y0, x1, y1), 0);
        if let Some(c) = &mut frame.chroma {
            let half = (
                x0 / 2,
                y0 / 2,
                x1.div_ceil(2).min(cw),
                y1.div_ceil(2).min(ch),
            );
            fill(c.u.to_mut(), cw, half, 128);
            fill(c.v.to_mut(), cw, half, 128);
        }
    }
}

/// Sets the rectangle `[x0, x1) × [y0, y1)` of a `stride`-wide plane.
fn fill(plane: &mut [u8], stride: usize, (x0, y0, x1, y1): (usize, usize, usize, usize), v: u8) {
    for row in plane.chunks_mut(stride).skip(y0).take(y1 - y0) {
        if let Some(span) = row.get_mut(x0..x1.min(row.len())) {
            span.fill(v);
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

/// Samples `crop` of a `sw`×`sh` plane into a `dw`×`dh` plane: the mean of
/// the source pixels under each destination pixel when shrinking, the nearest
/// pixel when enlarging. Outside the source reads as black.
fn resample(src: &[u8], sw: u32, sh: u32, crop: Rect, dw: u32, dh: u32) -> Vec<u8> {
    let (sx, sy) = (crop.w / dw as f32, crop.h / dh as f32);
    // Every row of the destination has the same column spans: work them out
    // once (an overview of every read's best frames is made this way).
    let columns: Vec<(i64, i64)> = (0..dw).map(|i| span(crop.x + i as f32 * sx, sx)).collect();
    // Only pixels inside the frame are visited (outside counts as black),
    // so a box far larger than the frame (found by fuzzing: it took
    // minutes) costs no more than the frame.
    let clip = |v: i64| v.clamp(0, i64::from(sw)) as usize;
    let x_lo = clip(columns.iter().map(|c| c.0).min().unwrap_or(0));
    let x_hi = clip(columns.iter().map(|c| c.1).max().unwrap_or(0));
    // Per destination row: the source rows under it summed column by column
    // (one add per pixel, which the compiler vectorises), then each
    // destination pixel sums its columns of that. Patch and overview of an
    // I420 1080p frame: 4.48 → 3.25 ms against block by block (recognise
    // bench, `snapshot`).
    let mut column_sums = vec![0u32; x_hi.saturating_sub(x_lo)];
    let mut out = Vec::with_capacity((dw * dh) as usize);
    for j in 0..dh {
        let (ya, yb) = span(crop.y + j as f32 * sy, sy);
        column_sums.fill(0);
        for y in ya.max(0)..yb.min(i64::from(sh)) {
            let row = y as usize * sw as usize;
            let pixels = &src[row + x_lo..row + x_hi];
            for (sum, &p) in column_sums.iter_mut().zip(pixels) {
                *sum += u32::from(p);
            }
        }
        for &(xa, xb) in &columns {
            let n = (yb - ya) as u64 * (xb - xa) as u64;
            let (x0, x1) = (clip(xa), clip(xb));
            let sum: u64 = column_sums
                .get(x0.saturating_sub(x_lo)..x1.saturating_sub(x_lo))
                .map_or(0, |s| s.iter().map(|&v| u64::from(v)).sum());
            out.push(((sum + n / 2) / n) as u8);
        }
    }
    out
}

/// The overview's size for a `w`×`h` frame: the frame's aspect within
/// [`OVERVIEW_WIDTH`]×[`OVERVIEW_MAX_HEIGHT`], never enlarged, at least 1×1.
fn overview_size(w: u32, h: u32) -> (u32, u32) {
    let (w, h) = (u64::from(w.max(1)), u64::from(h.max(1)));
    let (bw, bh) = (u64::from(OVERVIEW_WIDTH), u64::from(OVERVIEW_MAX_HEIGHT));
    // Scale by the tighter of the two limits (or not at all).
    let (ow, oh) = if w * bh >= h * bw {
        let ow = w.min(bw);
        (ow, h * ow / w)
    } else {
        let oh = h.min(bh);
        (w * oh / h, oh)
    };
    (ow.max(1) as u32, oh.max(1) as u32)
}

/// Integer source range covered by one destination pixel (at least one).
fn span(start: f32, len: f32) -> (i64, i64) {
    let a = start.floor() as i64;
    let b = ((start + len).ceil() as i64).max(a + 1);
    (a, b)
}

/// Encodes at falling quality until the JPEG fits in `max_bytes`; a picture
/// that does not fit even at the lowest quality is halved and tried again.
/// Empty only for a picture JPEG cannot hold (a side over 65535).
fn encode_within(
    pixels: &[u8],
    w: u32,
    h: u32,
    colour: jpeg_encoder::ColorType,
    max_bytes: usize,
) -> Vec<u8> {
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for quality in [85u8, 75, 65, 55, 45, 35, 25, 15] {
        out.clear();
        let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        if encoder.encode(pixels, w16, h16, colour).is_err() {
            return Vec::new();
        }
        if out.len() <= max_bytes {
            return out;
        }
    }
    if w < 16 || h < 16 {
        return out; // headers alone; nothing smaller to make
    }
    let channels = match colour {
        jpeg_encoder::ColorType::Luma => 1,
        _ => 3,
    };
    let (half, hw, hh) = halve(pixels, w, h, channels);
    encode_within(&half, hw, hh, colour, max_bytes)
}

/// `pixels` (`channels` interleaved) at half the size, each output pixel the
/// mean of a 2×2 block.
fn halve(pixels: &[u8], w: u32, h: u32, channels: usize) -> (Vec<u8>, u32, u32) {
    let (w, h) = (w as usize, h as usize);
    let (hw, hh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(hw * hh * channels);
    for y in 0..hh {
        for x in 0..hw {
            for c in 0..channels {
                let at = |dx: usize, dy: usize| {
                    u32::from(pixels[((2 * y + dy) * w + 2 * x + dx) * channels + c])
                };
                out.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8);
            }
        }
    }
    (out, hw as u32, hh as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Chroma;

    /// A busy frame (noise makes JPEG work hard) with a bright plate-like block.
    fn frame(w: u32, h: u32, colour: bool) -> Frame {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        };
        let mut luma: Vec<u8> = (0..w * h).map(|_| noise()).collect();
        for y in 300..340 {
            for x in 500..700 {
                luma[(y * w + x) as usize] = if (x / 12) % 2 == 0 { 250 } else { 20 };
            }
        }
        let c = (w.div_ceil(2) * h.div_ceil(2)) as usize;
        let chroma = colour.then(|| Chroma {
            u: (0..c).map(|_| noise()).collect(),
            v: vec![128; c].into(),
        });
        Frame {
            seq: 0,
            captured_at: 0,
            width: w,
            height: h,
            luma: luma.into(),
            chroma,
        }
    }

    fn jpeg_size(jpeg: &[u8]) -> (u16, u16, usize) {
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        d.decode().expect("a valid JPEG");
        let info = d.info().unwrap();
        (info.width, info.height, info.pixel_format.pixel_bytes())
    }

    #[test]
    fn patch_is_small_gray_and_2_to_1() {
        let f = frame(1280, 720, true);
        let jpeg = Snapshot::of(&f, [500, 300, 200, 40]).plate_jpeg();
        assert_eq!(jpeg_size(&jpeg), (120, 60, 1));
        assert!(jpeg.len() <= PATCH_MAX_BYTES, "{} bytes", jpeg.len());
    }

    #[test]
    fn patch_at_the_frame_edge_does_not_panic() {
        let f = frame(1280, 720, false);
        let jpeg = Snapshot::of(&f, [1250, 700, 200, 60]).plate_jpeg();
        assert_eq!(jpeg_size(&jpeg).0, 120);
    }

    #[test]
    fn overview_keeps_colour_and_fits_its_budget() {
        let f = frame(1920, 1080, true);
        let jpeg = Snapshot::of(&f, [0; 4]).overview_jpeg();
        assert_eq!(jpeg_size(&jpeg), (640, 360, 3));
        assert!(jpeg.len() <= OVERVIEW_MAX_BYTES, "{} bytes", jpeg.len());
        let gray = Snapshot::of(&frame(1280, 720, false), [0; 4]).overview_jpeg();
        assert_eq!(jpeg_size(&gray), (640, 360, 1));
    }

    #[test]
    fn a_portrait_overview_fits_the_box_and_every_overview_the_budget() {
        // A portrait camera: 1080×1920 fits 640×480 as 270×480.
        let jpeg = Snapshot::of(&frame(1080, 1920, true), [0; 4]).overview_jpeg();
        assert_eq!(jpeg_size(&jpeg), (270, 480, 3));
        assert!(jpeg.len() <= OVERVIEW_MAX_BYTES, "{} bytes", jpeg.len());
        assert_eq!(overview_size(640, 100_000), (3, 480));
        assert_eq!(overview_size(100, 50), (100, 50), "never enlarged");
        assert_eq!(overview_size(70_000, 1), (640, 1));
        // Pure noise does not fit 25 KB even at the lowest quality: halved.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..640 * 480 * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        let jpeg = encode_within(
            &noise,
            640,
            480,
            jpeg_encoder::ColorType::Ycbcr,
            OVERVIEW_MAX_BYTES,
        );
        let (w, h, _) = jpeg_size(&jpeg);
        assert!(jpeg.len() <= OVERVIEW_MAX_BYTES, "{} bytes", jpeg.len());
        assert!(w < 640 && w * 3 == h * 4, "{w}×{h}");
        assert!(
            encode_within(&[0; 70_000], 70_000, 1, jpeg_encoder::ColorType::Luma, 100).is_empty()
        );
    }

    #[test]
    fn images_carry_no_metadata_segments() {
        let f = frame(1280, 720, true);
        for jpeg in [
            Snapshot::of(&f, [0; 4]).overview_jpeg(),
            Snapshot::of(&f, [500, 300, 200, 40]).plate_jpeg(),
        ] {
            // Walk the markers before the scan: only JFIF, tables and frame headers.
            let mut i = 2;
            while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
                let marker = jpeg[i + 1];
                if marker == 0xDA {
                    break;
                }
                assert!(
                    !(0xE1..=0xEF).contains(&marker),
                    "APP{} segment found",
                    marker - 0xE0
                );
                assert_ne!(marker, 0xFE, "COM segment found");
                let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
                i += 2 + len;
            }
        }
    }

    #[test]
    fn redaction_blanks_its_boxes_in_every_plane_and_nothing_else() {
        let mut f = frame(1280, 720, true);
        let before = f.clone();
        // One box inside, one hanging off the bottom-right corner, one outside.
        redact(
            &mut f,
            &[[100, 40, 301, 51], [1200, 700, 500, 500], [5000, 0, 9, 9]],
        );
        let w = 1280usize;
        let inside = |x: usize, y: usize| {
            (100..401).contains(&x) && (40..91).contains(&y)
                || (1200..1280).contains(&x) && (700..720).contains(&y)
        };
        for y in 0..720 {
            for x in 0..w {
                let (now, was) = (f.luma[y * w + x], before.luma[y * w + x]);
                if inside(x, y) {
                    assert_eq!(now, 0, "({x}, {y})");
                } else {
                    assert_eq!(now, was, "({x}, {y}) is outside every box");
                }
            }
        }
        let c = f.chroma.as_ref().unwrap();
        let cw = w / 2;
        for (x, y) in [(50, 20), (200, 45), (639, 359)] {
            assert_eq!((c.u[y * cw + x], c.v[y * cw + x]), (128, 128));
        }
        // Odd sizes and no colour: clipped, never out of bounds.
        let mut odd = frame(641, 361, false);
        redact(&mut odd, &[[640, 360, 7, 7], [0, 0, 641, 361]]);
        assert!(odd.luma.iter().all(|&v| v == 0));
    }

    /// The mean of the source pixels under one destination pixel, written
    /// out pixel by pixel: what [`resample`] computes faster.
    fn mean_under(
        src: &[u8],
        (sw, sh): (u32, u32),
        crop: Rect,
        (dw, dh): (u32, u32),
        (i, j): (u32, u32),
    ) -> u8 {
        let (sx, sy) = (crop.w / dw as f32, crop.h / dh as f32);
        let (xa, xb) = span(crop.x + i as f32 * sx, sx);
        let (ya, yb) = span(crop.y + j as f32 * sy, sy);
        let mut sum = 0u64;
        for y in ya..yb {
            for x in xa..xb {
                if (0..sw as i64).contains(&x) && (0..sh as i64).contains(&y) {
                    sum += u64::from(src[(y * sw as i64 + x) as usize]);
                }
            }
        }
        let n = ((yb - ya) * (xb - xa)) as u64;
        ((sum + n / 2) / n) as u8
    }

    #[test]
    fn resampling_is_the_mean_under_each_pixel_inside_and_outside_the_frame() {
        let f = frame(1280, 720, false);
        let crops = [
            (
                Rect {
                    x: 0.0,
                    y: 0.0,
                    w: 1280.0,
                    h: 720.0,
                },
                97,
                61,
            ),
            (
                Rect {
                    x: -10.5,
                    y: 690.2,
                    w: 60.0,
                    h: 45.0,
                },
                24,
                12,
            ),
            (
                Rect {
                    x: 520.3,
                    y: 310.7,
                    w: 8.0,
                    h: 4.0,
                },
                16,
                8,
            ),
            (
                Rect {
                    x: 1250.0,
                    y: -3.0,
                    w: 70.0,
                    h: 9.0,
                },
                7,
                5,
            ),
        ];
        for (crop, dw, dh) in crops {
            let out = resample(&f.luma, 1280, 720, crop, dw, dh);
            for j in 0..dh {
                for i in 0..dw {
                    let want = mean_under(&f.luma, (1280, 720), crop, (dw, dh), (i, j));
                    assert_eq!(out[(j * dw + i) as usize], want, "{crop:?} at ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn a_plate_box_far_outside_the_frame_is_cheap_and_black() {
        let f = frame(1280, 720, false);
        let jpeg =
            Snapshot::of(&f, [u32::MAX / 2, u32::MAX / 2, u32::MAX / 4, 1 << 30]).plate_jpeg();
        let mut d = jpeg_decoder::Decoder::new(jpeg.as_slice());
        assert!(d.decode().unwrap().iter().all(|&v| v < 8));
    }
}
