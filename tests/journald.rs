//! journald's native protocol, read back from a socket the test owns
//! (ANPRD_JOURNAL_SOCKET): every record has PRIORITY and MESSAGE, operator
//! events carry their stable MESSAGE_ID, cameras and reads are named by
//! CAMERA_ID and READ_ID fields, and nothing names the place.

mod site;
mod support;

use std::time::Duration;

use anprd::logging::message_id;
use anprd::plate::clip::{ClipSpec, Traffic, write_clip};
use nix::sys::signal::Signal;
use site::journal::{JournalListener, field, show};
use site::{Daemon, LABEL, write_config};
use support::Mosquitto;

#[test]
fn records_carry_priority_message_ids_and_camera_and_read_ids() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let spec = ClipSpec {
        seconds: 3.5,
        seed: 7,
        traffic: Traffic::Count(1),
        ..ClipSpec::default()
    };
    write_clip(&spec, &clip).expect("clip renders");
    let mut broker = Mosquitto::start();
    let journal = JournalListener::bind(dir.path());
    let extra = format!(
        r#"
[[camera]]
id = "cam-clip"
source = "file://{}"
label = "{LABEL}"

[[camera]]
id = "cam-flaky"
source = "gst:videotestsrc is-live=true num-buffers=5 ! video/x-raw,width=64,height=48 ! appsink name=sink"

[[camera]]
id = "cam-broken"
source = "gst:videotestsrc ! no_such_element_anywhere ! appsink name=sink"
label = "{LABEL}"
"#,
        clip.display()
    );
    let config = write_config(dir.path(), broker.port(), &extra);
    let daemon = Daemon::start(
        &config,
        &[(
            anprd::logging::JOURNAL_SOCKET_ENV,
            journal.path.to_str().unwrap(),
        )],
    );

    let lost = journal.wait("CAMERA_LOST", Duration::from_secs(20), |e| {
        field(e, "MESSAGE_ID") == Some(message_id::CAMERA_LOST)
            && field(e, "CAMERA_ID") == Some("cam-broken")
    });
    assert_eq!(field(&lost, "PRIORITY"), Some("4"), "{}", show(&lost));
    // A live stream that ends is lost, reopened, and recovers.
    let recovered = journal.wait("CAMERA_RECOVERED", Duration::from_secs(20), |e| {
        field(e, "MESSAGE_ID") == Some(message_id::CAMERA_RECOVERED)
    });
    assert_eq!(
        field(&recovered, "CAMERA_ID"),
        Some("cam-flaky"),
        "{}",
        show(&recovered)
    );
    assert_eq!(field(&recovered, "PRIORITY"), Some("6"));

    let read = journal.wait("with READ_ID", Duration::from_secs(60), |e| {
        e.contains_key("READ_ID")
    });
    assert_eq!(
        field(&read, "CAMERA_ID"),
        Some("cam-clip"),
        "{}",
        show(&read)
    );
    let read_id = field(&read, "READ_ID").unwrap();
    assert!(uuid::Uuid::parse_str(read_id).is_ok(), "{}", show(&read));
    assert_eq!(field(&read, "PRIORITY"), Some("6"));

    broker.stop();
    let gone = journal.wait("BROKER_LOST", Duration::from_secs(20), |e| {
        field(e, "MESSAGE_ID") == Some(message_id::BROKER_LOST)
    });
    assert_eq!(field(&gone, "PRIORITY"), Some("4"), "{}", show(&gone));
    broker.start_again();
    journal.wait("BROKER_RECOVERED", Duration::from_secs(20), |e| {
        field(e, "MESSAGE_ID") == Some(message_id::BROKER_RECOVERED)
    });

    // A multi-line message travels in the binary length-prefixed form.
    std::fs::write(&config, "[gateway\nid = 1\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    let refused = journal.wait("config refused", Duration::from_secs(10), |e| {
        field(e, "MESSAGE").is_some_and(|m| m.contains("not reloaded"))
    });
    let message = field(&refused, "MESSAGE").unwrap();
    assert!(message.contains('\n'), "{message:?}");
    assert!(
        message.contains("anprd.toml:"),
        "names the file: {message:?}"
    );
    assert_eq!(field(&refused, "PRIORITY"), Some("3"));

    daemon.stop();
    let records = journal.records();
    let host = site::hostname();
    for e in &records {
        for name in ["PRIORITY", "MESSAGE", "SYSLOG_IDENTIFIER"] {
            assert!(e.contains_key(name), "{name} missing: {}", show(e));
        }
        assert_eq!(field(e, "SYSLOG_IDENTIFIER"), Some("anprd"));
        let text = show(e);
        assert!(!text.contains(LABEL), "a camera label was logged: {text}");
        assert!(!text.contains("clip.mp4"), "a source was logged: {text}");
        if host.len() >= 4 {
            assert!(!text.contains(&host), "the hostname was logged: {text}");
        }
    }
    // Nothing went to stderr while the journal was there.
    assert!(
        daemon_log_is_empty(&config),
        "stderr used while the journal listened"
    );
}

fn daemon_log_is_empty(config: &std::path::Path) -> bool {
    std::fs::read_to_string(config.with_extension("log"))
        .unwrap_or_default()
        .trim()
        .is_empty()
}
