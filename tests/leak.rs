//! The location leak test. Everything that could place the site is marked:
//! camera labels, a comment, the clip's directory (so its source URL), an
//! RTSP URL with an IP address, GStreamer tags in the clip (title, device,
//! GPS position) and the hostname, set in a private UTS namespace. The real
//! binary then runs the whole pipeline: reads from a generated clip, a camera
//! that fails and is retried, a broker that is down at start, comes up, and
//! restarts, and a SIGTERM shutdown. Every MQTT topic and payload, every
//! journal record and field (journald's real protocol, captured), stderr,
//! every image (its bytes and its decoded pixels) and the spool's files are
//! searched: no marker may be found anywhere.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anprd::plate::clip::{ClipSpec, Traffic, write_clip};
use anprd::record::Read;
use support::daemon::Daemon;
use support::journal::{self, JournalSocket};
use support::{Mosquitto, Subscriber, scan};

const HOST: &str = "LEAKMARKER-HOST-7f3a";
const LAT: &str = "51.50741";
const LON: &str = "-0.12776";
const IP: &str = "10.99.88.77";
/// What must never leave the box. Long and distinctive, so base64 images
/// cannot contain them by chance.
const MARKERS: [&str; 6] = ["LEAKMARKER", "Old Mill Lane", LAT, LON, IP, "leakmarker"];
const GATEWAY: &str = "gw-leak";
const WAIT: Duration = Duration::from_secs(60);

/// The generated clip, remuxed with location tags, in a marked directory.
fn tagged_clip(dir: &Path) -> PathBuf {
    let site = dir.join(format!("LEAKMARKER-site-{LAT}_{LON}"));
    std::fs::create_dir(&site).unwrap();
    let plain = dir.join("plain.mp4");
    write_clip(
        &ClipSpec {
            seconds: 6.0,
            seed: 41,
            traffic: Traffic::Count(2),
            ..ClipSpec::default()
        },
        &plain,
    )
    .unwrap();
    let tagged = site.join("clip.mp4");
    let tags = format!(
        "title=LEAKMARKER-TITLE,device-model=LEAKMARKER-DEVICE,\
         geo-location-latitude={LAT},geo-location-longitude={LON},\
         geo-location-name=LEAKMARKER-GEO"
    );
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(["filesrc", &format!("location={}", plain.display())])
        .args(["!", "qtdemux", "!", "h264parse", "!", "taginject"])
        .arg(format!("tags={tags}"))
        .args(["!", "mp4mux", "!", "filesink"])
        .arg(format!("location={}", tagged.display()))
        .status()
        .expect("gst-launch-1.0 is installed by scripts/setup.sh");
    assert!(status.success(), "remuxing the clip with tags failed");
    let bytes = std::fs::read(&tagged).unwrap();
    assert!(
        scan::count(&bytes, "LEAKMARKER-GEO") + scan::count(&bytes, "LEAKMARKER-TITLE") > 0,
        "the clip carries the tags (else this test proves nothing about them)"
    );
    tagged
}

fn config(dir: &Path, clip: &Path, port: u16) -> PathBuf {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        r#"# LEAKMARKER-COMMENT: Old Mill Lane northbound, {LAT} {LON}
[gateway]
id = "{GATEWAY}"

[[camera]]
id = "cam-01"
source = "file://{clip}"
label = "LEAKMARKER-LABEL Old Mill Lane northbound {LAT} {LON}"
# The clip's top band, as a camera's burnt-in site name would be.
redact = [[0, 0, 400, 60]]

[[camera]]
id = "cam-02"
source = "rtsp://127.0.0.1:{closed}/LEAKMARKER-stream?site=Old+Mill+Lane"
label = "LEAKMARKER-LABEL-2"

[[camera]]
id = "cam-03"
source = "rtsp://{IP}:554/LEAKMARKER"
enabled = false
label = "LEAKMARKER-LABEL-3 {LAT}"

[mqtt]
url = "mqtt://127.0.0.1:{port}"
allow_insecure = true
reconnect_max_s = 1

[spool]
path = "{spool}"

[log]
level = "trace"
"#,
        clip = clip.display(),
        spool = dir.join("spool").display(),
    );
    let path = dir.join("anprd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits until `n` journal messages contain `needle`.
fn wait_journal(journal: &JournalSocket, needle: &str, n: usize, stderr: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    while journal
        .messages()
        .iter()
        .filter(|m| m.contains(needle))
        .count()
        < n
    {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} ×{n} in the journal:\n{}\nstderr:\n{}",
            journal.messages().join("\n"),
            stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where a marker was found, for the failure message.
fn check(what: &str, bytes: &[u8], leaks: &mut Vec<String>) {
    for m in scan::found(bytes, &MARKERS) {
        leaks.push(format!(
            "{m:?} in {what}: {}",
            String::from_utf8_lossy(bytes)
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
}

/// Mean luma of the overview's top-left `w`×`h` pixels.
fn mean_luma(pixels: &[u8], width: usize, bpp: usize, (x0, x1): (usize, usize), h: usize) -> f64 {
    let mut sum = 0u64;
    for y in 0..h {
        for x in x0..x1 {
            sum += u64::from(pixels[(y * width + x) * bpp]);
        }
    }
    sum as f64 / ((x1 - x0) * h) as f64
}

#[test]
fn nothing_that_places_the_site_leaves_the_box() {
    assert!(
        journal::can_unshare(),
        "the leak test needs root (or sudo -n) for unshare -m -u: a private hostname and journal socket"
    );
    let dir = tempfile::tempdir().unwrap();
    let clip = tagged_clip(dir.path());
    let journal = JournalSocket::bind();

    // The broker is down at first: the forwarder's error path runs too.
    let mut broker = Mosquitto::start_persistent();
    let sub = Subscriber::persistent(broker.port(), "#", "leak-sub");
    broker.stop();

    let cfg = config(dir.path(), &clip, broker.port());
    let setup = journal.wrap(&format!("hostname {HOST} && test \"$(hostname)\" = {HOST}"));
    let daemon = Daemon::start_unshared(&cfg, &setup);
    wait_journal(&journal, "broker connection failed", 1, || daemon.log());
    wait_journal(&journal, "camera cam-02", 1, || daemon.log());
    broker.start_again();
    wait_journal(&journal, "broker connected", 1, || daemon.log());
    wait_journal(&journal, "camera cam-01: recognition finished", 1, || {
        daemon.log()
    });
    sub.wait_for(1, WAIT);
    // A broker restart: the connection is lost and made again.
    broker.stop();
    wait_journal(&journal, "broker connection lost", 1, || daemon.log());
    broker.start_again();
    wait_journal(&journal, "broker connected", 2, || daemon.log());
    let (status, stderr) = daemon.stop();
    assert!(status.success(), "{stderr}");
    // Records sent just before exit may still be on their way to us.
    wait_journal(&journal, "stopped", 2, || stderr.clone());

    let mut leaks = Vec::new();
    let messages = sub.messages();
    assert!(!messages.is_empty());
    let mut overviews = Vec::new();
    for m in &messages {
        // Every topic and payload is scanned: reads, status and heartbeats.
        check("an MQTT topic", m.topic.as_bytes(), &mut leaks);
        check("an MQTT payload", &m.payload, &mut leaks);
        if !m.topic.ends_with("/reads") {
            continue;
        }
        let read = Read::from_payload(&m.payload).expect("a read on a reads topic");
        assert_eq!(read.gateway_id, GATEWAY);
        for jpeg in [&read.plate_jpeg, &read.overview_jpeg] {
            check("an image's bytes", jpeg, &mut leaks);
            let mut d = jpeg_decoder::Decoder::new(jpeg.as_slice());
            let pixels = d.decode().expect("a JPEG");
            check("an image's pixels", &pixels, &mut leaks);
        }
        overviews.push(read.overview_jpeg);
    }
    let records = journal.records();
    for r in &records {
        for (field, value) in r {
            check(
                &format!("journal field {field}"),
                field.as_bytes(),
                &mut leaks,
            );
            check(&format!("journal field {field}"), value, &mut leaks);
        }
    }
    check("stderr", stderr.as_bytes(), &mut leaks);
    for f in scan::files_under(&dir.path().join("spool")) {
        check(
            &format!("spool file {}", f.display()),
            &std::fs::read(&f).unwrap(),
            &mut leaks,
        );
    }
    assert!(leaks.is_empty(), "the site leaked:\n{}", leaks.join("\n"));

    // The MQTT client id is the gateway id.
    assert!(
        broker.log().contains(&format!("as {GATEWAY}")),
        "{}",
        broker.log()
    );
    // Operator warnings carry their stable MESSAGE_IDs.
    let ids: Vec<&[u8]> = records
        .iter()
        .filter_map(|r| r.get("MESSAGE_ID").map(Vec::as_slice))
        .collect();
    for id in [
        anprd::logging::message_id::INSECURE_TRANSPORT,
        anprd::logging::message_id::NO_SPOOL_KEY,
    ] {
        assert!(ids.contains(&id.as_bytes()), "no MESSAGE_ID={id}");
    }

    // The redaction box is black in the overview; the scene beside it is not.
    let mut d = jpeg_decoder::Decoder::new(overviews[0].as_slice());
    let pixels = d.decode().unwrap();
    let info = d.info().unwrap();
    let (w, bpp) = (info.width as usize, info.pixel_format.pixel_bytes());
    let scale = w as f64 / ClipSpec::default().width as f64;
    let (bw, bh) = ((400.0 * scale) as usize - 2, (60.0 * scale) as usize - 2);
    let inside = mean_luma(&pixels, w, bpp, (0, bw), bh);
    let beside = mean_luma(&pixels, w, bpp, (bw + 4, (2 * bw + 4).min(w)), bh);
    assert!(inside < 12.0, "the redaction box is blanked: mean {inside}");
    assert!(
        beside > 30.0,
        "the scene beside it is not dark: mean {beside}"
    );
}
