//! V4L2 devices, read directly with the `v4l` crate (memory-mapped buffers).
//!
//! Formats in order of preference: GREY (already luma), YUYV (luma is every
//! other byte), MJPG (decoded here). The device's own resolution is kept.

use std::path::Path;
use std::time::Duration;

use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::{CaptureError, Frame, FrameSource, Next, UtcMillis, convert};
use crate::record::now_millis;

/// Buffers queued in the driver.
const BUFFERS: u32 = 4;
/// Largest believable capture-to-arrival delay; beyond it the driver's
/// timestamp is not trusted.
const MAX_CAPTURE_DELAY_MS: i64 = 2000;

/// The pixel formats we can turn into luma, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    Grey,
    Yuyv,
    Mjpeg,
}

impl Pixels {
    const PREFERENCE: [Pixels; 3] = [Pixels::Grey, Pixels::Yuyv, Pixels::Mjpeg];

    fn fourcc(self) -> FourCC {
        FourCC::new(match self {
            Pixels::Grey => b"GREY",
            Pixels::Yuyv => b"YUYV",
            Pixels::Mjpeg => b"MJPG",
        })
    }

    /// The best format among those a device offers.
    pub fn choose(offered: &[[u8; 4]]) -> Option<Pixels> {
        Pixels::PREFERENCE
            .into_iter()
            .find(|p| offered.contains(&p.fourcc().repr))
    }
}

pub struct V4l2Source {
    stream: Stream<'static>,
    /// Whether a buffer has been taken from the driver yet (see
    /// [`V4l2Source::wait_for_frame`]).
    primed: bool,
    pixels: Pixels,
    width: usize,
    height: usize,
    stride: usize,
    seq: u64,
}

impl V4l2Source {
    pub fn open(path: &Path) -> Result<V4l2Source, CaptureError> {
        let open = |what: &str, e: std::io::Error| CaptureError::Open(format!("{what}: {e}"));
        let device = Device::with_path(path).map_err(|e| open("cannot open the device", e))?;
        let offered: Vec<[u8; 4]> = device
            .enum_formats()
            .map_err(|e| open("cannot list formats", e))?
            .iter()
            .map(|d| d.fourcc.repr)
            .collect();
        let pixels = Pixels::choose(&offered).ok_or_else(|| {
            let names: Vec<String> = offered
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            CaptureError::Open(format!(
                "offers none of GREY, YUYV, MJPG (only {})",
                names.join(", ")
            ))
        })?;
        let mut format = device
            .format()
            .map_err(|e| open("cannot read the format", e))?;
        format.fourcc = pixels.fourcc();
        let format = device
            .set_format(&format)
            .map_err(|e| open("cannot set the format", e))?;
        if format.fourcc != pixels.fourcc() {
            return Err(CaptureError::Open(format!(
                "refused the {pixels:?} format it offered"
            )));
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, BUFFERS)
            .map_err(|e| open("cannot map buffers", e))?;
        for index in 0..BUFFERS as usize {
            CaptureStream::queue(&mut stream, index)
                .map_err(|e| open("cannot queue buffers", e))?;
        }
        stream
            .start()
            .map_err(|e| open("cannot start streaming", e))?;
        Ok(V4l2Source {
            stream,
            primed: false,
            pixels,
            width: format.width as usize,
            height: format.height as usize,
            stride: format.stride as usize,
            seq: 0,
        })
    }
}

impl V4l2Source {
    /// Waits up to `timeout` for the driver to fill a buffer; true when one
    /// is ready.
    ///
    /// The crate's `next()` hands the previous buffer back to the driver
    /// before it waits, so a wait that times out inside it would hand the
    /// same buffer back twice on the next call, which the driver refuses
    /// (EINVAL): we wait here instead and call `next()` only with a frame
    /// ready. `next()` also hands back a buffer it never took on its first
    /// call, so the first frame is taken by hand and dropped.
    fn wait_for_frame(&mut self, timeout: Duration) -> std::io::Result<bool> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        if self.stream.handle().poll(libc::POLLIN, ms)? == 0 {
            return Ok(false);
        }
        if !self.primed {
            CaptureStream::dequeue(&mut self.stream)?;
            self.primed = true;
            return Ok(false);
        }
        Ok(true)
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self, timeout: Duration) -> Result<Next, CaptureError> {
        let lost = |e: std::io::Error| CaptureError::Lost(format!("device read failed: {e}"));
        if !self.wait_for_frame(timeout).map_err(lost)? {
            return Ok(Next::Timeout);
        }
        let (data, meta) = self.stream.next().map_err(lost)?;
        // i64 on 64-bit targets, i32 on 32-bit ARM site boxes: widen losslessly.
        #[allow(clippy::useless_conversion)]
        let captured_at = capture_time(
            i64::from(meta.timestamp.sec),
            i64::from(meta.timestamp.usec),
        );
        let data = &data[..(meta.bytesused as usize).min(data.len())];
        let bad = |why: &str| CaptureError::Frame(format!("{:?} frame: {why}", self.pixels));
        let (width, height, luma, chroma) = match self.pixels {
            Pixels::Grey => {
                let luma =
                    convert::unpad(data, self.width, self.height, self.stride.max(self.width))
                        .ok_or_else(|| bad("shorter than its format says"))?;
                (self.width, self.height, luma, None)
            }
            Pixels::Yuyv => {
                let (luma, chroma) = convert::yuyv(
                    data,
                    self.width,
                    self.height,
                    self.stride.max(self.width * 2),
                )
                .ok_or_else(|| bad("shorter than its format says"))?;
                (self.width, self.height, luma, Some(chroma))
            }
            Pixels::Mjpeg => convert::mjpeg(data).map_err(|e| bad(&e))?,
        };
        let frame = Frame {
            seq: self.seq,
            captured_at,
            width: width as u32,
            height: height as u32,
            luma: luma.into(),
            chroma,
        };
        self.seq += 1;
        Ok(Next::Frame(frame))
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// Maps a driver timestamp (CLOCK_MONOTONIC) to UTC.
fn capture_time(sec: i64, usec: i64) -> UtcMillis {
    let now = now_millis();
    let Ok(mono) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) else {
        return now;
    };
    let mono_ms = mono.tv_sec() * 1000 + mono.tv_nsec() / 1_000_000;
    let delay = mono_ms - (sec * 1000 + usec / 1000);
    if (0..=MAX_CAPTURE_DELAY_MS).contains(&delay) {
        now - delay
    } else {
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_grey_then_yuyv_then_mjpeg() {
        assert_eq!(
            Pixels::choose(&[*b"MJPG", *b"YUYV", *b"GREY"]),
            Some(Pixels::Grey)
        );
        assert_eq!(Pixels::choose(&[*b"MJPG", *b"YUYV"]), Some(Pixels::Yuyv));
        assert_eq!(Pixels::choose(&[*b"H264", *b"MJPG"]), Some(Pixels::Mjpeg));
        assert_eq!(Pixels::choose(&[*b"H264", *b"NV12"]), None);
    }

    #[test]
    fn a_fresh_driver_timestamp_maps_to_just_before_now() {
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
        let ms_ago = 40;
        let t = mono.tv_sec() * 1000 + mono.tv_nsec() / 1_000_000 - ms_ago;
        let at = capture_time(t / 1000, (t % 1000) * 1000);
        let now = now_millis();
        assert!(
            (now - at - ms_ago).abs() <= 20,
            "{} ms before now",
            now - at
        );
        // A nonsense timestamp falls back to the arrival time.
        assert!((now_millis() - capture_time(5, 0)).abs() <= 20);
    }

    /// Runs only where a V4L2 device exists (none can on the CI machines).
    #[test]
    fn a_real_device_delivers_frames() {
        let Some(device) = (0..8)
            .map(|i| format!("/dev/video{i}"))
            .find(|p| Path::new(p).exists())
        else {
            eprintln!("skipped: no /dev/video* device on this machine");
            return;
        };
        let mut source = match V4l2Source::open(Path::new(&device)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped: {device} is not a usable capture device: {e}");
                return;
            }
        };
        let frame = (0..50)
            .find_map(
                |_| match source.next_frame(Duration::from_millis(100)).unwrap() {
                    Next::Frame(f) => Some(f),
                    _ => None,
                },
            )
            .expect("a frame within 5 s");
        assert_eq!(frame.luma.len(), (frame.width * frame.height) as usize);
    }
}
