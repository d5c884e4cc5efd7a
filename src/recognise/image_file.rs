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

/// Decodes JPEG or PNG bytes to (width, height, luma).
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
    Ok((w, h, luma))
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
