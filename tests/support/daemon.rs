//! The built anprd binary as a child process, its stderr log in a file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub const ANPRD: &str = env!("CARGO_BIN_EXE_anprd");

/// `anprd run --config <config>`; killed on drop.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Runs anprd with `config`, logging to `<config>.log`.
    pub fn start(config: &Path) -> Daemon {
        Self::start_with(config, |_| {})
    }

    /// Like [`start`](Self::start), letting the caller adjust the command
    /// (environment, a `pre_exec`, …) before it runs.
    pub fn start_with(config: &Path, adjust: impl FnOnce(&mut Command)) -> Daemon {
        Self::spawn(Command::new(ANPRD), config, adjust)
    }

    /// Runs `setup` (a shell line) in a new mount and UTS namespace, then
    /// execs anprd there. Needs root: as another user it goes through
    /// `sudo -n` (which passes SIGTERM on to anprd).
    pub fn start_unshared(config: &Path, setup: &str) -> Daemon {
        let mut cmd = super::journal::as_root("unshare");
        cmd.args(["-m", "-u", "sh", "-c"])
            .arg(format!("{setup} && exec \"$0\" \"$@\""))
            .arg(ANPRD);
        Self::spawn(cmd, config, |_| {})
    }

    fn spawn(mut cmd: Command, config: &Path, adjust: impl FnOnce(&mut Command)) -> Daemon {
        let log = config.with_extension("log");
        cmd.args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the daemon's log"))
            .stdout(Stdio::null());
        adjust(&mut cmd);
        let child = cmd.spawn().expect("run anprd");
        Daemon { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics with the log otherwise.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "anprd exited ({status}) before logging {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the daemon to exit by itself (a fatal error).
    pub fn wait_exit(mut self, timeout: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "anprd still running after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits for it to exit.
    pub fn stop(self) -> (ExitStatus, String) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A generated clip with two vehicles (`seed` varies it) and a configuration
/// in `dir` that reads it with one camera, `cam-01`, forwards to
/// `mqtt://127.0.0.1:<port>` and adds `spool_extra` to `[spool]`.
/// Without a port, one nobody listens on: reads stay in the spool.
/// Returns the configuration's path and the VRMs in the clip.
pub fn clip_site(
    dir: &Path,
    seed: u64,
    port: Option<u16>,
    spool_extra: &str,
) -> (PathBuf, Vec<String>) {
    use anprd::plate::clip::{ClipSpec, Traffic, write_clip};
    let clip = dir.join("clip.mp4");
    let spec = ClipSpec {
        seconds: 6.0,
        seed,
        traffic: Traffic::Count(2),
        ..ClipSpec::default()
    };
    let truth = write_clip(&spec, &clip).expect("the clip renders");
    let port = port.unwrap_or_else(super::free_port);
    let text = format!(
        "[gateway]\nid = \"gw-site\"\n\n[[camera]]\nid = \"cam-01\"\nsource = \"file://{}\"\n\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nallow_insecure = true\nreconnect_max_s = 1\n\n\
         [spool]\npath = \"{}\"\n{spool_extra}\n",
        clip.display(),
        dir.join("spool").display()
    );
    let path = dir.join("anprd.toml");
    std::fs::write(&path, text).unwrap();
    (path, truth.into_iter().map(|t| t.vrm).collect())
}
