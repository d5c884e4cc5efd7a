//! The on-disk form of one spooled read.
//!
//! A small binary frame in front of the published payload, so the forwarder
//! finds the topic and the spool counts ages without parsing JSON, and the
//! payload goes out byte for byte as it was made. All integers big-endian:
//!
//! ```text
//! version u8 (1) | read_id [16] | captured_at i64 | camera_id len u16 | camera_id | payload…
//! ```

use uuid::Uuid;

use crate::capture::UtcMillis;
use crate::record::Read;

/// Bumped when the layout changes; older frames are then refused, not misread.
pub const VERSION: u8 = 1;

/// Bytes before the camera id.
const FIXED: usize = 1 + 16 + 8 + 2;

/// One spooled read, as the forwarder needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub read_id: Uuid,
    pub camera_id: String,
    pub captured_at: UtcMillis,
    /// [`Read::to_payload`] bytes, published as they are.
    pub payload: Vec<u8>,
}

/// What the spool keeps in memory about a frame: everything but the payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header<'a> {
    pub read_id: Uuid,
    pub camera_id: &'a str,
    pub captured_at: UtcMillis,
    /// Where the payload starts in the frame.
    pub payload_at: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("frame is {have} bytes, too short for its header ({need} bytes)")]
    Truncated { need: usize, have: usize },
    #[error("frame version {0}, expected {VERSION}")]
    Version(u8),
    #[error("camera id is not UTF-8")]
    CameraId,
    #[error("camera id {0:?} is longer than 65535 bytes")]
    CameraIdTooLong(String),
}

/// Frames a read for the spool.
pub fn encode(read: &Read) -> Result<Vec<u8>, FrameError> {
    let cam = read.camera_id.as_bytes();
    let cam_len = u16::try_from(cam.len())
        .map_err(|_| FrameError::CameraIdTooLong(read.camera_id.clone()))?;
    let payload = read.to_payload();
    let mut out = Vec::with_capacity(FIXED + cam.len() + payload.len());
    out.push(VERSION);
    out.extend_from_slice(read.read_id.as_bytes());
    out.extend_from_slice(&read.captured_at.to_be_bytes());
    out.extend_from_slice(&cam_len.to_be_bytes());
    out.extend_from_slice(cam);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Reads the header only (cheap: no payload copy).
pub fn decode_header(frame: &[u8]) -> Result<Header<'_>, FrameError> {
    if frame.len() < FIXED {
        return Err(FrameError::Truncated {
            need: FIXED,
            have: frame.len(),
        });
    }
    if frame[0] != VERSION {
        return Err(FrameError::Version(frame[0]));
    }
    let read_id = Uuid::from_bytes(frame[1..17].try_into().expect("16 bytes"));
    let captured_at = i64::from_be_bytes(frame[17..25].try_into().expect("8 bytes"));
    let cam_len = u16::from_be_bytes(frame[25..27].try_into().expect("2 bytes")) as usize;
    let payload_at = FIXED + cam_len;
    if frame.len() < payload_at {
        return Err(FrameError::Truncated {
            need: payload_at,
            have: frame.len(),
        });
    }
    let camera_id =
        std::str::from_utf8(&frame[FIXED..payload_at]).map_err(|_| FrameError::CameraId)?;
    Ok(Header {
        read_id,
        camera_id,
        captured_at,
        payload_at,
    })
}

/// Reads a whole frame.
pub fn decode(frame: &[u8]) -> Result<Entry, FrameError> {
    let h = decode_header(frame)?;
    Ok(Entry {
        read_id: h.read_id,
        camera_id: h.camera_id.to_string(),
        captured_at: h.captured_at,
        payload: frame[h.payload_at..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(cam: &str) -> Read {
        Read {
            read_id: Uuid::now_v7(),
            gateway_id: "gw-1".into(),
            camera_id: cam.into(),
            captured_at: 1_795_000_000_123,
            vrm: "AB12CDE".into(),
            confidence: 0.9,
            char_confidence: vec![0.9; 7],
            plate_box: [1, 2, 3, 4],
            plate_jpeg: vec![0xff, 0xd8, 9],
            overview_jpeg: vec![0xff, 0xd8, 7, 7],
            frames: 1,
            preview: false,
            supersedes: None,
            clock_unsynchronised: false,
        }
    }

    #[test]
    fn round_trips_and_keeps_the_payload_byte_for_byte() {
        let r = read("cam-é1");
        let frame = encode(&r).unwrap();
        let e = decode(&frame).unwrap();
        assert_eq!(e.read_id, r.read_id);
        assert_eq!(e.camera_id, "cam-é1");
        assert_eq!(e.captured_at, r.captured_at);
        assert_eq!(e.payload, r.to_payload());
        assert_eq!(Read::from_payload(&e.payload).unwrap(), r);
    }

    #[test]
    fn damaged_frames_are_refused_not_misread() {
        let frame = encode(&read("cam-1")).unwrap();
        assert_eq!(
            decode(&frame[..10]).unwrap_err(),
            FrameError::Truncated { need: 27, have: 10 }
        );
        assert_eq!(
            decode(&frame[..29]).unwrap_err(),
            FrameError::Truncated { need: 32, have: 29 }
        );
        let mut v2 = frame.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2).unwrap_err(), FrameError::Version(2));
        let mut bad_utf8 = frame.clone();
        bad_utf8[27] = 0xff;
        assert_eq!(decode(&bad_utf8).unwrap_err(), FrameError::CameraId);
    }

    #[test]
    fn an_overlong_camera_id_is_an_error() {
        let long = "c".repeat(70_000);
        assert!(matches!(
            encode(&read(&long)),
            Err(FrameError::CameraIdTooLong(_))
        ));
    }
}
