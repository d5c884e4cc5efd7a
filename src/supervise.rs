//! Supervision: tells systemd when anprd is ready, what it is doing, and
//! feeds its watchdog only while the pipeline makes progress.
//!
//! Ready means: configuration loaded, spool open (both done before this runs)
//! and every enabled camera has delivered a frame or failed. A stall is a
//! camera that claims to stream while recognition has taken nothing new off
//! its queue for the stall window (a frame analysed, or skipped because
//! nothing moved: an empty road is not a stall): a hung source, recogniser
//! or spool writer. Then the
//! pings stop, WATCHDOG_STALL is logged, and systemd restarts anprd. The
//! forwarder shares this task's runtime, so a blocked runtime stops pings too.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::health::Stats;
use crate::logging::message_id;
use crate::notify::notify;
use crate::record::now_millis;
use crate::spool::Spool;
use crate::status::{STATUS_SCHEMA, Sampler, StatusReport};

/// Stall window when systemd runs no watchdog: stalls are still logged.
const DEFAULT_STALL: Duration = Duration::from_secs(30);
/// Longest pause between two looks at the pipeline.
const MAX_TICK: Duration = Duration::from_secs(1);
/// How often the state file for `anprd status` is rewritten.
const STATE_EVERY: Duration = Duration::from_secs(2);

/// The watchdog interval systemd asks for (WATCHDOG_USEC), if it is meant
/// for this process (WATCHDOG_PID, when set, is our pid).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Every enabled camera has delivered a frame, failed or ended.
pub fn cameras_ready(stats: &Stats) -> bool {
    stats.cameras.iter().all(|(_, c)| {
        c.frames.load(Ordering::Relaxed) > 0
            || c.failed.load(Ordering::Relaxed)
            || c.ended.load(Ordering::Relaxed)
    })
}

/// Tracks per camera when recognition last moved.
pub struct Progress {
    window: Duration,
    /// Frames taken at the last move, and when it moved.
    cameras: Vec<(u64, Instant)>,
}

/// What one look at the pipeline found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Progressing,
    /// The camera (its index) streams but recognition took none of its
    /// frames for the window.
    Stalled(usize),
}

impl Progress {
    pub fn new(window: Duration, cameras: usize, now: Instant) -> Progress {
        Progress {
            window,
            cameras: vec![(0, now); cameras],
        }
    }

    /// `cameras`: (streaming, frames recognition has taken: analysed or
    /// skipped) per camera, in a fixed order.
    /// A camera that does not stream is capture's business (it reopens it
    /// and logs CAMERA_LOST), not a stall.
    pub fn observe(&mut self, now: Instant, cameras: &[(bool, u64)]) -> Verdict {
        let mut verdict = Verdict::Progressing;
        for (i, (&(streaming, analysed), last)) in cameras.iter().zip(&mut self.cameras).enumerate()
        {
            if !streaming || analysed != last.0 {
                *last = (analysed, now);
            } else if now.duration_since(last.1) > self.window && verdict == Verdict::Progressing {
                verdict = Verdict::Stalled(i);
            }
        }
        verdict
    }
}

/// Runs until aborted: readiness, watchdog pings, STATUS=, the state file.
pub async fn run(gateway_id: String, stats: Arc<Stats>, spool: Spool, state_file: PathBuf) {
    let watchdog = watchdog_interval();
    // Ping at least twice per interval; judge stalls over half of it.
    let tick = watchdog.map_or(MAX_TICK, |w| (w / 4).min(MAX_TICK));
    let window = watchdog.map_or(DEFAULT_STALL, |w| w / 2);
    let mut progress = Progress::new(window, stats.cameras.len(), Instant::now());
    let mut sampler = Sampler::new();
    let mut ready = false;
    let mut stalled = false;
    let mut state_written: Option<Instant> = None;
    let mut state_failed = false;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = Instant::now();
        let clock = crate::clock::refresh();
        if !ready && cameras_ready(&stats) {
            ready = true;
            notify("READY=1\nSTATUS=running");
            log::info!("ready: every camera has delivered a frame or failed");
        }
        let cameras: Vec<(bool, u64)> = stats
            .cameras
            .iter()
            .map(|(_, c)| (c.streaming.load(Ordering::Relaxed), c.taken()))
            .collect();
        match progress.observe(now, &cameras) {
            Verdict::Stalled(i) => {
                if !stalled {
                    stalled = true;
                    let id = stats.cameras[i].0.as_str();
                    log::error!(
                        MESSAGE_ID = message_id::WATCHDOG_STALL, CAMERA_ID = id;
                        "pipeline stalled: camera {id} streams but recognition took none of its frames for {} s; \
                         no more watchdog pings, systemd will restart anprd",
                        window.as_secs_f32()
                    );
                }
            }
            Verdict::Progressing => {
                if stalled {
                    stalled = false;
                    log::warn!("pipeline progressing again; watchdog pings resume");
                }
            }
        }
        let due = state_written.is_none_or(|t| now.duration_since(t) >= STATE_EVERY);
        let ping = ready && !stalled && watchdog.is_some();
        if !(due || ping) {
            continue;
        }
        let snapshot = sampler.sample(&stats, &spool, clock);
        let stall_note = if stalled { "STALLED: " } else { "" };
        let mut message = format!("STATUS={stall_note}{}", snapshot.status_line());
        if ping {
            message.insert_str(0, "WATCHDOG=1\n");
        }
        notify(&message);
        if due {
            state_written = Some(now);
            let report = StatusReport {
                schema: STATUS_SCHEMA.to_string(),
                running: true,
                state_age_s: 0,
                pid: std::process::id(),
                written_at_ms: now_millis(),
                gateway_id: gateway_id.clone(),
                snapshot,
            };
            match crate::status::write_state(&state_file, &report) {
                Ok(()) => state_failed = false,
                Err(e) if !state_failed => {
                    state_failed = true;
                    log::warn!(
                        "cannot write the state file {}: {e}; `anprd status` will say anprd is not running",
                        state_file.display()
                    );
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(2);

    #[test]
    fn a_streaming_camera_with_nothing_analysed_for_the_window_is_a_stall() {
        let t0 = Instant::now();
        let mut p = Progress::new(W, 2, t0);
        assert_eq!(p.observe(t0, &[(true, 5), (true, 1)]), Verdict::Progressing);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(p.observe(t1, &[(true, 9), (true, 1)]), Verdict::Progressing);
        let t2 = t0 + Duration::from_secs(3);
        assert_eq!(p.observe(t2, &[(true, 12), (true, 1)]), Verdict::Stalled(1));
        // It moves again: progress.
        assert_eq!(
            p.observe(t2, &[(true, 12), (true, 2)]),
            Verdict::Progressing
        );
    }

    #[test]
    fn an_empty_road_whose_frames_are_all_skipped_is_not_a_stall() {
        use crate::health::CameraStats;
        let t0 = Instant::now();
        let mut p = Progress::new(W, 1, t0);
        let cam = CameraStats::default();
        cam.streaming.store(true, Ordering::Relaxed);
        cam.analysed.store(40, Ordering::Relaxed);
        p.observe(t0, &[(true, cam.taken())]);
        // Nothing moves for a minute: every frame is skipped, none analysed.
        for s in 1..=60 {
            cam.skipped.fetch_add(25, Ordering::Relaxed);
            let now = t0 + Duration::from_secs(s);
            assert_eq!(p.observe(now, &[(true, cam.taken())]), Verdict::Progressing);
        }
        // Frames arrive but recognition takes none (they are dropped at the
        // queue): a stall.
        cam.dropped.fetch_add(100, Ordering::Relaxed);
        let later = t0 + Duration::from_secs(63);
        assert_eq!(
            p.observe(later, &[(true, cam.taken())]),
            Verdict::Stalled(0)
        );
    }

    #[test]
    fn a_camera_that_does_not_stream_is_not_a_stall() {
        let t0 = Instant::now();
        let mut p = Progress::new(W, 1, t0);
        p.observe(t0, &[(true, 3)]);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(p.observe(later, &[(false, 3)]), Verdict::Progressing);
        // Streaming again: its window starts now, not at the last move.
        assert_eq!(
            p.observe(later + Duration::from_secs(1), &[(true, 3)]),
            Verdict::Progressing
        );
    }
}
