//! `anprd status` against the real daemon's state file: running with cameras
//! and spool in JSON and for people, and "not running" when the daemon is
//! gone or never started.

mod site;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use anprd::status::show::{EXIT_NOT_RUNNING, StatusOutput};
use site::{CAMERA, Daemon, LABEL, closed_port, write_config};

fn status(config: &Path, json: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anprd"));
    cmd.args(["status", "--config"]).arg(config);
    if json {
        cmd.arg("--json");
    }
    cmd.env_remove("RUNTIME_DIRECTORY").output().unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_shows_the_running_daemon_and_says_when_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("run").join("status.json");
    std::fs::create_dir(state.parent().unwrap()).unwrap();
    let config = write_config(
        dir.path(),
        closed_port(),
        &format!("[health]\nstate_file = \"{}\"\n", state.display()),
    );

    // Never started: no state file.
    let out = status(&config, false);
    assert_eq!(out.status.code(), Some(EXIT_NOT_RUNNING as i32));
    assert!(text(&out).contains("NOT RUNNING"), "{}", text(&out));
    site::schema::check("status", &status(&config, true).stdout);

    let daemon = Daemon::start(&config, &[]);
    site::wait_until("frames in the state file", Duration::from_secs(20), || {
        let out = status(&config, true);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["cameras"][0]["frames"].as_u64().unwrap_or(0) > 0
    });
    let out = status(&config, true);
    assert!(out.status.success(), "{}", text(&out));
    site::schema::check("status", &out.stdout);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["spool"]["writable"], true, "{v}");
    assert_eq!(v["spool"]["store_failed"], 0, "{v}");
    for key in ["pending", "bytes", "oldest_age_s", "expired"] {
        assert!(v["spool"].get(key).is_some(), "spool.{key} missing: {v}");
    }
    assert_eq!(v["cameras"][0]["id"], CAMERA);
    assert!(!text(&out).contains(LABEL), "labels stay out of JSON");
    let typed: StatusOutput = serde_json::from_slice(&out.stdout).unwrap();
    assert!(matches!(typed, StatusOutput::Report(r) if r.running));

    // For a person: the label from the local config, and plain words.
    let out = status(&config, false);
    let human = text(&out);
    assert!(out.status.success(), "{human}");
    assert!(human.contains(": running (pid"), "{human}");
    assert!(human.contains(CAMERA) && human.contains(LABEL), "{human}");
    assert!(human.contains("streaming"), "{human}");
    assert!(human.contains("broker   NOT CONNECTED"), "{human}");

    // Killed: the state file stays, but its pid is gone.
    drop(daemon);
    let out = status(&config, true);
    assert_eq!(out.status.code(), Some(EXIT_NOT_RUNNING as i32));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], false, "{v}");
    site::schema::check("status", &out.stdout);
    assert!(text(&status(&config, false)).contains("NOT RUNNING"));
}
