//! Least privilege: the systemd unit's sandbox scores an exposure of at most
//! 2.0 in `systemd-analyze security`, and anprd still does its work under the
//! sandbox's memory rule (no writable-and-executable memory).

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::daemon::{ANPRD, Daemon, clip_site};

fn unit_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/anprd.service"))
        .unwrap()
}

#[test]
fn the_unit_exposure_is_at_most_2() {
    let unit = unit_text();
    for line in [
        "User=anprd",
        "StateDirectory=anprd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "CapabilityBoundingSet=\n",
        "MemoryDenyWriteExecute=yes",
        "Environment=ORC_CODE=backup",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
    // Point the unit at the binary just built, as tests/systemd_unit.rs does.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anprd.service");
    std::fs::write(&path, unit.replace("/usr/bin/anprd", ANPRD)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed by scripts/setup.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for anprd.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in systemd-analyze's output:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(exposure <= 2.0, "exposure {exposure} > 2.0:\n{text}");
}

/// `prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`: from here on the process
/// (and what it execs) cannot map memory writable and executable, nor make
/// memory executable later, which is what `MemoryDenyWriteExecute=` enforces.
fn deny_write_execute() -> std::io::Result<()> {
    const PR_SET_MDWE: nix::libc::c_int = 65;
    const PR_MDWE_REFUSE_EXEC_GAIN: nix::libc::c_ulong = 1;
    // SAFETY: prctl with integer arguments only; async-signal-safe.
    let rc = unsafe { nix::libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn anprd_reads_plates_without_writable_executable_memory() {
    // PR_SET_MDWE came with Linux 6.3 (Debian 12 ships 6.1): elsewhere the
    // rule cannot be applied here, only by systemd's seccomp filter.
    let mut probe = std::process::Command::new("true");
    // SAFETY: the closure only calls prctl.
    unsafe { probe.pre_exec(deny_write_execute) };
    if let Err(e) = probe.status()
        && e.raw_os_error() == Some(nix::libc::EINVAL)
    {
        eprintln!("skipped: this kernel has no PR_SET_MDWE (Linux 6.3 and later do)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = clip_site(dir.path(), 51, None, "");
    let mut daemon = Daemon::start_with(&config, |cmd| {
        // As the unit sets it.
        cmd.env("ORC_CODE", "backup");
        // SAFETY: the closure only calls prctl.
        unsafe { cmd.pre_exec(deny_write_execute) };
    });
    daemon.wait_log(
        "camera cam-01: recognition finished",
        Duration::from_secs(60),
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("camera cam-01: read "),
        "plates are read under the rule:\n{log}"
    );
}
