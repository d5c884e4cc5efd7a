//! Pixel conversions from what cameras send to what recognition wants: a
//! tightly packed luma plane, plus half-resolution chroma when there is colour.

use super::Chroma;

/// Copies `height` rows of `width` bytes out of rows `stride` bytes apart
/// (GStreamer and V4L2 pad rows, e.g. to 4 bytes). None if `data` is short.
pub fn unpad(data: &[u8], width: usize, height: usize, stride: usize) -> Option<Vec<u8>> {
    // No pixels (also keeps a zero stride away from `chunks`, found by fuzzing).
    if height == 0 || width == 0 {
        return Some(Vec::new());
    }
    if stride < width || data.len() < stride * (height - 1) + width {
        return None;
    }
    let mut out = Vec::with_capacity(width * height);
    for row in data.chunks(stride).take(height) {
        out.extend_from_slice(&row[..width]);
    }
    Some(out)
}

/// YUYV (YUY2) 4:2:2 → luma, and 4:2:0 chroma by averaging row pairs.
pub fn yuyv(data: &[u8], width: usize, height: usize, stride: usize) -> Option<(Vec<u8>, Chroma)> {
    let row_bytes = width.div_ceil(2) * 4;
    if height == 0 || stride < row_bytes || data.len() < stride * (height - 1) + row_bytes {
        return None;
    }
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let mut luma = Vec::with_capacity(width * height);
    let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    for y in 0..height {
        let row = &data[y * stride..y * stride + row_bytes];
        for x in 0..width {
            luma.push(row[(x / 2) * 4 + (x % 2) * 2]);
        }
        if y % 2 == 0 {
            let below = if y + 1 < height {
                &data[(y + 1) * stride..(y + 1) * stride + row_bytes]
            } else {
                row
            };
            for cx in 0..cw {
                u[(y / 2) * cw + cx] =
                    (row[cx * 4 + 1] as u16 + below[cx * 4 + 1] as u16).div_ceil(2) as u8;
                v[(y / 2) * cw + cx] =
                    (row[cx * 4 + 3] as u16 + below[cx * 4 + 3] as u16).div_ceil(2) as u8;
            }
        }
    }
    Some((
        luma,
        Chroma {
            u: u.into(),
            v: v.into(),
        },
    ))
}

/// Largest picture decoded from an image file or an MJPEG frame, in pixels
/// (8K is 33 M). A header may claim 65535×65535 in a few dozen bytes; a
/// larger claim is refused before anything is allocated for it.
pub const MAX_PIXELS: u64 = 64 << 20;

/// A JPEG decoder that has read `data`'s header and found the picture no
/// larger than [`MAX_PIXELS`]; its buffers are held to that size too.
pub fn jpeg_decoder(data: &[u8]) -> Result<jpeg_decoder::Decoder<&[u8]>, String> {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    decoder
        .read_info()
        .map_err(|e| format!("JPEG does not decode: {e}"))?;
    let info = decoder.info().ok_or("JPEG without a header")?;
    let pixels = u64::from(info.width) * u64::from(info.height);
    if pixels > MAX_PIXELS {
        return Err(format!(
            "JPEG of {}×{} pixels is larger than the {} M pixels read",
            info.width,
            info.height,
            MAX_PIXELS >> 20
        ));
    }
    // Four components of 16 bits at most.
    decoder.set_max_decoding_buffer_size((MAX_PIXELS * 8) as usize);
    Ok(decoder)
}

/// One MJPEG frame → luma (and chroma when the JPEG is in colour).
pub fn mjpeg(data: &[u8]) -> Result<(usize, usize, Vec<u8>, Option<Chroma>), String> {
    let mut decoder = jpeg_decoder(data)?;
    let pixels = decoder
        .decode()
        .map_err(|e| format!("MJPEG frame does not decode: {e}"))?;
    let info = decoder.info().ok_or("MJPEG frame without a header")?;
    let (w, h) = (info.width as usize, info.height as usize);
    match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => Ok((w, h, pixels, None)),
        jpeg_decoder::PixelFormat::RGB24 => {
            let (luma, chroma) = rgb_to_yuv420(&pixels, w, h);
            Ok((w, h, luma, Some(chroma)))
        }
        other => Err(format!("MJPEG pixel format {other:?} is not supported")),
    }
}

/// BT.601 full-range RGB → luma and 4:2:0 chroma (top-left sample of each 2×2).
fn rgb_to_yuv420(rgb: &[u8], w: usize, h: usize) -> (Vec<u8>, Chroma) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut luma = Vec::with_capacity(w * h);
    let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    for y in 0..h {
        for x in 0..w {
            let p = &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            luma.push(
                (0.299 * r + 0.587 * g + 0.114 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
            if y % 2 == 0 && x % 2 == 0 {
                let i = (y / 2) * cw + x / 2;
                u[i] = (128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8;
                v[i] = (128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
    }
    (
        luma,
        Chroma {
            u: u.into(),
            v: v.into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpad_drops_row_padding() {
        // 3×2 image in rows padded to 4 bytes (as GStreamer pads GRAY8).
        let data = [1, 2, 3, 0xEE, 4, 5, 6, 0xEE];
        assert_eq!(unpad(&data, 3, 2, 4), Some(vec![1, 2, 3, 4, 5, 6]));
        // The last row may end without its padding.
        assert_eq!(unpad(&data[..7], 3, 2, 4), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(unpad(&data[..6], 3, 2, 4), None, "short buffer");
        assert_eq!(unpad(&data, 5, 2, 4), None, "stride narrower than a row");
        // Found by fuzzing: a zero-width frame with a zero stride panicked.
        assert_eq!(unpad(&data, 0, 2, 0), Some(Vec::new()));
        assert_eq!(yuyv(&data, 0, 2, 0).map(|(l, _)| l), Some(Vec::new()));
    }

    #[test]
    fn yuyv_splits_luma_and_averages_chroma() {
        // 3×2 pixels: each row is 2 macropixels (Y0 U Y1 V) = 8 bytes, stride 10.
        #[rustfmt::skip]
        let data = [
            10, 100, 20, 200,  30, 110, 99, 210,  0xEE, 0xEE,
            40, 102, 50, 202,  60, 112, 99, 212,  0xEE, 0xEE,
        ];
        let (luma, chroma) = yuyv(&data, 3, 2, 10).unwrap();
        assert_eq!(luma, [10, 20, 30, 40, 50, 60]);
        assert_eq!(*chroma.u, [101, 111]);
        assert_eq!(*chroma.v, [201, 211]);
        assert!(yuyv(&data[..12], 3, 2, 10).is_none());
    }

    #[test]
    fn mjpeg_frames_decode_to_luma_and_chroma() {
        let (w, h) = (33u16, 17u16);
        let mut rgb = Vec::new();
        for _ in 0..(w as usize * h as usize) {
            rgb.extend_from_slice(&[200, 200, 200]);
        }
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 95)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let (dw, dh, luma, chroma) = mjpeg(&jpeg).unwrap();
        assert_eq!((dw, dh), (33, 17));
        assert_eq!(luma.len(), 33 * 17);
        assert!(
            luma.iter().all(|&y| (195..=205).contains(&y)),
            "gray 200 stays gray"
        );
        let chroma = chroma.expect("colour JPEG has chroma");
        assert_eq!(chroma.u.len(), 17 * 9);
        assert!(
            chroma.u.iter().all(|&c| (124..=132).contains(&c)),
            "no colour cast"
        );

        let mut gray = Vec::new();
        jpeg_encoder::Encoder::new(&mut gray, 95)
            .encode(&[50u8; 64], 8, 8, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let (_, _, luma, chroma) = mjpeg(&gray).unwrap();
        assert!(chroma.is_none() && luma.iter().all(|&y| (45..=55).contains(&y)));
        assert!(
            mjpeg(b"not a jpeg")
                .unwrap_err()
                .contains("does not decode")
        );
    }

    /// A webcam MJPEG frame: like a JPEG file but without Huffman tables
    /// (DHT segments), marked with an AVI1 APP0 segment instead; decoders use
    /// the standard tables. (After the capture branch's test of the same.)
    fn as_webcam_mjpeg(jpeg: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        out.extend_from_slice(b"AVI1\0\0\0\0\0\0\0\0\0\0");
        let mut i = 2;
        loop {
            assert_eq!(jpeg[i], 0xFF, "segment marker at {i}");
            let marker = jpeg[i + 1];
            if marker == 0xDA {
                out.extend_from_slice(&jpeg[i..]);
                return out;
            }
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if marker != 0xC4 {
                out.extend_from_slice(&jpeg[i..i + 2 + len]);
            }
            i += 2 + len;
        }
    }

    #[test]
    fn webcam_mjpeg_without_huffman_tables_decodes_like_the_full_jpeg() {
        let (w, h) = (24u16, 10u16);
        let rgb: Vec<u8> = (0..w as usize * h as usize)
            .flat_map(|i| [(i * 7 % 256) as u8, (i * 3 % 256) as u8, 90])
            .collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let webcam = as_webcam_mjpeg(&jpeg);
        assert!(webcam.len() < jpeg.len(), "Huffman tables were stripped");
        let (_, _, full_luma, full_chroma) = mjpeg(&jpeg).unwrap();
        let (_, _, luma, chroma) = mjpeg(&webcam).unwrap();
        assert_eq!(luma, full_luma);
        assert_eq!(chroma.unwrap().u, full_chroma.unwrap().u);
    }
}
