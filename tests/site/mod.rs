//! Running the real anprd binary the way systemd would, for the notify,
//! journald, health and status tests: a config in a temporary directory, a
//! camera fed frames by the test through the daemon's stdin, and the
//! daemon's stderr in a file.
#![allow(dead_code)]

pub mod journal;
pub mod schema;

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub const GATEWAY: &str = "gw-site";
pub const CAMERA: &str = "cam-stdin";
/// Must never leave the box: tests check no payload or log carries it.
pub const LABEL: &str = "SECRET-LAYBY-A38";
pub const WIDTH: usize = 64;
pub const HEIGHT: usize = 48;

/// A camera whose frames are what the test writes to anprd's stdin: raw
/// 8-bit grey pictures. When the test stops writing, the source neither
/// ends nor errors: it just goes silent, as a hung camera driver does.
pub fn stdin_camera_source() -> String {
    format!(
        "gst:fdsrc fd=0 ! rawvideoparse width={WIDTH} height={HEIGHT} format=gray8 framerate=10/1 ! appsink name=sink"
    )
}

/// Writes anprd.toml into `dir`; `extra` is appended (more sections).
pub fn write_config(dir: &Path, mqtt_port: u16, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[gateway]
id = "{GATEWAY}"

[[camera]]
id = "{CAMERA}"
source = "{source}"
label = "{LABEL}"

[mqtt]
url = "mqtt://127.0.0.1:{mqtt_port}"
allow_insecure = true
reconnect_max_s = 1

[spool]
path = "{spool}"
max_bytes = 104857600

[log]
level = "info"
{extra}
"#,
        source = stdin_camera_source(),
        spool = dir.join("spool").display()
    );
    let path = dir.join("anprd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A TCP port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// anprd running as a child process.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    feeder: Option<Feeder>,
}

impl Daemon {
    /// Starts `anprd run` with extra environment (NOTIFY_SOCKET, …), its
    /// camera delivering frames.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(config, env, true)
    }

    /// As [`Daemon::start`], but no frame comes until `feed(true)`: turning
    /// the feed off after starting would race the feeder's first frame.
    pub fn start_idle(config: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(config, env, false)
    }

    fn spawn(config: &Path, env: &[(&str, &str)], feeding: bool) -> Daemon {
        let log = config.with_extension("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anprd"));
        cmd.args(["run", "--config"])
            .arg(config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("ANPRD_JOURNAL_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        Daemon {
            child,
            log,
            feeder: Some(Feeder::start(stdin, feeding)),
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Frames flow (true) or stop without the stream ending (false).
    pub fn feed(&self, on: bool) {
        self.feeder.as_ref().unwrap().on.store(on, Ordering::SeqCst);
    }

    /// Frames keep coming but nothing moves in them (`true`), or the line
    /// moves again.
    pub fn hold_still(&self, still: bool) {
        self.feeder
            .as_ref()
            .unwrap()
            .still
            .store(still, Ordering::SeqCst);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).unwrap();
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits for the exit; returns the log.
    pub fn stop(mut self) -> String {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "anprd exited with {status}:\n{}",
                    self.log()
                );
                return self.log();
            }
            assert!(
                Instant::now() < deadline,
                "anprd did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = self.feeder.take() {
            f.quit.store(true, Ordering::SeqCst);
            let _ = f.thread.join();
        }
    }
}

/// Writes a grey frame with a moving bar to anprd's stdin at about 20 fps
/// while `on`; holds the pipe open (silent) while off.
struct Feeder {
    on: Arc<AtomicBool>,
    /// Frames keep coming but show the same picture (an empty road).
    still: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Feeder {
    fn start(mut stdin: ChildStdin, feeding: bool) -> Feeder {
        let on = Arc::new(AtomicBool::new(feeding));
        let still = Arc::new(AtomicBool::new(false));
        let quit = Arc::new(AtomicBool::new(false));
        let (on2, still2, quit2) = (on.clone(), still.clone(), quit.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0usize;
            while !quit2.load(Ordering::SeqCst) {
                if on2.load(Ordering::SeqCst) {
                    let mut frame = vec![96u8; WIDTH * HEIGHT];
                    let x = n % WIDTH;
                    for y in 0..HEIGHT {
                        frame[y * WIDTH + x] = 255;
                    }
                    if !still2.load(Ordering::SeqCst) {
                        n += 1;
                    }
                    if stdin.write_all(&frame).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Feeder {
            on,
            still,
            quit,
            thread,
        }
    }
}

/// The listening end of NOTIFY_SOCKET, as systemd holds it.
pub struct NotifySocket {
    pub path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        NotifySocket { path, socket }
    }

    /// The next datagram within `timeout`, as text.
    pub fn recv(&self, timeout: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = vec![0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8(buf[..n].to_vec()).expect("notify messages are UTF-8")),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }

    /// Every datagram that arrives within `period`.
    pub fn collect(&self, period: Duration) -> Vec<String> {
        let until = Instant::now() + period;
        let mut out = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            if let Some(m) = self.recv(left) {
                out.push(m);
            }
        }
        out
    }

    /// Waits for a datagram with the line `line`; returns everything seen up to it.
    pub fn wait_line(&self, line: &str, timeout: Duration) -> Vec<String> {
        let until = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {line:?} within {timeout:?}; got {seen:?}"
            );
            if let Some(m) = self.recv(left) {
                let hit = m.lines().any(|l| l == line);
                seen.push(m);
                if hit {
                    return seen;
                }
            }
        }
    }
}

/// Datagrams among `messages` that carry the line `line`.
pub fn count_line(messages: &[String], line: &str) -> usize {
    messages
        .iter()
        .filter(|m| m.lines().any(|l| l == line))
        .count()
}

/// This machine's hostname: it must appear in nothing anprd logs or sends.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Polls `cond` until it holds.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
