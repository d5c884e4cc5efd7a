//! The JSON Schemas in docs/schema, and checking real payloads against them.

use std::path::PathBuf;

/// docs/schema/<name>.json
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(format!("{name}.json"))
}

/// Fails with every violation if `payload` does not follow docs/schema/<name>.json.
pub fn check(name: &str, payload: &[u8]) {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path(name)).unwrap()).unwrap();
    let value: serde_json::Value = serde_json::from_slice(payload)
        .unwrap_or_else(|e| panic!("{name} payload is not JSON: {e}"));
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} payload breaks docs/schema/{name}.json: {errors:#?}\n{value}"
    );
}
