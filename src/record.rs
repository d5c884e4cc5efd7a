//! The read: what one vehicle pass becomes, and its wire form.
//!
//! By design the type has no field that could hold a location, a hostname or a
//! site label: ids are opaque and everything else describes the plate.

use crate::capture::UtcMillis;
use uuid::Uuid;

/// Schema name carried in every payload, bumped on incompatible change.
pub const SCHEMA: &str = "anprd.read/1";

#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    /// UUIDv7: unique, and sorts by creation time. Receivers dedupe on it.
    pub read_id: Uuid,
    pub gateway_id: String,
    pub camera_id: String,
    pub captured_at: UtcMillis,
    /// The plate text (vehicle registration mark).
    pub vrm: String,
    pub confidence: f32,
    pub char_confidence: Vec<f32>,
    /// x, y, width, height of the plate in the overview frame's full resolution.
    pub plate_box: [u32; 4],
    pub plate_jpeg: Vec<u8>,
    pub overview_jpeg: Vec<u8>,
    /// Frames of the vehicle pass that supported this reading.
    pub frames: u32,
    /// An early read, sent while the vehicle is still in view; the final read
    /// of the pass follows and names it in `supersedes`.
    pub preview: bool,
    /// The preview this final read replaces.
    pub supersedes: Option<Uuid>,
    /// The system clock was not synchronised when the read was made, so
    /// `captured_at` may be off (see [`crate::clock`]).
    pub clock_unsynchronised: bool,
}

/// The JSON object published for a read. Field names are the contract with
/// the national store; images travel as base64 JPEG.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "anprd.read/1")]
struct Payload {
    schema: String,
    read_id: Uuid,
    gateway_id: String,
    camera_id: String,
    captured_at: String,
    vrm: String,
    confidence: f32,
    char_confidence: Vec<f32>,
    plate_box: [u32; 4],
    plate_jpeg: String,
    overview_jpeg: String,
    frames: u32,
    preview: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    supersedes: Option<Uuid>,
    /// Present (true) only when the clock was unsynchronised.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    clock_unsynchronised: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("read payload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("read payload has schema {0:?}, expected {SCHEMA:?}")]
    Schema(String),
    #[error("read payload field {field}: {reason}")]
    Field { field: &'static str, reason: String },
}

impl Read {
    /// The MQTT payload: one JSON object.
    pub fn to_payload(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = &base64::engine::general_purpose::STANDARD;
        let payload = Payload {
            schema: SCHEMA.to_string(),
            read_id: self.read_id,
            gateway_id: self.gateway_id.clone(),
            camera_id: self.camera_id.clone(),
            captured_at: rfc3339_millis(self.captured_at),
            vrm: self.vrm.clone(),
            confidence: self.confidence,
            char_confidence: self.char_confidence.clone(),
            plate_box: self.plate_box,
            plate_jpeg: b64.encode(&self.plate_jpeg),
            overview_jpeg: b64.encode(&self.overview_jpeg),
            frames: self.frames,
            preview: self.preview,
            supersedes: self.supersedes,
            clock_unsynchronised: self.clock_unsynchronised,
        };
        serde_json::to_vec(&payload).expect("a read always serialises")
    }

    /// Parses a payload made by [`Read::to_payload`] (tests, tools, the spool).
    pub fn from_payload(bytes: &[u8]) -> Result<Read, PayloadError> {
        use base64::Engine as _;
        let b64 = &base64::engine::general_purpose::STANDARD;
        let p: Payload = serde_json::from_slice(bytes)?;
        if p.schema != SCHEMA {
            return Err(PayloadError::Schema(p.schema));
        }
        let field = |field, reason: String| PayloadError::Field { field, reason };
        let captured_at = time::OffsetDateTime::parse(
            &p.captured_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| field("captured_at", e.to_string()))?;
        Ok(Read {
            read_id: p.read_id,
            gateway_id: p.gateway_id,
            camera_id: p.camera_id,
            captured_at: (captured_at.unix_timestamp_nanos() / 1_000_000) as UtcMillis,
            vrm: p.vrm,
            confidence: p.confidence,
            char_confidence: p.char_confidence,
            plate_box: p.plate_box,
            plate_jpeg: b64
                .decode(p.plate_jpeg)
                .map_err(|e| field("plate_jpeg", e.to_string()))?,
            overview_jpeg: b64
                .decode(p.overview_jpeg)
                .map_err(|e| field("overview_jpeg", e.to_string()))?,
            frames: p.frames,
            preview: p.preview,
            supersedes: p.supersedes,
            clock_unsynchronised: p.clock_unsynchronised,
        })
    }
}

/// The JSON Schema of the read payload (docs/schema/read.json).
pub fn payload_schema() -> schemars::Schema {
    schemars::schema_for!(Payload)
}

/// `2026-11-24T08:13:05.123Z`: RFC 3339, UTC, always three fraction digits.
pub fn rfc3339_millis(t: UtcMillis) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp_nanos(t as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&fmt).expect("UTC timestamps always format")
}

/// Now, as [`UtcMillis`].
pub fn now_millis() -> UtcMillis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as UtcMillis
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Read {
        Read {
            read_id: Uuid::now_v7(),
            gateway_id: "gw-1".into(),
            camera_id: "cam-1".into(),
            captured_at: 1_795_000_000_123,
            vrm: "AB12CDE".into(),
            confidence: 0.97,
            char_confidence: vec![0.9, 0.99, 1.0, 0.95, 0.97, 0.98, 0.96],
            plate_box: [10, 20, 120, 30],
            plate_jpeg: vec![0xff, 0xd8, 1, 2],
            overview_jpeg: vec![0xff, 0xd8, 3],
            frames: 12,
            preview: false,
            supersedes: Some(Uuid::now_v7()),
            clock_unsynchronised: false,
        }
    }

    #[test]
    fn payload_round_trips_and_has_the_contract_fields() {
        let read = sample();
        let bytes = read.to_payload();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for f in [
            "schema",
            "read_id",
            "gateway_id",
            "camera_id",
            "captured_at",
            "vrm",
            "confidence",
            "char_confidence",
            "plate_box",
            "plate_jpeg",
            "overview_jpeg",
        ] {
            assert!(v.get(f).is_some(), "payload lacks {f}");
        }
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(
            v["read_id"].as_str().unwrap().as_bytes()[14],
            b'7',
            "UUID version 7"
        );
        assert_eq!(Read::from_payload(&bytes).unwrap(), read);
        assert!(
            v.get("clock_unsynchronised").is_none(),
            "only present when set"
        );
    }

    #[test]
    fn an_unsynchronised_clock_is_flagged_in_the_payload() {
        let read = Read {
            clock_unsynchronised: true,
            ..sample()
        };
        let bytes = read.to_payload();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["clock_unsynchronised"], true);
        assert_eq!(Read::from_payload(&bytes).unwrap(), read);
    }

    #[test]
    fn captured_at_is_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
    }

    #[test]
    fn a_payload_of_another_schema_is_refused() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_payload()).unwrap();
        v["schema"] = "other/9".into();
        let err = Read::from_payload(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(err.to_string().contains("other/9"));
    }
}
