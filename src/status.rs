//! Status: one snapshot of how the gateway is doing, in the shapes its
//! watchers want: the MQTT heartbeat ([`Health`]), the state file behind
//! `anprd status` ([`StatusReport`]), and systemd's one-line STATUS=.
//!
//! Nothing here names the host or the place: cameras appear by opaque id
//! only (labels are added by `anprd status` from the local config, on screen).

pub mod show;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::ClockState;
use crate::health::Stats;
use crate::record::{now_millis, rfc3339_millis};
use crate::spool::Spool;

/// Schema names, bumped on incompatible change.
pub const HEALTH_SCHEMA: &str = "anprd.health/1";
pub const STATUS_SCHEMA: &str = "anprd.status/1";

/// What every view shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// When the snapshot was taken, RFC 3339 UTC.
    pub at: String,
    pub software_version: String,
    /// Version of the recognition model, once the engine reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    pub uptime_s: u64,
    pub cameras: Vec<CameraStatus>,
    pub spool: SpoolStatus,
    pub broker: BrokerStatus,
    /// None where the kernel could not be asked.
    pub clock: Option<ClockState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CameraStatus {
    /// Opaque camera id.
    pub id: String,
    /// Frames are arriving from the source right now.
    pub streaming: bool,
    /// The source ended (end of file) or was given up.
    pub ended: bool,
    /// The source has failed at least once since start.
    pub failed: bool,
    /// Frames delivered per second over the last interval.
    pub fps: f64,
    /// Frames recognition looked at per second over the last interval.
    pub analysed_fps: f64,
    pub frames: u64,
    pub frames_dropped: u64,
    pub reads: u64,
    /// Reads per minute over the last interval.
    pub reads_per_minute: f64,
    pub reopens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpoolStatus {
    /// Reads stored and not yet acknowledged by the broker.
    pub pending: u64,
    pub bytes: u64,
    /// Age of the oldest unsent read, seconds; None when nothing waits.
    pub oldest_age_s: Option<u64>,
    /// Reads dropped unsent to respect max_bytes, since start.
    pub dropped: u64,
    /// Free bytes for anprd on the spool's filesystem.
    pub free_bytes: Option<u64>,
    /// False while the spool cannot be written (a full disk, an I/O error):
    /// new reads are then lost until it can.
    #[serde(default = "yes")]
    pub writable: bool,
    /// Reads that could not be stored, since start.
    #[serde(default)]
    pub store_failed: u64,
    /// Reads removed unsent because they passed max_age_days, since start.
    #[serde(default)]
    pub expired: u64,
}

/// Default of fields added after a state file may have been written.
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BrokerStatus {
    pub connected: bool,
    /// Reads the broker acknowledged since start.
    pub forwarded: u64,
}

/// The heartbeat on `<prefix>/<gateway id>/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always "anprd.health/1".
    pub schema: String,
    pub gateway_id: String,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

/// `anprd status --json`, and the state file the daemon keeps for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusReport {
    /// Always "anprd.status/1".
    pub schema: String,
    /// The daemon is alive and its state is fresh.
    pub running: bool,
    /// Seconds since the daemon last wrote its state.
    pub state_age_s: u64,
    pub pid: u32,
    /// When the state was written, milliseconds since the Unix epoch.
    pub written_at_ms: i64,
    pub gateway_id: String,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

/// The recognition model's version, set once by the engine that loads it.
static MODEL_VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the loaded model's version for health and status (first call wins).
pub fn set_model_version(version: &str) {
    let _ = MODEL_VERSION.set(version.to_string());
}

/// (frames, analysed, reads) of one camera.
type Counts = (u64, u64, u64);

/// Takes snapshots; rates are per interval between two calls.
pub struct Sampler {
    started: Instant,
    /// Time and counts per camera at the previous call.
    last: Option<(Instant, Vec<Counts>)>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler {
            started: Instant::now(),
            last: None,
        }
    }

    pub fn sample(&mut self, stats: &Stats, spool: &Spool, clock: Option<ClockState>) -> Snapshot {
        let now = Instant::now();
        let counts: Vec<Counts> = stats
            .cameras
            .iter()
            .map(|(_, c)| {
                (
                    c.frames.load(Ordering::Relaxed),
                    c.analysed.load(Ordering::Relaxed),
                    c.reads.load(Ordering::Relaxed),
                )
            })
            .collect();
        let (since, before) = match &self.last {
            Some((t, before)) => (now.duration_since(*t).as_secs_f64(), Some(before)),
            None => (now.duration_since(self.started).as_secs_f64(), None),
        };
        let rate = |now: u64, then: u64| {
            if since > 0.0 {
                now.saturating_sub(then) as f64 / since
            } else {
                0.0
            }
        };
        let cameras = stats
            .cameras
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(i, ((id, c), &(frames, analysed, reads)))| {
                let (f0, a0, r0) = before.and_then(|b| b.get(i).copied()).unwrap_or_default();
                CameraStatus {
                    id: id.clone(),
                    streaming: c.streaming.load(Ordering::Relaxed),
                    ended: c.ended.load(Ordering::Relaxed),
                    failed: c.failed.load(Ordering::Relaxed),
                    fps: round2(rate(frames, f0)),
                    analysed_fps: round2(rate(analysed, a0)),
                    frames,
                    frames_dropped: c.dropped.load(Ordering::Relaxed),
                    reads,
                    reads_per_minute: round2(rate(reads, r0) * 60.0),
                    reopens: c.reopens.load(Ordering::Relaxed),
                }
            })
            .collect();
        self.last = Some((now, counts));
        let s = spool.stats();
        let wall = now_millis();
        Snapshot {
            at: rfc3339_millis(wall),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            model_version: MODEL_VERSION.get().cloned(),
            uptime_s: now.duration_since(self.started).as_secs(),
            cameras,
            spool: SpoolStatus {
                pending: s.pending,
                bytes: s.bytes,
                oldest_age_s: s
                    .oldest_captured_at
                    .map(|t| (wall.saturating_sub(t).max(0) / 1000) as u64),
                dropped: s.dropped,
                free_bytes: free_bytes(spool.path()),
                writable: s.writable,
                store_failed: stats.store_failed.load(Ordering::Relaxed),
                expired: s.expired,
            },
            broker: BrokerStatus {
                connected: stats.connected.load(Ordering::Relaxed),
                forwarded: stats.forwarded.load(Ordering::Relaxed),
            },
            clock,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Bytes an unprivileged writer may still use on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}

impl Snapshot {
    /// systemd's STATUS= line: what `systemctl status anprd` shows.
    pub fn status_line(&self) -> String {
        let streaming = self.cameras.iter().filter(|c| c.streaming).count();
        let fps: f64 = self.cameras.iter().map(|c| c.analysed_fps).sum();
        format!(
            "{streaming}/{} camera(s) streaming, {fps:.1} fps analysed, {} read(s) waiting, broker {}",
            self.cameras.len(),
            self.spool.pending,
            if self.broker.connected {
                "connected"
            } else {
                "not connected"
            }
        )
    }
}

/// Where the state file lives: the configured path, else systemd's
/// RuntimeDirectory, else /run/anprd.
pub fn state_file_path(configured: Option<&Path>) -> PathBuf {
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    let dir = std::env::var_os("RUNTIME_DIRECTORY")
        // RuntimeDirectory= may list several, separated by ':'.
        .and_then(|d| {
            d.to_str()
                .and_then(|d| d.split(':').next().map(PathBuf::from))
        })
        .unwrap_or_else(|| PathBuf::from("/run/anprd"));
    dir.join("status.json")
}

/// Writes `report` to `path` atomically (temporary file, then rename), so a
/// reader never sees half a file. Readable by anprd's group too (the unit's
/// UMask=0077 would leave it to anprd alone): an operator in group `anprd`
/// can run `anprd status` without root. It holds ids and counters only.
pub fn write_state(path: &Path, report: &StatusReport) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o640))?;
    std::fs::rename(&tmp, path)
}
