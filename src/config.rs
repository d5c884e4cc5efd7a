//! Configuration: one TOML file, checked strictly.
//!
//! Every mistake is reported as `FILE:LINE:COL: KEY: what is wrong`, so a site
//! engineer can go straight to it. Parsing is in two steps: serde turns the
//! text into typed values (rejecting unknown keys and wrong types), then
//! [`Config::validate`] checks what types cannot say (URL schemes, id syntax,
//! duplicates). Both steps locate the offending key in the original text.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

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
    pub log: LogConfig,
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
    /// Frames waiting for recognition before the oldest is dropped.
    #[serde(default = "default_queue_frames")]
    pub queue_frames: usize,
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
    4
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
fn default_log_level() -> String {
    "info".into()
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            path: default_spool_path(),
            max_bytes: default_max_bytes(),
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

impl MqttConfig {
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_s)
    }
    pub fn reconnect_max(&self) -> Duration {
        Duration::from_secs(self.reconnect_max_s)
    }
}
