//! The systemd unit is valid as systemd itself reads it.

use std::path::Path;
use std::process::Command;

#[test]
fn unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/anprd.service"),
    )
    .unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/anprd run"),
        "the unit runs the installed binary"
    );
    assert!(
        unit.contains("Type=notify"),
        "anprd tells systemd when it is ready"
    );
    // Point the unit at the binary just built, as the package installs it at /usr/bin.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anprd.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/anprd", env!("CARGO_BIN_EXE_anprd")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed by scripts/setup.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}
