//! Helpers for the fault tests: the anprd binary as a child process, a
//! camera that loops a generated clip forever, backlogs, and the checks.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anprd::config::SpoolConfig;
use anprd::plate::clip::{ClipSpec, Traffic, write_clip};
use anprd::record::Read;
use anprd::spool::Spool;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use uuid::Uuid;

use crate::support::Message;

pub const GATEWAY: &str = "gw-faults";

/// Renders a clip with `vehicles` plates once and splits it into numbered
/// JPEG frames, so a camera can loop it forever ([`gst_camera`]).
pub fn clip(dir: &Path, vehicles: usize, seed: u64) -> PathBuf {
    let avi = dir.join("clip.avi");
    let spec = ClipSpec {
        seconds: 0.5 + vehicles as f32 * 1.5,
        gap_s: 1.5,
        seed,
        traffic: Traffic::Count(vehicles),
        ..ClipSpec::default()
    };
    write_clip(&spec, &avi).expect("clip renders");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(["filesrc", &format!("location={}", avi.display())])
        .args(["!", "avidemux", "!", "multifilesink"])
        .arg(format!("location={}/%05d.jpg", frames.display()))
        .status()
        .expect("gst-launch-1.0 runs (gstreamer1.0-tools)");
    assert!(status.success(), "splitting the clip into frames failed");
    frames
}

/// A camera that plays `frames` in a loop, as fast as recognition takes them.
pub fn gst_camera(id: &str, frames: &Path) -> (String, String) {
    (
        id.to_string(),
        format!(
            "gst:multifilesrc location={}/%05d.jpg loop=true caps=image/jpeg,framerate=25/1 \
             ! jpegdec ! videoconvert ! appsink name=sink",
            frames.display()
        ),
    )
}

/// Writes anprd.toml for a broker on `port`; `cameras` as (id, source). With
/// no camera a disabled one is configured (the daemon then only forwards).
pub fn config(dir: &Path, port: u16, cameras: &[(String, String)], inflight: u16) -> PathBuf {
    let mut text = format!("[gateway]\nid = \"{GATEWAY}\"\n\n");
    if cameras.is_empty() {
        text.push_str(
            "[[camera]]\nid = \"cam-off\"\nsource = \"gst:videotestsrc ! appsink name=sink\"\nenabled = false\n\n",
        );
    }
    for (id, source) in cameras {
        text.push_str(&format!(
            "[[camera]]\nid = \"{id}\"\nsource = \"{source}\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nallow_insecure = true\nreconnect_max_s = 1\n\
         max_inflight = {inflight}\n\n[spool]\npath = \"{}\"\nmax_bytes = 1073741824\n\n\
         [log]\nlevel = \"debug\"\n\n\
         # Cameras loop one clip: its plates must be read again each time round.\n\
         # Played faster than recognition takes it, the clip comes round every\n\
         # second or so and a plate seen again continues its track: passes are\n\
         # cut at a second so reads keep flowing while anprd is killed.\n\
         [group]\nsuppress_s = 0\nmax_pass_ms = 1000\n",
        dir.join("spool").display()
    ));
    let path = dir.join("anprd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn spool_config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        path: dir.join("spool"),
        max_bytes: 1 << 30,
        ..Default::default()
    }
}

pub fn open_spool(dir: &Path) -> Spool {
    Spool::open(&spool_config(dir)).expect("open the spool")
}

/// A small read (no images, ~300 bytes stored) for backlogs.
pub fn backlog_read(camera: &str, i: usize) -> Read {
    Read {
        read_id: Uuid::now_v7(),
        gateway_id: GATEWAY.into(),
        camera_id: camera.into(),
        captured_at: anprd::record::now_millis(),
        vrm: format!("BL{:05}", i % 100_000),
        confidence: 0.9,
        char_confidence: vec![0.9; 7],
        plate_box: [1, 2, 3, 4],
        plate_jpeg: vec![],
        overview_jpeg: vec![],
        frames: 1,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

/// Appends `n` backlog reads of `camera` to the spool in `dir`; their ids in order.
pub fn spool_backlog(dir: &Path, camera: &str, n: usize) -> Vec<Uuid> {
    let spool = open_spool(dir);
    let reads: Vec<Read> = (0..n).map(|i| backlog_read(camera, i)).collect();
    for chunk in reads.chunks(500) {
        spool.append(chunk).unwrap();
    }
    reads.iter().map(|r| r.read_id).collect()
}

/// The anprd binary running as a child process, its log (stderr) in a file.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, name: &str) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anprd"));
        cmd.args(["run", "--config"]).arg(config);
        Self::spawn(cmd, config, name)
    }

    /// Runs `cmd` (which must end by exec'ing anprd, so its pid is anprd's).
    pub fn spawn(mut cmd: Command, config: &Path, name: &str) -> Daemon {
        let log = config.with_file_name(format!("anprd-{name}.log"));
        let child = cmd
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `done` holds for the log.
    pub fn wait_log_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&self.log()) {
            assert!(
                Instant::now() < deadline,
                "log condition not met after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL; returns the log as it was left.
    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) -> (ExitStatus, String) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(Instant::now() < deadline, "anprd ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read ids from the daemon's "stored read <id>" lines, in log order. Only
/// whole lines count: a kill can cut the last one short.
pub fn stored_ids(log: &str) -> Vec<Uuid> {
    let complete = match log.rfind('\n') {
        Some(i) => &log[..=i],
        None => "",
    };
    complete
        .lines()
        // The id is the first word: key-value fields may follow it.
        .filter_map(|l| {
            l.split_once("stored read ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
        })
        .map(|id| Uuid::parse_str(id).expect("a read id"))
        .collect()
}

pub fn read_id_of(m: &Message) -> Option<Uuid> {
    Read::from_payload(&m.payload).ok().map(|r| r.read_id)
}

/// Each read's first arrival, in arrival order: (read id, camera id).
pub fn first_arrivals(messages: &[Message]) -> Vec<(Uuid, String)> {
    let mut seen = HashSet::new();
    messages
        .iter()
        .map(|m| Read::from_payload(&m.payload).expect("payloads follow anprd.read/1"))
        .filter(|r| seen.insert(r.read_id))
        .map(|r| (r.read_id, r.camera_id))
        .collect()
}

/// Per camera, reads first arrived in the order they were stored.
pub fn assert_fifo_per_camera(arrivals: &[(Uuid, String)], stored: &[Uuid]) {
    let rank: HashMap<Uuid, usize> = stored.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut last: HashMap<&str, (usize, Uuid)> = HashMap::new();
    for (id, cam) in arrivals {
        let Some(&r) = rank.get(id) else { continue };
        if let Some(&(prev, prev_id)) = last.get(cam.as_str()) {
            assert!(
                r > prev,
                "camera {cam}: read {id} (stored #{r}) arrived before {prev_id} (stored #{prev}) had"
            );
        }
        last.insert(cam, (r, *id));
    }
}

/// A small deterministic generator (xorshift), seeded from the clock and
/// printed, so a failing run can be told apart.
pub struct Rng(u64, u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        Rng(seed, seed)
    }

    pub fn seed(&self) -> u64 {
        self.1
    }

    /// Uniform-ish in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        lo + x % (hi - lo).max(1)
    }
}
