//! Configuration: one TOML file, checked strictly.
//!
//! Every mistake is reported as `FILE:LINE:COL: KEY: what is wrong`, so a site
//! engineer can go straight to it. Parsing is in two steps: serde turns the
//! text into typed values (rejecting unknown keys and wrong types), then
//! [`Config::validate`] checks what types cannot say (URL schemes, id syntax,
//! duplicates). Both steps locate the offending key in the original text.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::capture::Source;

/// Where the daemon looks when no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/anprd/anprd.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub gateway: GatewayConfig,
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub recognise: RecogniseConfig,
    #[serde(default)]
    pub group: GroupConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub health: HealthConfig,
    /// The file this configuration was loaded from (SIGHUP re-reads it).
    #[serde(skip)]
    pub loaded_from: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Seconds between heartbeats on `<topic_prefix>/<gateway id>/health`.
    #[serde(default = "default_heartbeat_s")]
    pub heartbeat_s: u64,
    /// Where the daemon keeps its state for `anprd status`; by default
    /// `$RUNTIME_DIRECTORY/status.json`, else /run/anprd/status.json.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
}

fn default_heartbeat_s() -> u64 {
    60
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            heartbeat_s: default_heartbeat_s(),
            state_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecogniseConfig {
    /// Plates read with less overall confidence are ignored.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f32,
    /// Recognition threads shared by all cameras; default: one per core.
    /// Several may analyse one camera's frames at once, so a one-camera site
    /// uses every core too.
    #[serde(default)]
    pub workers: Option<usize>,
    /// With motion gating, the detector looks only where something moved
    /// (and where open tracks are) when that part is small enough to save
    /// time; false: always at the whole frame.
    #[serde(default = "yes")]
    pub look_where_moving: bool,
    /// Built-in registration formats reads are checked against (`uk`, or
    /// single ones such as `uk-current`); see `recognise::rules`.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Further formats, e.g. other countries': `{ name, pattern }`.
    #[serde(default, rename = "pattern")]
    pub patterns: Vec<PatternConfig>,
    /// A read fitting no format: `flag` (kept, no format) or `reject`.
    #[serde(default = "default_unmatched")]
    pub unmatched: crate::recognise::rules::Unmatched,
    /// Most look-alike characters (O/0, I/1, …) fixed in one read.
    #[serde(default = "default_max_fixes")]
    pub max_fixes: usize,
    /// Only characters read less surely than this are fixed as look-alikes.
    #[serde(default = "default_fix_below")]
    pub fix_below: f32,
    /// The recognition engine: `neural` (the ONNX models) or `classic`.
    #[serde(default)]
    pub engine: crate::recognise::EngineKind,
    /// Directory holding the neural engine's detector.onnx and reader.onnx
    /// (and refiner.onnx, when it has one); by default
    /// /usr/share/anprd/models (see `recognise::neural`).
    #[serde(default)]
    pub models: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    pub name: String,
    pub pattern: String,
}

impl RecogniseConfig {
    /// The plate rules this section describes (validated by `Config::load`).
    pub fn rules(&self) -> Result<crate::recognise::rules::PlateRules, String> {
        let custom: Vec<(String, String)> = self
            .patterns
            .iter()
            .map(|p| (p.name.clone(), p.pattern.clone()))
            .collect();
        crate::recognise::rules::PlateRules::new(
            &self.formats,
            &custom,
            self.unmatched,
            self.max_fixes,
        )
        .map(|rules| rules.with_fix_below(self.fix_below))
    }

    /// What is wrong with this section that its types cannot say, each
    /// with its key path (`recognise.…`).
    pub fn problems(&self) -> Vec<(Vec<Seg>, String)> {
        use crate::recognise::rules::{Pattern, builtin_names};
        use Seg::{Index, Key};
        let mut problems = Vec::new();
        let mut bad = |path: Vec<Seg>, msg: String| problems.push((path, msg));
        if let Some(n) = self.workers
            && !(1..=64).contains(&n)
        {
            bad(
                vec![Key("recognise"), Key("workers")],
                format!("must be between 1 and 64, not {n}"),
            );
        }
        let c = self.min_confidence;
        if !(0.0..=1.0).contains(&c) {
            bad(
                vec![Key("recognise"), Key("min_confidence")],
                format!("must be between 0 and 1, not {c}"),
            );
        }
        if let Some(dir) = &self.models
            && !dir.is_absolute()
        {
            bad(
                vec![Key("recognise"), Key("models")],
                "must be an absolute path (a directory holding detector.onnx and reader.onnx)"
                    .into(),
            );
        }
        let known = builtin_names();
        for (i, f) in self.formats.iter().enumerate() {
            if !known.contains(&f.as_str()) {
                bad(
                    vec![Key("recognise"), Key("formats"), Index(i)],
                    format!("unknown format {f:?}; expected one of {}", known.join(", ")),
                );
            }
        }
        for (i, p) in self.patterns.iter().enumerate() {
            let here = |k| vec![Key("recognise"), Key("pattern"), Index(i), Key(k)];
            if p.name.trim().is_empty() {
                bad(here("name"), "must not be empty".into());
            }
            if let Err(e) = Pattern::parse(&p.name, &p.pattern) {
                bad(here("pattern"), format!("{e}"));
            }
        }
        if self.max_fixes > 4 {
            bad(
                vec![Key("recognise"), Key("max_fixes")],
                format!("must be between 0 and 4, not {}", self.max_fixes),
            );
        }
        if !(0.0..=1.0).contains(&self.fix_below) {
            bad(
                vec![Key("recognise"), Key("fix_below")],
                format!("must be between 0 and 1, not {}", self.fix_below),
            );
        }
        problems
    }

    /// Only the `[recognise]` section of the file at `path`, checked as
    /// strictly as the daemon checks it: what `anprd recognise` and `anprd
    /// eval` read. The rest of the file is not looked at, so a file holding
    /// only that section will do.
    pub fn load(path: &Path) -> Result<RecogniseConfig, ConfigErrors> {
        /// A file seen through its `[recognise]` table alone.
        #[derive(Deserialize)]
        struct Only {
            #[serde(default)]
            recognise: RecogniseConfig,
        }
        parse_checked(&read(path)?, path, |only: &Only| only.recognise.problems())
            .map(|only| only.recognise)
    }
}

fn default_formats() -> Vec<String> {
    vec!["uk".into()]
}
fn default_unmatched() -> crate::recognise::rules::Unmatched {
    crate::recognise::rules::Unmatched::Flag
}
fn default_max_fixes() -> usize {
    crate::recognise::rules::DEFAULT_MAX_FIXES
}
fn default_fix_below() -> f32 {
    crate::recognise::rules::DEFAULT_FIX_BELOW
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// A vehicle pass ends when its plate has not been seen for this long.
    #[serde(default = "default_end_after_ms")]
    pub end_after_ms: u64,
    /// ...or when it has lasted this long (a queueing vehicle still yields a read).
    #[serde(default = "default_max_pass_ms")]
    pub max_pass_ms: u64,
    /// Frames that must agree on each character of a pass's text before it
    /// yields a read (filters one-frame misreads).
    #[serde(default = "default_min_frames")]
    pub min_frames: u32,
    /// Send an early read (`preview = true`) once this many frames agree on
    /// the text; 0 sends none. The final read names the preview it replaces.
    #[serde(default)]
    pub preview_after_frames: u32,
    /// A plate read on a camera is not read again on that camera while it
    /// stays in sight with gaps shorter than this: a parked or queueing
    /// vehicle yields one read, not one every `max_pass_ms`.
    #[serde(default = "default_suppress_s")]
    pub suppress_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Opaque id: the MQTT client id and a topic level. Never a place name.
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Opaque id, a topic level.
    pub id: String,
    /// `rtsp://…`, `file:///…`, `v4l2:///dev/videoN` or `gst:<pipeline>`.
    pub source: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Free text for people on site. Stays on the box: never published or logged.
    #[serde(default)]
    pub label: Option<String>,
    /// Frames waiting for recognition before the oldest is dropped. A run of
    /// frames with several plates (close-ups, rereadings) can take longer
    /// than the frames come, while the other cores are busy with other
    /// cameras; the queue is the slack for it. 8 frames (320 ms at 25 fps)
    /// dropped none in the pipeline bench where 4 dropped 0–11 per 3,000, at
    /// the same peak RSS (most frames wait in no queue).
    #[serde(default = "default_queue_frames")]
    pub queue_frames: usize,
    /// Region of interest: a polygon `[[x, y], …]` in frame pixels. Plates
    /// outside it are ignored, and so is movement outside it.
    /// (Points are read as lists and checked in `validate`: serde's fixed
    /// arrays would silently ignore a third coordinate.)
    #[serde(default)]
    pub roi: Option<Vec<Vec<u32>>>,
    /// Plates narrower than this many pixels are ignored (too small to read well).
    #[serde(default)]
    pub min_plate_width: u32,
    /// Skip frames in which nothing moves (an empty road).
    #[serde(default = "yes")]
    pub motion_gating: bool,
    /// `[x, y, w, h]` rectangles in frame pixels blanked in every frame before
    /// anything reads it: the site names cameras burn into the picture.
    #[serde(default)]
    #[serde(deserialize_with = "exact_arrays")]
    pub redact: Vec<[u32; 4]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtts://host:port`, or `mqtt://host:port` with `allow_insecure = true`.
    pub url: String,
    #[serde(default)]
    pub allow_insecure: bool,
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Publishes sent but not yet acknowledged, at most.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u16,
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u64,
    /// Longest wait between reconnection attempts.
    #[serde(default = "default_reconnect_max_s")]
    pub reconnect_max_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    #[serde(default = "default_spool_path")]
    pub path: PathBuf,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Key that seals stored reads (see `seal`): a file readable by its owner
    /// only...
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// ...or the name of a systemd credential (`LoadCredentialEncrypted=`).
    #[serde(default)]
    pub key_credential: Option<String>,
    /// Reads older than this (by capture time) are removed unsent: forces keep
    /// local copies about a week, so older ones are of no use to them.
    #[serde(default = "default_max_age_days")]
    pub max_age_days: u32,
}

impl SpoolConfig {
    /// `max_age_days` as a duration.
    pub fn max_age(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.max_age_days) * 86_400)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// error, warn, info, debug or trace.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn yes() -> bool {
    true
}
fn default_queue_frames() -> usize {
    8
}
fn default_topic_prefix() -> String {
    "anpr".into()
}
fn default_max_inflight() -> u16 {
    32
}
fn default_keep_alive_s() -> u64 {
    30
}
fn default_reconnect_max_s() -> u64 {
    30
}
fn default_spool_path() -> PathBuf {
    PathBuf::from("/var/lib/anprd/spool")
}
fn default_max_bytes() -> u64 {
    2 * 1024 * 1024 * 1024
}
fn default_max_age_days() -> u32 {
    7
}
fn default_min_confidence() -> f32 {
    0.5
}
fn default_end_after_ms() -> u64 {
    800
}
fn default_max_pass_ms() -> u64 {
    10_000
}
fn default_min_frames() -> u32 {
    2
}
fn default_suppress_s() -> u64 {
    60
}
fn default_log_level() -> String {
    "info".into()
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            path: default_spool_path(),
            max_bytes: default_max_bytes(),
            key_file: None,
            key_credential: None,
            max_age_days: default_max_age_days(),
        }
    }
}

impl Default for RecogniseConfig {
    fn default() -> Self {
        RecogniseConfig {
            min_confidence: default_min_confidence(),
            look_where_moving: true,
            workers: None,
            formats: default_formats(),
            patterns: Vec::new(),
            unmatched: default_unmatched(),
            max_fixes: default_max_fixes(),
            fix_below: default_fix_below(),
            engine: crate::recognise::EngineKind::default(),
            models: None,
        }
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            end_after_ms: default_end_after_ms(),
            max_pass_ms: default_max_pass_ms(),
            min_frames: default_min_frames(),
            preview_after_frames: 0,
            suppress_s: default_suppress_s(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
        }
    }
}

impl CameraConfig {
    /// The region of interest as points (valid after [`Config::validate`]).
    pub fn roi_points(&self) -> Option<Vec<[u32; 2]>> {
        self.roi.as_ref().map(|roi| {
            roi.iter()
                .map(|p| [p[0], p.get(1).copied().unwrap_or(0)])
                .collect()
        })
    }
}

impl MqttConfig {
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_s)
    }
    pub fn reconnect_max(&self) -> Duration {
        Duration::from_secs(self.reconnect_max_s)
    }
}

/// One mistake in a configuration file, located for a person to fix.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the mistake has a place in the text.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted key path, e.g. `camera[1].source`; empty for syntax errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(line), Some(col)) = (self.line, self.column) {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All the mistakes found in one file (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A key path into the document: table keys and array indices.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(&'static str),
    Index(usize),
}

fn key_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let mut config = Config::parse(&read(path)?, path)?;
        config.loaded_from = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates `text`; `file` only names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
        parse_checked(text, file, Config::validate)
    }

    /// Checks what the types cannot: id syntax, URL schemes, ranges,
    /// duplicates. Returns every problem with the key it concerns.
    pub fn validate(&self) -> Vec<(Vec<Seg>, String)> {
        use Seg::{Index, Key};
        let mut problems = Vec::new();
        let mut bad = |path: Vec<Seg>, msg: String| problems.push((path, msg));

        if let Err(why) = check_id(&self.gateway.id) {
            bad(vec![Key("gateway"), Key("id")], why);
        }
        if self.cameras.is_empty() {
            bad(
                vec![Key("camera")],
                "at least one [[camera]] is needed".into(),
            );
        }
        for (i, cam) in self.cameras.iter().enumerate() {
            let here = |k| vec![Key("camera"), Index(i), Key(k)];
            if let Err(why) = check_id(&cam.id) {
                bad(here("id"), why);
            } else if let Some(first) = self.cameras[..i].iter().position(|c| c.id == cam.id) {
                bad(
                    here("id"),
                    format!("camera id {:?} is already used by camera[{first}]", cam.id),
                );
            }
            if let Err(why) = Source::parse(&cam.source) {
                bad(here("source"), why);
            }
            if let Some(roi) = &cam.roi {
                if roi.len() < 3 {
                    let msg = format!("a region needs at least 3 points [x, y], not {}", roi.len());
                    bad(here("roi"), msg);
                }
                for (j, point) in roi.iter().enumerate() {
                    let at = vec![Key("camera"), Index(i), Key("roi"), Index(j)];
                    if point.len() != 2 {
                        bad(
                            at,
                            format!("a point is [x, y] in pixels, not {} numbers", point.len()),
                        );
                    } else if point.iter().any(|&v| u64::from(v) > MAX_PIXEL) {
                        bad(
                            at,
                            format!(
                                "[{}, {}] lies past {MAX_PIXEL} pixels; points are frame pixels",
                                point[0], point[1]
                            ),
                        );
                    }
                }
                // Points in a line enclose nothing: every plate would be
                // outside, and the camera would silently read nothing.
                if roi.len() >= 3 && roi.iter().all(|p| p.len() == 2) && polygon_area(roi) < 1.0 {
                    bad(
                        here("roi"),
                        "the region encloses no area (its points lie on one line)".into(),
                    );
                }
            }
            for (j, r) in cam.redact.iter().enumerate() {
                if let Err(why) = check_redact(*r) {
                    bad(vec![Key("camera"), Index(i), Key("redact"), Index(j)], why);
                }
            }
            if !(1..=1000).contains(&cam.queue_frames) {
                bad(
                    here("queue_frames"),
                    format!("must be between 1 and 1000, not {}", cam.queue_frames),
                );
            }
        }

        let m = &self.mqtt;
        let mqtt = |k| vec![Key("mqtt"), Key(k)];
        match BrokerUrl::parse(&m.url) {
            Err(why) => bad(mqtt("url"), why),
            Ok(url) if !url.tls && !m.allow_insecure => bad(
                mqtt("url"),
                "mqtt:// sends reads unencrypted; use mqtts://, or set allow_insecure = true"
                    .into(),
            ),
            Ok(url) if url.tls && m.ca_file.is_none() => bad(
                mqtt("ca_file"),
                "mqtts:// needs ca_file: the broker's certificate is checked against it alone"
                    .into(),
            ),
            Ok(_) => {}
        }
        if m.cert_file.is_some() != m.key_file.is_some() {
            let missing = if m.cert_file.is_none() {
                "cert_file"
            } else {
                "key_file"
            };
            bad(
                mqtt(missing),
                "cert_file and key_file go together: set both or neither".into(),
            );
        }
        if let Err(why) = check_topic_prefix(&m.topic_prefix) {
            bad(mqtt("topic_prefix"), why);
        }
        if m.max_inflight == 0 {
            bad(mqtt("max_inflight"), "must be at least 1".into());
        }
        if !(1..=3600).contains(&m.keep_alive_s) {
            bad(
                mqtt("keep_alive_s"),
                format!("must be between 1 and 3600 s, not {}", m.keep_alive_s),
            );
        }
        if m.reconnect_max_s == 0 {
            bad(mqtt("reconnect_max_s"), "must be at least 1 s".into());
        }

        if self.spool.path.as_os_str().is_empty() {
            bad(vec![Key("spool"), Key("path")], "must not be empty".into());
        }
        if self.spool.max_bytes < MIN_SPOOL_BYTES {
            bad(
                vec![Key("spool"), Key("max_bytes")],
                format!(
                    "must be at least {MIN_SPOOL_BYTES} bytes (1 MiB), not {}",
                    self.spool.max_bytes
                ),
            );
        }
        if self.spool.key_file.is_some() && self.spool.key_credential.is_some() {
            bad(
                vec![Key("spool"), Key("key_credential")],
                "set key_file or key_credential, not both".into(),
            );
        }
        if let Some(name) = &self.spool.key_credential
            && (name.is_empty() || name.contains('/') || name == "." || name == "..")
        {
            bad(
                vec![Key("spool"), Key("key_credential")],
                format!("{name:?} is not a credential name (a file name, no '/')"),
            );
        }
        if !(1..=MAX_SPOOL_AGE_DAYS).contains(&self.spool.max_age_days) {
            bad(
                vec![Key("spool"), Key("max_age_days")],
                format!(
                    "must be between 1 and {MAX_SPOOL_AGE_DAYS} days, not {}",
                    self.spool.max_age_days
                ),
            );
        }
        for (path, why) in self.recognise.problems() {
            bad(path, why);
        }
        let g = &self.group;
        if !(50..=60_000).contains(&g.end_after_ms) {
            bad(
                vec![Key("group"), Key("end_after_ms")],
                format!("must be between 50 and 60000 ms, not {}", g.end_after_ms),
            );
        }
        if g.preview_after_frames != 0 && g.preview_after_frames < g.min_frames {
            bad(
                vec![Key("group"), Key("preview_after_frames")],
                format!(
                    "must be 0 (no previews) or at least min_frames ({})",
                    g.min_frames
                ),
            );
        }
        if g.suppress_s > 86_400 {
            bad(
                vec![Key("group"), Key("suppress_s")],
                format!("must be at most 86400 s (a day), not {}", g.suppress_s),
            );
        }
        if g.max_pass_ms < g.end_after_ms {
            bad(
                vec![Key("group"), Key("max_pass_ms")],
                format!("must be at least end_after_ms ({})", g.end_after_ms),
            );
        } else if g.max_pass_ms > 600_000 {
            // A track keeps every sighting and compares each new plate with
            // them all; a standing vehicle is suppress_s's business.
            bad(
                vec![Key("group"), Key("max_pass_ms")],
                format!(
                    "must be at most 600000 ms (10 minutes), not {}; a parked vehicle is kept to one read by suppress_s",
                    g.max_pass_ms
                ),
            );
        }
        if g.min_frames > 250 {
            bad(
                vec![Key("group"), Key("min_frames")],
                format!("must be at most 250 (10 s at 25 fps), not {}", g.min_frames),
            );
        }
        if log_level(&self.log.level).is_none() {
            bad(
                vec![Key("log"), Key("level")],
                format!(
                    "unknown level {:?}; expected error, warn, info, debug or trace",
                    self.log.level
                ),
            );
        }
        if !(1..=3600).contains(&self.health.heartbeat_s) {
            bad(
                vec![Key("health"), Key("heartbeat_s")],
                format!(
                    "must be between 1 and 3600 s, not {}",
                    self.health.heartbeat_s
                ),
            );
        }
        if let Some(p) = &self.health.state_file
            && !p.is_absolute()
        {
            bad(
                vec![Key("health"), Key("state_file")],
                "must be an absolute path".into(),
            );
        }
        problems
    }

    /// Cameras that are switched on.
    pub fn enabled_cameras(&self) -> impl Iterator<Item = &CameraConfig> {
        self.cameras.iter().filter(|c| c.enabled)
    }

    /// Files named by the configuration that cannot be read now. Not an error
    /// for `check-config` (a config is often written before the certificates
    /// arrive), but worth saying. With the neural engine this includes its
    /// model files (in the default directory when none is configured).
    pub fn unreadable_files(&self) -> Vec<(&'static str, PathBuf, String)> {
        use crate::recognise::{EngineKind, neural};
        let m = &self.mqtt;
        let mut files = vec![
            ("mqtt.ca_file", m.ca_file.clone()),
            ("mqtt.cert_file", m.cert_file.clone()),
            ("mqtt.key_file", m.key_file.clone()),
            ("spool.key_file", self.spool.key_file.clone()),
        ];
        if self.recognise.engine == EngineKind::Neural {
            let dir = (self.recognise.models.clone()).unwrap_or_else(neural::default_models_dir);
            for file in [neural::DETECTOR_FILE, neural::READER_FILE] {
                files.push(("recognise.models", Some(dir.join(file))));
            }
        }
        files
            .into_iter()
            .filter_map(|(key, path)| {
                let path = path?;
                std::fs::File::open(&path)
                    .err()
                    .map(|e| (key, path, e.to_string()))
            })
            .collect()
    }
}

/// The whole of `path`, or an error naming it.
fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: String::new(),
            message: format!("cannot read configuration: {e}"),
        }])
    })
}

/// `text` turned into a `T` and checked by `validate`, every mistake located
/// in the text; `file` only names it in errors.
fn parse_checked<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
    validate: impl Fn(&T) -> Vec<(Vec<Seg>, String)>,
) -> Result<T, ConfigErrors> {
    let at = |span: Option<Range<usize>>, key: String, message: String| {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            key,
            message,
        }])
    };
    let doc =
        DeTable::parse(text).map_err(|e| at(e.span(), String::new(), e.message().to_string()))?;
    let config: T = serde_path_to_error::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| {
            at(
                e.inner().span(),
                e.path().to_string(),
                e.inner().message().to_string(),
            )
        })?;
    let problems = validate(&config);
    if problems.is_empty() {
        return Ok(config);
    }
    Err(ConfigErrors(
        problems
            .into_iter()
            .map(|(path, message)| {
                let (line, column) = match locate(doc.get_ref(), &path) {
                    Some(offset) => {
                        let (l, c) = line_col(text, offset);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                ConfigError {
                    file: file.to_path_buf(),
                    line,
                    column,
                    key: key_path(&path),
                    message,
                }
            })
            .collect(),
    ))
}

/// The smallest spool worth having: a few hundred reads with images.
pub const MIN_SPOOL_BYTES: u64 = 1024 * 1024;

/// The longest a read may wait in the spool: a year.
pub const MAX_SPOOL_AGE_DAYS: u32 = 366;

/// Ids are opaque tokens used as MQTT topic levels and client id: ASCII
/// letters, digits, `-` and `_`, at most 64 characters. No spaces, so free
/// text such as a place name does not fit by accident.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > 64 {
        return Err(format!("is {} characters long; at most 64", id.len()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "contains {c:?}; ids are opaque tokens of letters, digits, '-' and '_' (`anprd id` makes one)"
        ));
    }
    Ok(())
}

/// A list of fixed-size number arrays, each of exactly `N` numbers: serde's
/// own arrays would silently ignore a fifth number in `[x, y, w, h, 9]`.
fn exact_arrays<'de, D, const N: usize>(d: D) -> Result<Vec<[u32; N]>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    Vec::<Vec<u32>>::deserialize(d)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            <[u32; N]>::try_from(v.as_slice())
                .map_err(|_| D::Error::custom(format!("item {i} has {} numbers, not {N}", v.len())))
        })
        .collect()
}

/// Largest frame coordinate a region or a redaction box may name: past any
/// frame size a camera could have, so a typo such as an extra digit is caught.
const MAX_PIXEL: u64 = 16_384;

/// Area of a polygon of [x, y] points (shoelace formula), in pixels².
fn polygon_area(points: &[Vec<u32>]) -> f64 {
    let n = points.len();
    let twice: f64 = (0..n)
        .map(|i| {
            let (a, b) = (&points[i], &points[(i + 1) % n]);
            f64::from(a[0]) * f64::from(b[1]) - f64::from(b[0]) * f64::from(a[1])
        })
        .sum();
    twice.abs() / 2.0
}

/// A redaction box `[x, y, w, h]`: not empty, and within any frame size a
/// camera could have (so a typo such as a missing digit is caught).
fn check_redact([x, y, w, h]: [u32; 4]) -> Result<(), String> {
    const MAX: u64 = MAX_PIXEL;
    if w == 0 || h == 0 {
        return Err(format!(
            "[{x}, {y}, {w}, {h}] is empty: width and height must be at least 1"
        ));
    }
    if u64::from(x) + u64::from(w) > MAX || u64::from(y) + u64::from(h) > MAX {
        return Err(format!(
            "[{x}, {y}, {w}, {h}] reaches past {MAX} pixels; boxes are [x, y, width, height] in frame pixels"
        ));
    }
    Ok(())
}

fn check_topic_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty".into());
    }
    if prefix.contains(['+', '#']) {
        return Err("must not contain MQTT wildcards '+' or '#'".into());
    }
    if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        return Err("must not start or end with '/' or contain an empty level".into());
    }
    if prefix.contains('\0') {
        return Err("must not contain NUL".into());
    }
    // Every topic reaches the broker and its logs: levels are tokens like
    // ids, so a place name does not fit by accident.
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Err(format!(
            "contains {c:?}; topic levels are tokens of letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// The `log.level` value as a filter, if it is one.
pub fn log_level(level: &str) -> Option<log::LevelFilter> {
    match level {
        "error" => Some(log::LevelFilter::Error),
        "warn" => Some(log::LevelFilter::Warn),
        "info" => Some(log::LevelFilter::Info),
        "debug" => Some(log::LevelFilter::Debug),
        "trace" => Some(log::LevelFilter::Trace),
        _ => None,
    }
}

/// A broker address from `mqtt.url`.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl BrokerUrl {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`, an optional trailing `/`.
    pub fn parse(url: &str) -> Result<BrokerUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err("must start with mqtts:// (or mqtt:// with allow_insecure = true)".into());
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err("must be scheme://host[:port] with no path, query or credentials".into());
        }
        // An IPv6 literal keeps its brackets: the resolver wants "[::1]:port".
        let (host, port) = match rest.strip_prefix('[') {
            Some(inner) => match inner.split_once(']') {
                Some((literal, after)) => (&rest[..literal.len() + 2], after.strip_prefix(':')),
                None => return Err("has an IPv6 address without its closing ']'".into()),
            },
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty() || host == "[]" {
            return Err("has no host".into());
        }
        if host.starts_with('[') && rest.len() > host.len() && port.is_none() {
            return Err("has something other than :port after the IPv6 address".into());
        }
        let port = match port {
            None => {
                if tls {
                    8883
                } else {
                    1883
                }
            }
            Some(port) => port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or("has an invalid port number")?,
        };
        Ok(BrokerUrl {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

/// Byte offset of the value at `path` in the document, for error positions.
/// Falls back to the nearest parent that exists (a missing key is reported
/// at its table).
fn locate(table: &DeTable<'_>, path: &[Seg]) -> Option<usize> {
    let mut best = None;
    let mut value: Option<&DeValue<'_>> = None;
    let mut current = table;
    for seg in path {
        let next = match (seg, value) {
            (Seg::Key(k), None) => current.get(*k),
            (Seg::Key(k), Some(DeValue::Table(t))) => t.get(*k),
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        let Some(spanned) = next else { break };
        best = Some(spanned.span().start);
        value = Some(spanned.get_ref());
        if let DeValue::Table(t) = spanned.get_ref() {
            current = t;
        }
    }
    best
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
