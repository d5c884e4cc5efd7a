//! End to end, with real parts: anprd (the built binary) reads a generated
//! traffic clip through GStreamer, stores reads in a sled spool on disk, and
//! forwards them to a real mosquitto on a loopback port, where the test
//! subscribes and checks what arrives.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anprd::plate::clip::{ClipSpec, Traffic, TruthEntry, write_clip};
use anprd::record::Read;
use support::daemon::Daemon;
use support::{Mosquitto, Subscriber};

const GATEWAY: &str = "gw-e2e";
const CAMERA: &str = "cam-01";

/// A short clip with `vehicles` plates passing, and its ground truth.
fn clip(dir: &Path, vehicles: usize, seed: u64) -> (PathBuf, Vec<TruthEntry>) {
    let path = dir.join("clip.mp4");
    let spec = ClipSpec {
        seconds: 1.0 + vehicles as f32 * 2.5,
        seed,
        traffic: Traffic::Count(vehicles),
        ..ClipSpec::default()
    };
    let truth = write_clip(&spec, &path).expect("clip renders");
    assert_eq!(truth.len(), vehicles, "the clip has room for every vehicle");
    (path, truth)
}

/// A configuration for a private broker on `port`; without a clip the only
/// camera is disabled (the daemon then just forwards what the spool holds).
fn config(dir: &Path, port: u16, clip: Option<&Path>) -> PathBuf {
    let (source, enabled) = match clip {
        Some(clip) => (format!("file://{}", clip.display()), true),
        None => ("gst:videotestsrc ! appsink name=sink".to_string(), false),
    };
    let text = format!(
        r#"
[gateway]
id = "{GATEWAY}"

[[camera]]
id = "{CAMERA}"
source = "{source}"
enabled = {enabled}
label = "TEST-LABEL-DO-NOT-PUBLISH"

[mqtt]
url = "mqtt://127.0.0.1:{port}"
allow_insecure = true
reconnect_max_s = 1

[spool]
path = "{spool}"
max_bytes = 104857600

[log]
level = "debug"
"#,
        spool = dir.join("spool").display()
    );
    let path = dir.join("anprd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The reads among `messages`, each checked against the payload contract.
fn reads(messages: &[support::Message]) -> Vec<Read> {
    messages
        .iter()
        .map(|m| {
            assert_eq!(m.topic, format!("anpr/{GATEWAY}/{CAMERA}/reads"));
            let text = String::from_utf8_lossy(&m.payload);
            assert!(
                !text.contains("TEST-LABEL"),
                "a camera label left the box: {text}"
            );
            let read = Read::from_payload(&m.payload).expect("payload follows anprd.read/1");
            assert_eq!(
                (read.gateway_id.as_str(), read.camera_id.as_str()),
                (GATEWAY, CAMERA)
            );
            assert_eq!(read.read_id.get_version_num(), 7);
            assert!((0.0..=1.0).contains(&read.confidence));
            assert_eq!(read.char_confidence.len(), read.vrm.chars().count());
            for jpeg in [&read.plate_jpeg, &read.overview_jpeg] {
                jpeg_decoder::Decoder::new(jpeg.as_slice())
                    .decode()
                    .expect("images are JPEG");
            }
            read
        })
        .collect()
}

fn vrms(reads: &[Read]) -> BTreeSet<String> {
    reads.iter().map(|r| r.vrm.clone()).collect()
}

fn truth_vrms(truth: &[TruthEntry]) -> BTreeSet<String> {
    truth.iter().map(|t| t.vrm.clone()).collect()
}

#[test]
fn each_vehicle_in_a_clip_arrives_at_the_broker_as_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let (clip, truth) = clip(dir.path(), 3, 11);
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port(), "anpr/+/+/reads");
    let started = anprd::record::now_millis();
    let mut daemon = Daemon::start(&config(dir.path(), broker.port(), Some(&clip)));

    daemon.wait_log(
        "camera cam-01: recognition finished",
        Duration::from_secs(60),
    );
    let got = reads(&sub.wait_for(truth.len(), Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(500)); // anything extra would show now
    let got_all = reads(&sub.messages());
    let (status, log) = daemon.stop();
    assert!(status.success(), "anprd exits cleanly on SIGTERM:\n{log}");

    assert_eq!(
        vrms(&got),
        truth_vrms(&truth),
        "every plate read exactly:\n{log}"
    );
    assert_eq!(
        got_all.len(),
        truth.len(),
        "one read per vehicle, no duplicates:\n{log}"
    );
    for read in &got_all {
        assert!(
            read.captured_at >= started - 1000 && read.captured_at <= anprd::record::now_millis()
        );
    }
    assert!(
        !log.contains("TEST-LABEL"),
        "a camera label was logged:\n{log}"
    );
}

#[test]
fn reads_wait_in_the_spool_through_a_broker_outage_and_then_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let (clip, truth) = clip(dir.path(), 3, 12);
    // A persistent subscriber whose session survives the broker's restart.
    let mut broker = Mosquitto::start_persistent();
    let sub = Subscriber::persistent(broker.port(), "anpr/+/+/reads", "e2e-outage-sub");
    broker.stop();

    let mut daemon = Daemon::start(&config(dir.path(), broker.port(), Some(&clip)));
    daemon.wait_log(
        "camera cam-01: recognition finished",
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sub.count(),
        0,
        "nothing can arrive while the broker is down"
    );

    broker.start_again();
    let got = reads(&sub.wait_for(truth.len(), Duration::from_secs(30)));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert_eq!(vrms(&got), truth_vrms(&truth), "{log}");
}

#[test]
fn reads_stored_before_a_restart_are_forwarded_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (clip, truth) = clip(dir.path(), 2, 13);
    let mut broker = Mosquitto::start();
    broker.stop();

    // First run: the broker is down the whole time; reads can only be stored.
    let mut daemon = Daemon::start(&config(dir.path(), broker.port(), Some(&clip)));
    daemon.wait_log(
        "camera cam-01: recognition finished",
        Duration::from_secs(60),
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");

    let spool = anprd::spool::Spool::open(&anprd::config::SpoolConfig {
        path: dir.path().join("spool"),
        max_bytes: 104857600,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        spool.stats().pending,
        truth.len() as u64,
        "the reads wait in the spool:\n{log}"
    );
    drop(spool);

    // Second run, camera off: the daemon forwards what the first one stored.
    broker.start_again();
    let sub = Subscriber::connect(broker.port(), "anpr/+/+/reads");
    let daemon = Daemon::start(&config(dir.path(), broker.port(), None));
    let got = reads(&sub.wait_for(truth.len(), Duration::from_secs(30)));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert_eq!(vrms(&got), truth_vrms(&truth), "{log}");
}
