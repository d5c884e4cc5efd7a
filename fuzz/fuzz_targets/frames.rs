//! Camera frames as they arrive: MJPEG (corrupt streams), YUYV and padded
//! grey rows of any size and stride. A clear error or pixels, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let dim = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]) as usize % 2048;
    let (width, height, stride) = (dim(0), dim(2), dim(4));
    let body = &data[6..];
    if let Some(luma) = anprd::capture::convert::unpad(body, width, height, stride) {
        assert_eq!(luma.len(), width * height);
    }
    if let Some((luma, chroma)) = anprd::capture::convert::yuyv(body, width, height, stride) {
        assert_eq!(luma.len(), width * height);
        assert_eq!(chroma.u.len(), width.div_ceil(2) * height.div_ceil(2));
    }
    if let Ok((w, h, luma, _)) = anprd::capture::convert::mjpeg(data) {
        assert_eq!(luma.len(), w * h);
    }
});
