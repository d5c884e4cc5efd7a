//! Still images (JPEG, PNG) as luma frames, for `anprd recognise` and
//! `anprd eval`: the engines read the same [`Frame`] a camera delivers.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::capture::Frame;

/// Reads a JPEG or PNG file (told apart by its first bytes) into a luma frame.
pub fn load_luma(path: &Path) -> Result<Frame> {
    let data = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let (w, h, luma) = decode_luma(&data).with_context(|| format!("{}", path.display()))?;
    Ok(frame(w, h, luma))
}

/// A frame holding `luma` (`w`×`h`), as a capture source would make it.
pub fn frame(w: u32, h: u32, luma: Vec<u8>) -> Frame {
    Frame {
        seq: 0,
        captured_at: 0,
        width: w,
        height: h,
        luma: luma.into(),
        chroma: None,
    }
}

/// Decodes JPEG or PNG bytes to (width, height, luma), upright: a JPEG's
/// EXIF orientation (a phone's sideways sensor) is applied, as picture
/// viewers apply it, so plates are read, and boxes given, the way up a person
/// sees the picture.
pub fn decode_luma(data: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    if data.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(data)
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(data)
    } else {
        bail!("not a JPEG or PNG image")
    }
}

fn decode_jpeg(data: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let mut d = crate::capture::convert::jpeg_decoder(data).map_err(anyhow::Error::msg)?;
    let pixels = d.decode().context("JPEG does not decode")?;
    let info = d.info().context("JPEG without a header")?;
    let (w, h) = (info.width as u32, info.height as u32);
    let luma = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => pixels,
        jpeg_decoder::PixelFormat::L16 => {
            // 12- or 16-bit samples in native byte order: scaled to 8 bits
            // by the brightest one (the header does not say the depth).
            let wide: Vec<u16> = pixels
                .chunks_exact(2)
                .map(|p| u16::from_ne_bytes([p[0], p[1]]))
                .collect();
            let top = u32::from(wide.iter().copied().max().unwrap_or(0).max(1));
            wide.iter()
                .map(|&v| (u32::from(v) * 255 / top) as u8)
                .collect()
        }
        jpeg_decoder::PixelFormat::RGB24 => rgb_luma(&pixels, 3),
        jpeg_decoder::PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .map(|p| {
                let k = 255 - p[3] as u32;
                let rgb = [p[0], p[1], p[2]].map(|c| ((255 - c as u32) * k / 255) as u8);
                luma_of(rgb[0], rgb[1], rgb[2])
            })
            .collect(),
    };
    match d.exif_data().and_then(exif_orientation) {
        // 1 is upright already (most cameras write it).
        Some(orientation) if orientation != 1 && luma.len() == w as usize * h as usize => {
            Ok(upright(w, h, &luma, orientation))
        }
        _ => Ok((w, h, luma)),
    }
}

/// The orientation (1–8) that EXIF data `tiff` (from its TIFF header on)
/// gives its picture in the first IFD, if it gives a valid one.
fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let big_endian = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    // The unsigned integer of `len` bytes at `i`, in the data's byte order.
    let uint_at = |i: usize, len: usize| {
        let bytes = tiff.get(i..i.checked_add(len)?)?;
        let push = |v: u32, &b: &u8| (v << 8) | u32::from(b);
        Some(if big_endian {
            bytes.iter().fold(0, push)
        } else {
            bytes.iter().rev().fold(0, push)
        })
    };
    let u16_at = |i: usize| uint_at(i, 2);
    const ORIENTATION: u32 = 0x0112;
    const SHORT: u32 = 3;
    let ifd = usize::try_from(uint_at(4, 4)?).ok()?;
    let entries = usize::try_from(u16_at(ifd)?).ok()?;
    (0..entries)
        .map(|n| ifd + 2 + 12 * n)
        .find(|&entry| u16_at(entry) == Some(ORIENTATION))
        .filter(|&entry| u16_at(entry + 2) == Some(SHORT))
        .and_then(|entry| u16_at(entry + 8))
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| (1..=8).contains(v))
}

/// `luma` (`w`×`h`, stored as EXIF `orientation` says) turned and mirrored
/// upright: (width, height, luma).
fn upright(w: u32, h: u32, luma: &[u8], orientation: u8) -> (u32, u32, Vec<u8>) {
    let (w, h) = (w as usize, h as usize);
    // Orientations 5–8 swap the sides.
    let (out_w, out_h) = if orientation >= 5 { (h, w) } else { (w, h) };
    let mut out = Vec::with_capacity(w * h);
    for y in 0..out_h {
        for x in 0..out_w {
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            };
            out.push(luma[sy * w + sx]);
        }
    }
    (out_w as u32, out_h as u32, out)
}

fn decode_png(data: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let mut d = png::Decoder::new(data);
    d.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = d.read_info().context("PNG does not decode")?;
    let (w, h) = reader.info().size();
    if u64::from(w) * u64::from(h) > crate::capture::convert::MAX_PIXELS {
        bail!(
            "PNG of {w}×{h} pixels is larger than the {} M pixels read",
            crate::capture::convert::MAX_PIXELS >> 20
        );
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).context("PNG does not decode")?;
    buf.truncate(info.buffer_size());
    let luma = match info.color_type {
        png::ColorType::Grayscale => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).map(|p| p[0]).collect(),
        png::ColorType::Rgb => rgb_luma(&buf, 3),
        png::ColorType::Rgba => rgb_luma(&buf, 4),
        png::ColorType::Indexed => bail!("indexed PNG was not expanded"),
    };
    Ok((info.width, info.height, luma))
}

/// BT.601 luma of interleaved RGB pixels `stride` bytes apart.
fn rgb_luma(px: &[u8], stride: usize) -> Vec<u8> {
    px.chunks_exact(stride)
        .map(|p| luma_of(p[0], p[1], p[2]))
        .collect()
}

fn luma_of(r: u8, g: u8, b: u8) -> u8 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u8
}

/// Whether `path` names a JPEG or PNG by its extension.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Files as given, and the images directly inside directories, sorted.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot open", p.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_image(f) && f.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EXIF data holding just an orientation tag, in either byte order.
    fn exif(orientation: u16, big_endian: bool) -> Vec<u8> {
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut t = if big_endian {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        t.extend(u32b(8)); // the first IFD follows the header
        t.extend(u16b(2)); // two entries: another tag, then the orientation
        for (tag, value) in [(0x010F, 7u16), (0x0112, orientation)] {
            t.extend(u16b(tag));
            t.extend(u16b(3)); // SHORT
            t.extend(u32b(1));
            t.extend(u16b(value));
            t.extend([0, 0]);
        }
        t.extend(u32b(0)); // no next IFD
        t
    }

    #[test]
    fn the_orientation_is_read_in_either_byte_order_and_nonsense_is_ignored() {
        for big_endian in [false, true] {
            for o in 1..=8 {
                assert_eq!(exif_orientation(&exif(o, big_endian)), Some(o as u8));
            }
            assert_eq!(exif_orientation(&exif(0, big_endian)), None);
            assert_eq!(exif_orientation(&exif(9, big_endian)), None);
        }
        let whole = exif(6, false);
        // Header 8 bytes, entry count 2, the first entry 12: the orientation's
        // value ends at 32.
        for cut in 0..32 {
            // Cut short anywhere before its end: no orientation, no panic.
            assert_eq!(exif_orientation(&whole[..cut]), None, "cut at {cut}");
        }
        let mut far = whole.clone();
        far[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(exif_orientation(&far), None, "an IFD past the end");
        assert_eq!(exif_orientation(b"Exif\0\0II*\0"), None);
    }

    #[test]
    fn each_orientation_turns_the_picture_upright() {
        // Upright, the picture is  a b c  ; each orientation stores it
        //                          d e f
        // differently, and every one comes back as it.
        let upright_px = [b'a', b'b', b'c', b'd', b'e', b'f'];
        let stored: [(u8, u32, u32, &[u8; 6]); 8] = [
            (1, 3, 2, b"abcdef"),
            (2, 3, 2, b"cbafed"),
            (3, 3, 2, b"fedcba"),
            (4, 3, 2, b"defabc"),
            (5, 2, 3, b"adbecf"),
            (6, 2, 3, b"cfbead"),
            (7, 2, 3, b"fcebda"),
            (8, 2, 3, b"daebfc"),
        ];
        for (orientation, w, h, px) in stored {
            assert_eq!(
                upright(w, h, px, orientation),
                (3, 2, upright_px.to_vec()),
                "orientation {orientation}"
            );
        }
    }

    #[test]
    fn a_jpeg_stored_sideways_is_read_upright() {
        // 16×8 upright: dark left half, bright right half; stored turned a
        // quarter anticlockwise (8×16, bright on top) with orientation 6.
        let (w, h) = (8u16, 16u16);
        let stored: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |_| if y < h / 2 { 230 } else { 20 }))
            .collect();
        let mut jpeg = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 95);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(exif(6, true));
        enc.add_app_segment(1, app1).unwrap();
        enc.encode(&stored, w, h, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let (uw, uh, luma) = decode_luma(&jpeg).unwrap();
        assert_eq!((uw, uh), (16, 8));
        let left = luma[4 * 16 + 2] as i32; // row 4, column 2
        let right = luma[4 * 16 + 13] as i32; // row 4, column 13
        assert!(left < 60 && right > 190, "left {left}, right {right}");
    }
}
