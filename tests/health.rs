//! Health over MQTT with a real mosquitto and the real binary: a retained
//! "online" on `<prefix>/<gateway>/status`, heartbeats on `…/health` that
//! follow the schema and name neither host nor place, the Last Will
//! "offline" after kill -9, and "offline" on a clean stop.

mod site;
mod support;

use std::time::Duration;

use anprd::status::{HEALTH_SCHEMA, Health};
use nix::sys::signal::Signal;
use site::{CAMERA, Daemon, GATEWAY, LABEL, write_config};
use support::{Mosquitto, Subscriber};

fn status_topic() -> String {
    format!("anpr/{GATEWAY}/status")
}

fn payloads_on(sub: &Subscriber, topic: &str) -> Vec<String> {
    sub.messages()
        .into_iter()
        .filter(|m| m.topic == topic)
        .map(|m| String::from_utf8(m.payload).unwrap())
        .collect()
}

/// Waits until the last message on `topic` is `payload`.
fn wait_last(sub: &Subscriber, topic: &str, payload: &str) {
    sub.wait_until(Duration::from_secs(20), |ms| {
        ms.iter()
            .rev()
            .find(|m| m.topic == topic)
            .is_some_and(|m| m.payload == payload.as_bytes())
    });
}

#[test]
fn birth_heartbeat_and_last_will() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port(), &format!("anpr/{GATEWAY}/+"));
    let config = write_config(dir.path(), broker.port(), "[health]\nheartbeat_s = 1\n");
    let daemon = Daemon::start(&config, &[]);

    wait_last(&sub, &status_topic(), "online");
    let health_topic = format!("anpr/{GATEWAY}/health");
    sub.wait_until(Duration::from_secs(20), |ms| {
        ms.iter().filter(|m| m.topic == health_topic).count() >= 3
    });
    let beats = payloads_on(&sub, &health_topic);
    let host = site::hostname();
    for text in &beats {
        assert!(!text.contains(LABEL), "a camera label left the box: {text}");
        assert!(
            !text.contains("127.0.0.1") && !text.contains("fdsrc"),
            "{text}"
        );
        if host.len() >= 4 {
            assert!(!text.contains(&host), "the hostname left the box: {text}");
        }
        site::schema::check("health", text.as_bytes());
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        for key in [
            "cameras",
            "spool",
            "clock",
            "software_version",
            "broker",
            "uptime_s",
        ] {
            assert!(value.get(key).is_some(), "{key} missing: {text}");
        }
    }
    let last: Health = serde_json::from_str(beats.last().unwrap()).unwrap();
    assert_eq!(last.schema, HEALTH_SCHEMA);
    assert_eq!(last.gateway_id, GATEWAY);
    let snap = &last.snapshot;
    assert_eq!(snap.software_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(snap.cameras.len(), 1);
    let cam = &snap.cameras[0];
    assert_eq!(cam.id, CAMERA);
    assert!(cam.streaming, "{cam:?}");
    assert!(cam.fps > 1.0, "frames flow at ~20 fps: {cam:?}");
    assert!(cam.frames > 0 && cam.reads_per_minute >= 0.0, "{cam:?}");
    assert!(snap.broker.connected);
    assert!(
        snap.spool.free_bytes.is_some_and(|b| b > 0),
        "{:?}",
        snap.spool
    );
    let clock = snap.clock.expect("adjtimex answers");
    assert_eq!(
        clock.synchronised,
        anprd::clock::query().unwrap().synchronised
    );

    // A late subscriber still learns the status: it is retained.
    let late = Subscriber::connect(broker.port(), &status_topic());
    wait_last(&late, &status_topic(), "online");

    // kill -9: no DISCONNECT, so the broker publishes the Last Will.
    daemon.signal(Signal::SIGKILL);
    wait_last(&sub, &status_topic(), "offline");
    let after = Subscriber::connect(broker.port(), &status_topic());
    wait_last(&after, &status_topic(), "offline");
    drop(daemon);

    // A clean restart says "online" again, and a clean stop "offline".
    let daemon = Daemon::start(&config, &[]);
    wait_last(&sub, &status_topic(), "online");
    daemon.stop();
    wait_last(&sub, &status_topic(), "offline");
}

#[test]
fn health_settings_are_checked_with_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| {
        let path = write_config(dir.path(), 1883, extra);
        anprd::config::Config::load(&path).map_err(|e| e.to_string())
    };
    let ok = check("").unwrap();
    assert_eq!(ok.health.heartbeat_s, 60, "default heartbeat");
    assert_eq!(ok.health.state_file, None);
    let err = check("[health]\nheartbeat_s = 0\n").unwrap_err();
    assert!(
        err.contains("health.heartbeat_s: must be between 1 and 3600 s, not 0"),
        "{err}"
    );
    let err = check("[health]\nstate_file = \"status.json\"\n").unwrap_err();
    assert!(
        err.contains("health.state_file: must be an absolute path"),
        "{err}"
    );
    let err = check("[health]\nheartbeat = 5\n").unwrap_err();
    assert!(err.contains("unknown field `heartbeat`"), "{err}");
}
