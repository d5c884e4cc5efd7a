//! `anprd status`: the running daemon's state for a person on site (or a
//! script, with `--json`), read from the state file the daemon rewrites
//! every few seconds. A missing file, a dead pid or a stale file all mean
//! "not running", said plainly.

use std::path::Path;
use std::process::ExitCode;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{STATUS_SCHEMA, StatusReport};
use crate::config::Config;
use crate::record::now_millis;

/// Older state than this means the daemon is hung (it writes every 2 s).
const STALE_AFTER_S: u64 = 15;
/// LSB's exit status for "program is not running".
pub const EXIT_NOT_RUNNING: u8 = 3;
/// LSB's exit status for "status is unknown": the state file cannot be read.
pub const EXIT_UNKNOWN: u8 = 4;

/// `anprd status --json` when there is no state to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotRunning {
    /// Always "anprd.status/1".
    pub schema: String,
    /// Always false.
    pub running: bool,
    pub reason: String,
}

/// Everything `anprd status --json` may print.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusOutput {
    Report(Box<StatusReport>),
    NotRunning(NotRunning),
}

/// Reads the state at `path` and judges whether the daemon is alive.
pub fn load(path: &Path) -> StatusOutput {
    let not_running = |reason: String| {
        StatusOutput::NotRunning(NotRunning {
            schema: STATUS_SCHEMA.to_string(),
            running: false,
            reason,
        })
    };
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return not_running(format!(
                "no state file at {}: anprd is not running",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return not_running(format!(
                "status unknown: cannot read {} (run anprd status as root or as a member of group anprd)",
                path.display()
            ));
        }
        Err(e) => return not_running(format!("cannot read {}: {e}", path.display())),
    };
    let mut report: StatusReport = match serde_json::from_slice(&text) {
        Ok(r) => r,
        Err(e) => {
            return not_running(format!(
                "{} is not an anprd state file: {e}",
                path.display()
            ));
        }
    };
    report.state_age_s = (now_millis().saturating_sub(report.written_at_ms).max(0) / 1000) as u64;
    let alive = pid_alive(report.pid);
    report.running = alive && report.state_age_s <= STALE_AFTER_S;
    StatusOutput::Report(Box::new(report))
}

/// Whether a process with `pid` exists (EPERM: it does, as another user).
fn pid_alive(pid: u32) -> bool {
    // 0 would ask about our own process group, 1 is init: neither is anprd.
    if pid <= 1 {
        return false;
    }
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// Prints the status; exit 0 when running, 3 when not, 4 when the state
/// file cannot be read (this user may not: the status is unknown).
pub fn main(path: &Path, json: bool, config: Option<&Config>) -> ExitCode {
    let out = load(path);
    let running = matches!(&out, StatusOutput::Report(r) if r.running);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("status always serialises")
        );
    } else {
        print!("{}", human(&out, config));
    }
    let unknown = matches!(std::fs::File::open(path),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied);
    if running {
        ExitCode::SUCCESS
    } else if unknown {
        ExitCode::from(EXIT_UNKNOWN)
    } else {
        ExitCode::from(EXIT_NOT_RUNNING)
    }
}

/// The text for a person. Camera labels from the local configuration appear
/// here, and only here: this never leaves the screen.
pub fn human(out: &StatusOutput, config: Option<&Config>) -> String {
    use std::fmt::Write as _;
    let r = match out {
        StatusOutput::NotRunning(n) => return format!("anprd: NOT RUNNING: {}\n", n.reason),
        StatusOutput::Report(r) => r,
    };
    let s = &r.snapshot;
    let mut t = String::new();
    if r.running {
        let _ = writeln!(
            t,
            "anprd {}: running (pid {}, up {}), state {} s old",
            s.software_version,
            r.pid,
            duration(s.uptime_s),
            r.state_age_s
        );
    } else {
        let _ = writeln!(
            t,
            "anprd: NOT RUNNING (pid {} gone or hung; last state {} s old, shown below)",
            r.pid, r.state_age_s
        );
    }
    let _ = writeln!(t, "gateway  {}", r.gateway_id);
    let _ = writeln!(
        t,
        "broker   {}, {} read(s) forwarded",
        if s.broker.connected {
            "connected"
        } else {
            "NOT CONNECTED"
        },
        s.broker.forwarded
    );
    let oldest = s
        .spool
        .oldest_age_s
        .map(|a| format!(", oldest {}", duration(a)))
        .unwrap_or_default();
    let free = s
        .spool
        .free_bytes
        .map(|b| format!("; {} free on disk", bytes(b)))
        .unwrap_or_default();
    let _ = writeln!(
        t,
        "spool    {} read(s) waiting, {}{oldest}{free}",
        s.spool.pending,
        bytes(s.spool.bytes)
    );
    if !s.spool.writable {
        let _ = writeln!(
            t,
            "spool    NOT WRITABLE: new reads are lost until it is ({} not stored so far); check the disk",
            s.spool.store_failed
        );
    } else if s.spool.store_failed > 0 {
        let _ = writeln!(
            t,
            "spool    {} read(s) could not be stored since start",
            s.spool.store_failed
        );
    }
    if s.spool.expired > 0 || s.spool.dropped > 0 {
        let _ = writeln!(
            t,
            "spool    {} read(s) expired and {} dropped unsent since start",
            s.spool.expired, s.spool.dropped
        );
    }
    match &s.clock {
        Some(c) if c.synchronised => {
            let _ = writeln!(
                t,
                "clock    synchronised (estimated error {} µs)",
                c.est_error_us
            );
        }
        Some(_) => {
            let _ = writeln!(t, "clock    NOT SYNCHRONISED: reads are flagged");
        }
        None => {
            let _ = writeln!(t, "clock    unknown");
        }
    }
    for c in &s.cameras {
        let state = if c.streaming {
            "streaming"
        } else if c.ended {
            "ended"
        } else {
            "NO FRAMES"
        };
        let label = config
            .and_then(|cfg| cfg.cameras.iter().find(|k| k.id == c.id))
            .and_then(|k| k.label.as_deref())
            .map(|l| format!("  \"{l}\""))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "camera   {:<16} {state:<9} {:>5.1} fps, {} dropped, {:.1} reads/min, {} reopen(s){label}",
            c.id, c.fps, c.frames_dropped, c.reads_per_minute, c.reopens
        );
    }
    t
}

fn duration(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{BrokerStatus, Snapshot, SpoolStatus};

    fn report(spool: SpoolStatus) -> StatusOutput {
        StatusOutput::Report(Box::new(StatusReport {
            schema: STATUS_SCHEMA.into(),
            running: true,
            state_age_s: 1,
            pid: 1234,
            written_at_ms: 0,
            gateway_id: "gw-1".into(),
            snapshot: Snapshot {
                at: "2026-11-26T00:00:00.000Z".into(),
                software_version: "0".into(),
                model_version: None,
                uptime_s: 60,
                cameras: Vec::new(),
                spool,
                broker: BrokerStatus {
                    connected: true,
                    forwarded: 0,
                },
                clock: None,
            },
        }))
    }

    fn spool(writable: bool, store_failed: u64) -> SpoolStatus {
        SpoolStatus {
            pending: 3,
            bytes: 1000,
            oldest_age_s: None,
            dropped: 0,
            free_bytes: None,
            writable,
            store_failed,
            expired: 0,
        }
    }

    #[test]
    fn a_state_file_naming_pid_0_or_1_is_not_a_running_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        for pid in [0, 1] {
            let StatusOutput::Report(mut r) = report(spool(true, 0)) else {
                unreachable!()
            };
            r.pid = pid;
            r.written_at_ms = now_millis();
            crate::status::write_state(&path, &r).unwrap();
            assert!(
                matches!(load(&path), StatusOutput::Report(r) if !r.running),
                "pid {pid}"
            );
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "readable by anprd's group");
    }

    #[test]
    fn a_spool_that_cannot_be_written_is_said_plainly() {
        let text = human(&report(spool(false, 7)), None);
        assert!(
            text.contains("NOT WRITABLE") && text.contains("7 not stored"),
            "{text}"
        );
        let text = human(&report(spool(true, 2)), None);
        assert!(!text.contains("NOT WRITABLE"), "{text}");
        assert!(text.contains("2 read(s) could not be stored"), "{text}");
        assert!(!human(&report(spool(true, 0)), None).contains("could not"));
        // A state file written before these fields existed reads as writable.
        let mut old = serde_json::to_value(spool(false, 7)).unwrap();
        for key in ["writable", "store_failed", "expired"] {
            old.as_object_mut().unwrap().remove(key);
        }
        let back: SpoolStatus = serde_json::from_value(old).unwrap();
        assert!(back.writable && back.store_failed == 0);
    }
}
