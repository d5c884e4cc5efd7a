//! The on-disk form of one spooled read.
//!
//! A small binary frame in front of the published payload, so the forwarder
//! finds the topic and the spool counts ages without parsing JSON, and the
//! payload goes out byte for byte as it was made. All integers big-endian:
//!
//! ```text
//! v3: version u8 (3) | stage u8 | read_id [16] | captured_at i64 | camera_id len u16 | camera_id | stored len u32 | crc32 u32
//! v2: version u8 (2) | stage u8 | read_id [16] | captured_at i64 | camera_id len u16 | camera_id | payload…
//! v1: version u8 (1) |            read_id [16] | captured_at i64 | camera_id len u16 | camera_id | payload…
//! ```
//!
//! `stage` says which images a full spool has already removed ([`Stage`]);
//! v1 frames (written before shedding existed) are read as [`Stage::Full`].
//! A v3 record keeps its payload in a file (`payloads.rs`): the record holds
//! the length and CRC-32 of the file as stored, so a file that is not the
//! one written is refused, sealed or not. [`external_record`] makes a v3
//! record of a v2 frame, [`join`] the v2 frame again from the record and the payload.
//! Every encode and decode of a stored value happens in this file.

use uuid::Uuid;

use crate::capture::UtcMillis;
use crate::record::Read;

/// Bumped when the layout changes; unknown versions are refused, not misread.
pub const VERSION: u8 = 2;
/// The first layout, still read.
const VERSION_1: u8 = 1;
/// The payload is in a file; the record says its length and CRC.
const VERSION_EXTERNAL: u8 = 3;
/// Length and CRC after a v3 record's camera id.
pub const EXTERNAL_TAIL: usize = 8;

/// Bytes after the version (and stage) before the camera id.
const FIXED: usize = 16 + 8 + 2;

/// How much of a read a full spool has kept, in the order it sheds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Text, plate patch and overview image.
    Full = 0,
    /// The overview image was removed.
    NoOverview = 1,
    /// Both images were removed: the text read only.
    TextOnly = 2,
}

impl Stage {
    fn from_u8(b: u8) -> Result<Stage, FrameError> {
        match b {
            0 => Ok(Stage::Full),
            1 => Ok(Stage::NoOverview),
            2 => Ok(Stage::TextOnly),
            other => Err(FrameError::Stage(other)),
        }
    }
}

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
    pub stage: Stage,
    /// Where the payload starts in the frame (its end for a v3 record).
    pub payload_at: usize,
    /// Set for a v3 record: its payload is in a file.
    pub external: Option<External>,
}

/// What a v3 record says of the file that holds its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct External {
    /// Bytes of the file as stored (sealed, if the spool seals).
    pub len: u32,
    /// CRC-32 of those bytes.
    pub crc: u32,
}

impl External {
    /// Whether `stored` is the file this record names.
    pub fn matches(&self, stored: &[u8]) -> bool {
        u32::try_from(stored.len()) == Ok(self.len) && crc32fast::hash(stored) == self.crc
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("frame is {have} bytes, too short for its header ({need} bytes)")]
    Truncated { need: usize, have: usize },
    #[error("frame version {0}, expected {VERSION_1} to {VERSION_EXTERNAL}")]
    Version(u8),
    #[error("frame stage {0} is unknown")]
    Stage(u8),
    #[error("payload: {0}")]
    Payload(String),
    #[error("camera id is not UTF-8")]
    CameraId,
    #[error("camera id {0:?} is longer than 65535 bytes")]
    CameraIdTooLong(String),
    #[error("the payload is in a file, not in the record")]
    External,
    #[error("payload of {0} bytes is too large for a file record")]
    PayloadTooLarge(usize),
}

/// Frames a read for the spool.
pub fn encode(read: &Read) -> Result<Vec<u8>, FrameError> {
    encode_at(read, Stage::Full)
}

fn encode_at(read: &Read, stage: Stage) -> Result<Vec<u8>, FrameError> {
    let cam = read.camera_id.as_bytes();
    let cam_len = u16::try_from(cam.len())
        .map_err(|_| FrameError::CameraIdTooLong(read.camera_id.clone()))?;
    let payload = read.to_payload();
    let mut out = Vec::with_capacity(2 + FIXED + cam.len() + payload.len());
    out.push(VERSION);
    out.push(stage as u8);
    out.extend_from_slice(read.read_id.as_bytes());
    out.extend_from_slice(&read.captured_at.to_be_bytes());
    out.extend_from_slice(&cam_len.to_be_bytes());
    out.extend_from_slice(cam);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Re-frames a stored read with less kept: the overview removed for
/// [`Stage::NoOverview`], both images for [`Stage::TextOnly`]. Removed images
/// are published as empty strings.
pub fn shed(frame: &[u8], to: Stage) -> Result<Vec<u8>, FrameError> {
    let h = decode_header(frame)?;
    if h.external.is_some() {
        return Err(FrameError::External);
    }
    let mut read = Read::from_payload(&frame[h.payload_at..])
        .map_err(|e| FrameError::Payload(e.to_string()))?;
    if to >= Stage::NoOverview {
        read.overview_jpeg = Vec::new();
    }
    if to >= Stage::TextOnly {
        read.plate_jpeg = Vec::new();
    }
    encode_at(&read, to.max(h.stage))
}

/// Reads the header only (cheap: no payload copy).
pub fn decode_header(frame: &[u8]) -> Result<Header<'_>, FrameError> {
    let (stage, rest) = match frame.first() {
        Some(&(VERSION | VERSION_EXTERNAL)) => match frame.get(1) {
            Some(&b) => (Stage::from_u8(b)?, &frame[2..]),
            None => (Stage::Full, &frame[1..]),
        },
        Some(&VERSION_1) => (Stage::Full, &frame[1..]),
        Some(&v) => return Err(FrameError::Version(v)),
        None => (Stage::Full, frame),
    };
    let skipped = frame.len() - rest.len();
    let fixed = skipped + FIXED;
    if frame.len() < fixed {
        return Err(FrameError::Truncated {
            need: fixed,
            have: frame.len(),
        });
    }
    let read_id = Uuid::from_bytes(rest[0..16].try_into().expect("16 bytes"));
    let captured_at = i64::from_be_bytes(rest[16..24].try_into().expect("8 bytes"));
    let cam_len = u16::from_be_bytes(rest[24..26].try_into().expect("2 bytes")) as usize;
    let payload_at = fixed + cam_len;
    if frame.len() < payload_at {
        return Err(FrameError::Truncated {
            need: payload_at,
            have: frame.len(),
        });
    }
    let camera_id =
        std::str::from_utf8(&frame[fixed..payload_at]).map_err(|_| FrameError::CameraId)?;
    let external = if frame[0] == VERSION_EXTERNAL {
        let tail =
            frame
                .get(payload_at..payload_at + EXTERNAL_TAIL)
                .ok_or(FrameError::Truncated {
                    need: payload_at + EXTERNAL_TAIL,
                    have: frame.len(),
                })?;
        Some(External {
            len: u32::from_be_bytes(tail[..4].try_into().expect("4 bytes")),
            crc: u32::from_be_bytes(tail[4..].try_into().expect("4 bytes")),
        })
    } else {
        None
    };
    Ok(Header {
        read_id,
        camera_id,
        captured_at,
        stage,
        payload_at: if external.is_some() {
            frame.len()
        } else {
            payload_at
        },
        external,
    })
}

/// A v2 `frame`'s header and payload.
pub fn split(frame: &[u8]) -> Result<(Header<'_>, &[u8]), FrameError> {
    let h = decode_header(frame)?;
    if h.external.is_some() {
        return Err(FrameError::External);
    }
    Ok((h, &frame[h.payload_at..]))
}

/// The v3 record for the v2 `frame` whose payload is stored as `file`
/// (its bytes as they go to disk).
pub fn external_record(frame: &[u8], file: &[u8]) -> Result<Vec<u8>, FrameError> {
    let (h, _) = split(frame)?;
    if frame[0] != VERSION {
        return Err(FrameError::Version(frame[0]));
    }
    let len = u32::try_from(file.len()).map_err(|_| FrameError::PayloadTooLarge(file.len()))?;
    let mut out = Vec::with_capacity(h.payload_at + EXTERNAL_TAIL);
    out.push(VERSION_EXTERNAL);
    out.extend_from_slice(&frame[1..h.payload_at]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(file).to_be_bytes());
    Ok(out)
}

/// The v2 frame for a v3 `record` and its `payload` (opened from the file).
pub fn join(record: &[u8], payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let h = decode_header(record)?;
    if h.external.is_none() {
        return Err(FrameError::Payload(
            "the record is not a file record".into(),
        ));
    }
    let header_end = record.len() - EXTERNAL_TAIL;
    let mut out = Vec::with_capacity(header_end + payload.len());
    out.push(VERSION);
    out.extend_from_slice(&record[1..header_end]);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Reads a whole frame.
pub fn decode(frame: &[u8]) -> Result<Entry, FrameError> {
    let h = decode_header(frame)?;
    if h.external.is_some() {
        return Err(FrameError::External);
    }
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
            FrameError::Truncated { need: 28, have: 10 }
        );
        assert_eq!(
            decode(&frame[..30]).unwrap_err(),
            FrameError::Truncated { need: 33, have: 30 }
        );
        assert!(decode(&[]).is_err());
        assert!(decode(&[VERSION]).is_err());
        let mut v4 = frame.clone();
        v4[0] = 4;
        assert_eq!(decode(&v4).unwrap_err(), FrameError::Version(4));
        let mut stage = frame.clone();
        stage[1] = 9;
        assert_eq!(decode(&stage).unwrap_err(), FrameError::Stage(9));
        let mut bad_utf8 = frame.clone();
        bad_utf8[28] = 0xff;
        assert_eq!(decode(&bad_utf8).unwrap_err(), FrameError::CameraId);
    }

    #[test]
    fn a_file_record_stands_for_its_frame_and_joins_back_to_it() {
        let frame = shed(&encode(&read("cam-7")).unwrap(), Stage::NoOverview).unwrap();
        let (h, payload) = split(&frame).unwrap();
        let file = payload.to_vec();
        let record = external_record(&frame, &file).unwrap();
        assert_eq!(record.len(), h.payload_at + EXTERNAL_TAIL);
        let rh = decode_header(&record).unwrap();
        assert_eq!(
            (rh.read_id, rh.camera_id, rh.captured_at, rh.stage),
            (h.read_id, h.camera_id, h.captured_at, Stage::NoOverview)
        );
        let external = rh.external.unwrap();
        assert!(external.matches(&file));
        assert!(!external.matches(&file[1..]));
        let mut flipped = file.clone();
        flipped[3] ^= 0x40;
        assert!(!external.matches(&flipped));
        // The record alone is not a read; joined with its file it is the frame.
        assert_eq!(decode(&record).unwrap_err(), FrameError::External);
        assert_eq!(
            shed(&record, Stage::TextOnly).unwrap_err(),
            FrameError::External
        );
        assert_eq!(join(&record, &file).unwrap(), frame);
        assert!(join(&frame, &file).is_err(), "a v2 frame has no file");
        // A record cut short loses its length and CRC: refused.
        assert!(matches!(
            decode_header(&record[..record.len() - 3]),
            Err(FrameError::Truncated { .. })
        ));
    }

    #[test]
    fn version_1_frames_are_still_read() {
        let r = read("cam-1");
        let mut v1 = encode(&r).unwrap();
        v1.remove(1);
        v1[0] = VERSION_1;
        let e = decode(&v1).unwrap();
        assert_eq!(e.read_id, r.read_id);
        assert_eq!(e.payload, r.to_payload());
        assert_eq!(decode_header(&v1).unwrap().stage, Stage::Full);
    }

    #[test]
    fn shedding_removes_the_overview_then_the_plate_and_keeps_the_text() {
        let r = read("cam-1");
        let full = encode(&r).unwrap();
        let no_overview = shed(&full, Stage::NoOverview).unwrap();
        let h = decode_header(&no_overview).unwrap();
        assert_eq!((h.read_id, h.stage), (r.read_id, Stage::NoOverview));
        let back = Read::from_payload(&decode(&no_overview).unwrap().payload).unwrap();
        assert!(back.overview_jpeg.is_empty());
        assert_eq!(back.plate_jpeg, r.plate_jpeg);
        assert_eq!(back.vrm, r.vrm);
        let text = shed(&no_overview, Stage::TextOnly).unwrap();
        let back = Read::from_payload(&decode(&text).unwrap().payload).unwrap();
        assert!(back.plate_jpeg.is_empty() && back.overview_jpeg.is_empty());
        assert_eq!((back.read_id, back.captured_at), (r.read_id, r.captured_at));
        // Never back up a stage.
        let again = shed(&text, Stage::NoOverview).unwrap();
        assert_eq!(decode_header(&again).unwrap().stage, Stage::TextOnly);
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
