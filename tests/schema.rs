//! docs/schema holds the JSON Schemas of the read, health and status
//! payloads, generated from the Rust types: this test fails when they drift.
//! Regenerate with `ANPRD_WRITE_SCHEMAS=1 cargo test --test schema`.
//! (The health and status tests check real payloads against them.)

mod site;

use anprd::record::Read;

fn generated() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("read", anprd::record::payload_schema()),
        ("health", schemars::schema_for!(anprd::status::Health)),
        (
            "status",
            schemars::schema_for!(anprd::status::show::StatusOutput),
        ),
    ]
}

#[test]
fn docs_schemas_are_the_ones_the_types_generate() {
    let write = std::env::var_os("ANPRD_WRITE_SCHEMAS").is_some();
    for (name, schema) in generated() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = site::schema::path(name);
        if write {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} is out of date; run ANPRD_WRITE_SCHEMAS=1 cargo test --test schema",
            path.display()
        );
    }
}

#[test]
fn read_payloads_follow_the_read_schema() {
    let mut read = Read {
        read_id: uuid::Uuid::now_v7(),
        gateway_id: "gw-1".into(),
        camera_id: "cam-1".into(),
        captured_at: anprd::record::now_millis(),
        vrm: "AB12CDE".into(),
        confidence: 0.9,
        char_confidence: vec![0.9; 7],
        plate_box: [1, 2, 3, 4],
        plate_jpeg: vec![0xff, 0xd8],
        overview_jpeg: vec![0xff, 0xd8],
        frames: 9,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    };
    site::schema::check("read", &read.to_payload());
    read.clock_unsynchronised = true;
    site::schema::check("read", &read.to_payload());
    read.preview = true;
    site::schema::check("read", &read.to_payload());
    read.preview = false;
    read.supersedes = Some(uuid::Uuid::now_v7());
    site::schema::check("read", &read.to_payload());
}

#[test]
fn a_payload_missing_a_field_breaks_the_schema() {
    // The check can fail: a read without its vrm is refused.
    let read = Read::from_payload(br#"{}"#);
    assert!(read.is_err());
    let result =
        std::panic::catch_unwind(|| site::schema::check("read", br#"{"schema": "anprd.read/1"}"#));
    assert!(result.is_err(), "an incomplete read passed the schema");
}
