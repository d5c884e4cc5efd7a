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

/// What ExecStartPre prints goes to the journal: the configuration check it
/// runs must not print the cameras' labels (they may name the site).
#[test]
fn the_check_before_start_keeps_labels_out_of_the_journal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("systemd/anprd.service")).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre="))
        .expect("the unit checks its configuration before starting");
    let example = root.join("config/anprd.toml");
    let label = "free text for people on site";
    assert!(
        std::fs::read_to_string(&example).unwrap().contains(label),
        "the example configuration gives a camera a label"
    );
    let mut words = line.split_whitespace().map(|w| {
        w.replace("/usr/bin/anprd", env!("CARGO_BIN_EXE_anprd"))
            .replace("/etc/anprd/anprd.toml", example.to_str().unwrap())
    });
    let out = Command::new(words.next().unwrap())
        .args(words)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(label), "{printed}");
    assert!(!printed.contains("cam-01"), "{printed}");
}

/// The sandbox must leave adjtimex to anprd: it is how the daemon learns
/// whether NTP has the clock, and reads on an unsynchronised clock carry a
/// flag. ProtectClock= and @system-service alone deny it even for the
/// read-only query (checked with `systemd-analyze syscall-filter`).
#[test]
fn the_sandbox_lets_anprd_ask_whether_the_clock_is_synchronised() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/anprd.service"),
    )
    .unwrap();
    let filters: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("SystemCallFilter="))
        .collect();
    // glibc's adjtimex() is the clock_adjtime system call (…64 on 32-bit).
    for call in ["adjtimex", "clock_adjtime", "clock_adjtime64"] {
        let allowed_last = filters
            .iter()
            .rposition(|f| f.split_whitespace().any(|s| s == call))
            .is_some_and(|i| !filters[i].starts_with('~') && i + 1 == filters.len());
        assert!(
            allowed_last,
            "{call} allowed after the deny lists: {filters:?}"
        );
    }
    assert!(
        !unit.lines().any(|l| l.trim() == "ProtectClock=yes"),
        "ProtectClock=yes denies adjtimex"
    );
}
