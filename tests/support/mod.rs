//! Shared test harness: a real Mosquitto broker and a subscriber that records
//! what reaches it.
//!
//! Use from any integration test with `mod support;`. Not every test uses
//! every helper, hence the `dead_code` allowance.
//!
//! ```ignore
//! let mut broker = support::Mosquitto::start();          // free loopback port
//! let sub = support::Subscriber::connect(broker.port(), "#");
//! // … point the code under test at broker.url() …
//! broker.stop();   // SIGTERM, waits for exit
//! broker.start();  // same port again
//! let got = sub.wait_for(10, Duration::from_secs(10));
//! ```
//!
//! Broker loss and subscribers: a clean-session subscriber misses whatever is
//! published between a broker restart and its own resubscription. Tests that
//! restart the broker and need every message use
//! [`Mosquitto::start_persistent`] with [`Subscriber::persistent`] and call
//! [`Mosquitto::stop`] once before the code under test connects: the broker
//! then saves the subscriber's session to disk and, on each later start,
//! queues messages for it even while it is away.
//!
//! TLS: [`Pki::generate`] makes a CA and certificates with `openssl`;
//! [`Mosquitto::start_tls`] adds a mutual-TLS listener using them.
#![allow(dead_code)]

pub mod daemon;
pub mod journal;
pub mod scan;

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// How long a broker may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A Mosquitto broker on `127.0.0.1:<port>`, with its config, log and
/// (optional) persistence in a temporary directory. Killed on drop.
pub struct Mosquitto {
    dir: tempfile::TempDir,
    port: u16,
    /// The TLS listener's port, if started with [`start_tls`](Self::start_tls).
    tls_port: Option<u16>,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker without persistence: a restart forgets every session.
    pub fn start() -> Mosquitto {
        Self::launch(false, None)
    }

    /// Starts a broker that saves sessions and queued messages when stopped
    /// with [`stop`](Self::stop) (not when killed: it autosaves only then).
    pub fn start_persistent() -> Mosquitto {
        Self::launch(true, None)
    }

    /// Starts a broker with a second, TLS listener ([`tls_url`](Self::tls_url))
    /// using `pki`'s server certificate and requiring a client certificate
    /// signed by `pki`'s CA. The plain listener stays for subscribers.
    pub fn start_tls(pki: &Pki) -> Mosquitto {
        Self::launch(false, Some(pki.listener()))
    }

    /// Like [`start_tls`](Self::start_tls), with a server certificate of the
    /// test's choosing (expired, for the wrong host, …).
    pub fn start_tls_with(listener: TlsListener) -> Mosquitto {
        Self::launch(false, Some(listener))
    }

    fn launch(persistence: bool, tls: Option<TlsListener>) -> Mosquitto {
        // A port picked free may be taken before mosquitto binds it: retry.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir for mosquitto");
            let port = free_port();
            let tls_port = tls.as_ref().map(|_| free_port());
            write_config(&dir, port, persistence, tls.as_ref().zip(tls_port));
            let mut m = Mosquitto {
                dir,
                port,
                tls_port,
                child: None,
            };
            match m.try_start() {
                Ok(()) => return m,
                Err(log) => last_log = log,
            }
        }
        panic!("mosquitto would not start; last log:\n{last_log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `mqtts://127.0.0.1:<tls port>`; panics unless started with TLS.
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("broker started without TLS");
        format!("mqtts://127.0.0.1:{port}")
    }

    /// The broker's log so far (useful in assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// Starts it again on the same port (after [`stop`](Self::stop) or
    /// [`kill`](Self::kill)); waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(!self.is_running(), "mosquitto is already running");
        if let Err(log) = self.try_start() {
            panic!(
                "mosquitto would not restart on port {}; log:\n{log}",
                self.port
            );
        }
    }

    /// Alias of [`start_again`](Self::start_again).
    pub fn restart(&mut self) {
        self.start_again()
    }

    /// Graceful stop: SIGTERM (persistence, if on, is saved), then waits.
    pub fn stop(&mut self) {
        self.signal(Signal::SIGTERM);
    }

    /// Abrupt stop: SIGKILL, then waits. Nothing is saved.
    pub fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
    }

    fn signal(&mut self, sig: Signal) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), sig);
            let _ = child.wait();
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {MOSQUITTO}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                self.child = None;
                return Err(self.log());
            }
            let listening = |port| TcpStream::connect(("127.0.0.1", port)).is_ok();
            if listening(self.port) && self.tls_port.is_none_or(listening) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "not listening after {START_TIMEOUT:?}\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_config(
    dir: &tempfile::TempDir,
    port: u16,
    persistence: bool,
    tls: Option<(&TlsListener, u16)>,
) {
    let d = dir.path();
    let mut conf = format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         log_dest file {log}\n\
         log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
         connection_messages true\n\
         max_queued_messages 100000\n",
        log = d.join("mosquitto.log").display()
    );
    if nix::unistd::geteuid().is_root() {
        // Otherwise it drops to user "mosquitto", who cannot write here.
        conf.push_str("user root\n");
    }
    if persistence {
        conf.push_str(&format!(
            "persistence true\npersistence_location {}/\n",
            d.display()
        ));
    } else {
        conf.push_str("persistence false\n");
    }
    if let Some((pki, tls_port)) = tls {
        // TLS options apply to the listener declared just before them.
        conf.push_str(&format!(
            "listener {tls_port} 127.0.0.1\n\
             cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            pki.ca.display(),
            pki.cert.display(),
            pki.key.display()
        ));
    }
    let mut f = std::fs::File::create(d.join("mosquitto.conf")).expect("write mosquitto.conf");
    f.write_all(conf.as_bytes()).expect("write mosquitto.conf");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// What a broker's TLS listener uses: the CA its clients' certificates must
/// chain to, and its own certificate and key.
#[derive(Debug, Clone)]
pub struct TlsListener {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A throwaway PKI made with the `openssl` command: a CA, a server
/// certificate for IP 127.0.0.1 and a client certificate, all PEM.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Runs `openssl` with `args`; panics with its stderr if it fails.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh P-256 key, unencrypted.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

impl Pki {
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir for certificates");
        let d = dir.path();
        let p = |name: &str| d.join(name).to_str().expect("UTF-8 temp path").to_string();
        let (ca, ca_key) = (p("ca.pem"), p("ca.key"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", "/CN=anprd test CA"];
        args.extend(EC_KEY);
        args.extend(["-keyout", &ca_key, "-out", &ca]);
        openssl(&args);
        let pki = Pki {
            ca_key: d.join("ca.key"),
            ca: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
            _dir: dir,
        };
        pki.issue(
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            2,
        );
        pki.issue("client", "extendedKeyUsage=clientAuth\n", 2);
        pki
    }

    /// The broker listener with this PKI's server certificate.
    pub fn listener(&self) -> TlsListener {
        TlsListener {
            ca: self.ca.clone(),
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
        }
    }

    /// Issues one more certificate from this CA: `name.pem` and `name.key` in
    /// the PKI's directory. `ext` is an openssl extfile (e.g.
    /// `subjectAltName=IP:127.0.0.2`); `days` may be negative, which makes
    /// a certificate that has already expired.
    pub fn issue(&self, name: &str, ext: &str, days: i32) -> (PathBuf, PathBuf) {
        let d = self._dir.path();
        let p = |file: String| d.join(file).to_str().expect("UTF-8 temp path").to_string();
        let (key, csr, cert, extfile) = (
            p(format!("{name}.key")),
            p(format!("{name}.csr")),
            p(format!("{name}.pem")),
            p(format!("{name}.ext")),
        );
        std::fs::write(&extfile, ext).expect("write extfile");
        let subj = format!("/CN={name}");
        let mut args = vec!["req", "-subj", &subj];
        args.extend(EC_KEY);
        args.extend(["-keyout", &key, "-out", &csr]);
        openssl(&args);
        let (ca, ca_key, days) = (
            self.ca.to_str().expect("UTF-8 temp path"),
            self.ca_key.to_str().expect("UTF-8 temp path"),
            days.to_string(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            &days,
            "-extfile",
            &extfile,
            "-out",
            &cert,
        ]);
        (PathBuf::from(cert), PathBuf::from(key))
    }
}

/// A read with small stand-in images, for tests that store or send reads
/// without recognising them.
pub fn sample_read(gateway_id: &str, camera_id: &str, n: i64, vrm: String) -> anprd::record::Read {
    anprd::record::Read {
        read_id: uuid::Uuid::now_v7(),
        gateway_id: gateway_id.into(),
        camera_id: camera_id.into(),
        captured_at: recent_base() + n,
        vrm,
        confidence: 0.9,
        char_confidence: vec![0.9; 7],
        plate_box: [1, 2, 3, 4],
        plate_jpeg: vec![0xff, 0xd8, 1],
        overview_jpeg: vec![0xff, 0xd8, 2],
        frames: 1,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

/// One message as the subscriber got it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// A QoS 1 subscriber on its own thread. It reconnects (and, with a clean
/// session, resubscribes) by itself when the broker goes away and comes back.
pub struct Subscriber {
    messages: Arc<Mutex<Vec<Message>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Subscriber {
    /// Clean-session subscriber to `filter` (e.g. `#`); returns once the
    /// broker has confirmed the subscription.
    pub fn connect(port: u16, filter: &str) -> Subscriber {
        let id = format!("test-sub-{}", uuid::Uuid::now_v7().simple());
        Self::spawn(port, filter, &id, true)
    }

    /// Persistent-session subscriber: the broker queues messages for `client_id`
    /// while it is disconnected (see the module docs).
    pub fn persistent(port: u16, filter: &str, client_id: &str) -> Subscriber {
        Self::spawn(port, filter, client_id, false)
    }

    fn spawn(port: u16, filter: &str, client_id: &str, clean: bool) -> Subscriber {
        let mut opts = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        opts.set_clean_session(clean)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(256 << 20, 256 << 20);
        let (client, mut conn) = rumqttc::Client::new(opts, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
        let thread = {
            let (messages, stop, filter) = (messages.clone(), stop.clone(), filter.to_string());
            std::thread::spawn(move || {
                use rumqttc::{Event, Packet, QoS};
                while !stop.load(Ordering::Relaxed) {
                    match conn.recv_timeout(Duration::from_millis(50)) {
                        Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                            if !ack.session_present {
                                client
                                    .try_subscribe(filter.as_str(), QoS::AtLeastOnce)
                                    .expect("subscribe request");
                            } else {
                                let _ = subscribed_tx.send(());
                            }
                        }
                        Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                            let _ = subscribed_tx.send(());
                        }
                        Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                            messages.lock().unwrap().push(Message {
                                topic: p.topic,
                                payload: p.payload.to_vec(),
                            });
                        }
                        Ok(Ok(_)) => {}
                        // Broker away: retry soon (the next poll reconnects).
                        Ok(Err(_)) => std::thread::sleep(Duration::from_millis(20)),
                        Err(rumqttc::RecvTimeoutError::Timeout) => {}
                        Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                let _ = client.try_disconnect();
                let _ = conn.recv_timeout(Duration::from_millis(200));
            })
        };
        subscribed_rx
            .recv_timeout(START_TIMEOUT)
            .expect("subscriber did not get its subscription confirmed");
        Subscriber {
            messages,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    /// Waits until `done` holds for the messages received, or panics after
    /// `timeout` saying how many had arrived.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Message]) -> bool) -> Vec<Message> {
        self.try_wait_until(timeout, done).unwrap_or_else(|got| {
            panic!(
                "subscriber: condition not met after {timeout:?}; {} messages",
                got.len()
            )
        })
    }

    /// Like [`wait_until`](Self::wait_until), but returns what arrived as
    /// `Err` on timeout, for tests that want to explain the failure.
    pub fn try_wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[Message]) -> bool,
    ) -> Result<Vec<Message>, Vec<Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if done(&got) {
                return Ok(got);
            }
            if Instant::now() > deadline {
                return Err(got);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until at least `n` messages arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Message> {
        self.wait_until(timeout, |m| m.len() >= n)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends the crate's `log` output to stderr (captured per test unless
/// `--nocapture`) at the level named in `ANPRD_TEST_LOG` (e.g. `debug`);
/// off when unset. Safe to call from every test.
pub fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{:5} {}: {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let Some(level) = std::env::var("ANPRD_TEST_LOG")
        .ok()
        .and_then(|l| l.parse::<log::LevelFilter>().ok())
    else {
        return;
    };
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}

/// Runs the built `anprd` with `args` and waits for it to end.
pub fn anprd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_anprd"))
        .args(args)
        .output()
        .unwrap()
}

/// Process output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An hour before this test process started, in Unix ms: reads dated from it
/// are well inside the spool's age limit whatever day the tests run on.
pub fn recent_base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| anprd::record::now_millis() - 3_600_000)
}
