//! Transport security through the real binary against a real Mosquitto that
//! requires client certificates (`require_certificate true`): the good
//! certificate is accepted; an unknown CA, a wrong key, an expired certificate
//! (either side's) and a wrong host name are refused, each with a clear
//! error in anprd's log, and no read leaves the spool.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anprd::config::SpoolConfig;
use anprd::record::Read;
use anprd::spool::Spool;
use support::daemon::Daemon;
use support::{Mosquitto, Pki, Subscriber};

const GATEWAY: &str = "gw-tls";
const WAIT: Duration = Duration::from_secs(30);
const READS: u64 = 3;

struct Tls<'a> {
    url: String,
    ca: &'a Path,
    cert: &'a Path,
    key: &'a Path,
}

fn spool_cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        path: dir.join("spool"),
        max_bytes: 64 << 20,
        ..SpoolConfig::default()
    }
}

/// A spool holding [`READS`] reads, and a configuration that forwards it
/// (the one camera is off) over `tls`.
fn setup(dir: &Path, tls: &Tls) -> PathBuf {
    let spool = Spool::open(&spool_cfg(dir)).unwrap();
    let reads: Vec<Read> = (0..READS)
        .map(|n| support::sample_read(GATEWAY, "cam-1", n as i64, format!("TL{n:02}SEC")))
        .collect();
    spool.append(&reads).unwrap();
    drop(spool);
    let text = format!(
        r#"
[gateway]
id = "{GATEWAY}"

[[camera]]
id = "cam-1"
source = "gst:videotestsrc ! appsink name=sink"
enabled = false

[mqtt]
url = "{url}"
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
reconnect_max_s = 1

[spool]
path = "{spool}"
"#,
        url = tls.url,
        ca = tls.ca.display(),
        cert = tls.cert.display(),
        key = tls.key.display(),
        spool = dir.join("spool").display(),
    );
    let path = dir.join("anprd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn pending(dir: &Path) -> u64 {
    Spool::open(&spool_cfg(dir)).unwrap().stats().pending
}

/// Runs anprd until it logs a failed connection; returns that log line.
/// Checks nothing reached the broker and every read is still spooled.
fn refused(broker: &Mosquitto, ca: &Path, cert: &Path, key: &Path) -> String {
    let tls = Tls {
        url: broker.tls_url(),
        ca,
        cert,
        key,
    };
    let dir = tempfile::tempdir().unwrap();
    let sub = Subscriber::connect(broker.port(), "#");
    let mut daemon = Daemon::start(&setup(dir.path(), &tls));
    daemon.wait_log("broker connection failed", WAIT);
    let (status, log) = daemon.stop();
    assert!(status.success(), "a refused broker is not fatal:\n{log}");
    assert_eq!(sub.count(), 0, "nothing may be published:\n{log}");
    assert_eq!(pending(dir.path()), READS, "every read stays spooled");
    assert!(!log.contains("broker connected"), "{log}");
    log.lines()
        .find(|l| l.contains("broker connection failed"))
        .unwrap()
        .to_string()
}

fn with_server_cert(pki: &Pki, cert: PathBuf, key: PathBuf) -> Mosquitto {
    Mosquitto::start_tls_with(support::TlsListener {
        ca: pki.ca.clone(),
        cert,
        key,
    })
}

#[test]
fn the_good_certificate_is_accepted_and_reads_arrive() {
    let pki = Pki::generate();
    let broker = Mosquitto::start_tls(&pki);
    let sub = Subscriber::connect(broker.port(), "#");
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(&setup(
        dir.path(),
        &Tls {
            url: broker.tls_url(),
            ca: &pki.ca,
            cert: &pki.client_cert,
            key: &pki.client_key,
        },
    ));
    daemon.wait_log("broker connected", WAIT);
    let is_read = |m: &support::Message| m.topic.ends_with("/reads");
    let got = sub.wait_until(WAIT, |m| {
        m.iter().filter(|m| is_read(m)).count() >= READS as usize
    });
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let reads: Vec<_> = got.iter().filter(|m| is_read(m)).collect();
    assert!(reads.iter().all(|m| m.topic == "anpr/gw-tls/cam-1/reads"));
    assert!(
        got.iter().any(|m| m.topic == "anpr/gw-tls/status"),
        "the status topic also went over TLS"
    );
    assert_eq!(pending(dir.path()), 0, "acknowledged reads leave the spool");
    assert!(
        broker.log().contains(&format!("as {GATEWAY}")),
        "the MQTT client id is the gateway id:\n{}",
        broker.log()
    );
}

#[test]
fn a_broker_certificate_from_an_unknown_ca_is_refused() {
    let pki = Pki::generate();
    let stranger = Pki::generate();
    let broker = Mosquitto::start_tls(&pki);
    let line = refused(&broker, &stranger.ca, &pki.client_cert, &pki.client_key);
    assert!(
        line.contains("not signed by the CA in mqtt.ca_file"),
        "{line}"
    );
}

#[test]
fn a_client_certificate_from_an_unknown_ca_is_refused_by_the_broker() {
    let pki = Pki::generate();
    let stranger = Pki::generate();
    let broker = Mosquitto::start_tls(&pki);
    let line = refused(
        &broker,
        &pki.ca,
        &stranger.client_cert,
        &stranger.client_key,
    );
    assert!(
        line.contains("the broker refused our client certificate"),
        "{line}"
    );
}

#[test]
fn a_client_key_that_does_not_fit_the_certificate_stops_anprd_at_start() {
    let pki = Pki::generate();
    let broker = Mosquitto::start_tls(&pki);
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&setup(
        dir.path(),
        &Tls {
            url: broker.tls_url(),
            ca: &pki.ca,
            cert: &pki.client_cert,
            key: &pki.server_key,
        },
    ));
    let (status, log) = daemon.wait_exit(WAIT);
    // EX_CONFIG: the unit does not restart on it (RestartPreventExitStatus).
    assert_eq!(status.code(), Some(78), "{log}");
    assert!(
        log.contains(&format!(
            "client key {} does not fit certificate {}",
            pki.server_key.display(),
            pki.client_cert.display()
        )),
        "{log}"
    );
    assert_eq!(pending(dir.path()), READS);
}

#[test]
fn a_missing_client_certificate_stops_anprd_to_be_retried() {
    let pki = Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-enrolled-yet.pem");
    let daemon = Daemon::start(&setup(
        dir.path(),
        &Tls {
            url: "mqtts://127.0.0.1:1".into(),
            ca: &pki.ca,
            cert: &missing,
            key: &pki.client_key,
        },
    ));
    let (status, log) = daemon.wait_exit(WAIT);
    // 1, not EX_CONFIG: the unit restarts it until the file is there.
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("not-enrolled-yet.pem"), "{log}");
    assert_eq!(pending(dir.path()), READS);
}

#[test]
fn an_expired_broker_certificate_is_refused() {
    let pki = Pki::generate();
    let (cert, key) = pki.issue(
        "expired-server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        -1,
    );
    let broker = with_server_cert(&pki, cert, key);
    let line = refused(&broker, &pki.ca, &pki.client_cert, &pki.client_key);
    assert!(line.contains("certificate has expired"), "{line}");
}

#[test]
fn an_expired_client_certificate_is_refused_by_the_broker() {
    let pki = Pki::generate();
    let (cert, key) = pki.issue("expired-client", "extendedKeyUsage=clientAuth\n", -1);
    let broker = Mosquitto::start_tls(&pki);
    let line = refused(&broker, &pki.ca, &cert, &key);
    assert!(
        line.contains("the broker refused our client certificate"),
        "{line}"
    );
}

#[test]
fn a_broker_certificate_for_another_host_is_refused() {
    let pki = Pki::generate();
    let (cert, key) = pki.issue(
        "elsewhere",
        "subjectAltName=DNS:broker.elsewhere.invalid,IP:127.0.0.2\nextendedKeyUsage=serverAuth\n",
        2,
    );
    let broker = with_server_cert(&pki, cert, key);
    let line = refused(&broker, &pki.ca, &pki.client_cert, &pki.client_key);
    assert!(line.contains("not for the host name in mqtt.url"), "{line}");
    // Our words only: rustls's own message quotes the names involved.
    assert!(
        !line.contains("elsewhere") && !line.contains("127.0.0"),
        "{line}"
    );
}
