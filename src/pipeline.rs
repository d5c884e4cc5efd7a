//! Pipeline: wires the stages together and runs them until told to stop.
//!
//! ```text
//! capture thread ─FrameQueue─┐                       (one per camera)
//! capture thread ─FrameQueue─┼─▶ recognition workers ─┐  (one per core, shared)
//! capture thread ─FrameQueue─┘   gate → engine → group │
//!                                                      ▼ sync_channel (bounded)
//!                                   spool writer thread ─Notify─▶ forwarder (tokio)
//! ```
//!
//! Recognition workers serve the cameras round robin, one frame at a time, so
//! a busy camera cannot starve the others; a camera is served by one worker at
//! a time, so its frames are grouped in order.
//!
//! Shutdown runs front to back so nothing in flight is lost: capture stops
//! and closes its queue; recognition drains it and ends every open pass; the
//! spool writer stores the last reads and flushes; only then does the
//! forwarder stop, after a short wait for outstanding acknowledgements.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::capture::{self, Doorbell, Frame, FrameQueue, Pop, UtcMillis};
use crate::config::{CameraConfig, Config};
use crate::forward;
use crate::group::Grouper;
use crate::health::{CameraStats, Stats, bump};
use crate::memory::{self, Trimmer};
use crate::recognise::Recogniser;
use crate::recognise::gate::Gate;
use crate::record::{Read, now_millis};
use crate::spool::{self, Spool};

/// Makes one recognition engine per camera thread.
pub type EngineFactory = dyn Fn() -> anyhow::Result<Box<dyn Recogniser>> + Send + Sync;

/// Reads waiting between recognition and the spool writer. Small: the writer
/// flushes every few milliseconds, and a full channel only slows recognition
/// (whose queues then drop old frames), never capture.
const READ_CHANNEL: usize = 64;

/// How long a recognition thread waits for a frame before checking whether
/// open passes have ended by the clock.
const IDLE_TICK: Duration = Duration::from_millis(100);
/// How long shutdown goes on analysing frames still queued; the rest are
/// dropped, so open passes are flushed and stored well inside systemd's
/// TimeoutStopSec (30 s) however long the queues (`queue_frames` may be
/// 1000) and however slow recognition.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// A running pipeline: the blocking stages on their threads, plus what the
/// async forwarder needs.
pub struct Pipeline {
    pub stats: Arc<Stats>,
    pub spool: Spool,
    /// Woken by the spool writer after each flush.
    pub stored: Arc<tokio::sync::Notify>,
    stop_capture: Arc<AtomicBool>,
    cameras: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
    /// Hands freed frames and tensors back to the system (see [`memory`]).
    _trimmer: Trimmer,
}

impl Pipeline {
    /// Opens the spool and starts capture, recognition and the spool writer.
    pub fn start(config: &Config, engines: &EngineFactory) -> anyhow::Result<Pipeline> {
        let sealer = crate::seal::Sealer::for_daemon(&config.spool)?;
        let spool = Spool::open_sealed(&config.spool, sealer)
            .with_context(|| format!("cannot open the spool at {}", config.spool.path.display()))?;
        let cameras: Vec<&CameraConfig> = config.enabled_cameras().collect();
        let stats = Arc::new(Stats::new(cameras.iter().map(|c| c.id.as_str())));
        let stored = Arc::new(tokio::sync::Notify::new());
        let stop_capture = Arc::new(AtomicBool::new(false));

        let (reads_tx, reads_rx) = sync_channel::<Read>(READ_CHANNEL);
        let writer = spool::spawn_writer(spool.clone(), reads_rx, stored.clone(), stats.clone())
            .context("cannot start the spool writer thread")?;

        let doorbell = Arc::new(Doorbell::default());
        let mut threads = Vec::new();
        let mut lanes = Vec::new();
        for camera in &cameras {
            let camera_stats = stats
                .camera(&camera.id)
                .expect("stats has every enabled camera");
            let queue = Arc::new(FrameQueue::with_doorbell(
                camera.queue_frames,
                doorbell.clone(),
            ));
            threads.push(
                capture::spawn(
                    camera,
                    queue.clone(),
                    camera_stats.clone(),
                    stop_capture.clone(),
                )
                .with_context(|| {
                    format!("camera {}: cannot start its capture thread", camera.id)
                })?,
            );
            lanes.push(Lane {
                id: camera.id.clone(),
                queue,
                stats: camera_stats,
                redact: camera.redact.clone(),
                state: Mutex::new(LaneState {
                    gate: Gate::new(
                        camera.roi_points().as_deref(),
                        camera.min_plate_width,
                        camera.motion_gating,
                    ),
                    grouper: Grouper::new(&config.gateway.id, &camera.id, config.group.clone()),
                    finished: false,
                    last_tick: Instant::now(),
                    last_frame: None,
                }),
            });
        }
        let lanes = Arc::new(lanes);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = config
            .recognise
            .workers
            .unwrap_or(cores)
            .min(cameras.len())
            .max(1);
        log::info!(
            "recognition: {workers} thread(s) for {} camera(s)",
            cameras.len()
        );
        for n in 0..workers {
            let worker = Worker {
                lanes: lanes.clone(),
                stats: stats.clone(),
                doorbell: doorbell.clone(),
                engine: engines().context("cannot load the recogniser")?,
                min_confidence: config.recognise.min_confidence,
                look_where_moving: config.recognise.look_where_moving,
                reads: reads_tx.clone(),
                next: n,
                stopping: stop_capture.clone(),
                stop_seen: None,
                dropping: false,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("recognise-{n}"))
                    .spawn(move || worker.run())
                    .context("cannot start a recognition thread")?,
            );
        }
        // The workers hold the only senders now: the writer ends when they do.
        drop(reads_tx);
        let trimmer = Trimmer::start(memory::TRIM_EVERY)
            .context("cannot start the memory trimming thread")?;
        Ok(Pipeline {
            stats,
            spool,
            stored,
            stop_capture,
            cameras: threads,
            writer,
            _trimmer: trimmer,
        })
    }

    /// Stops capture and waits until every read in flight is stored. Blocks.
    pub fn stop(self) {
        self.stop_capture.store(true, Ordering::SeqCst);
        for thread in self.cameras {
            let _ = thread.join();
        }
        let _ = self.writer.join();
    }
}

/// Runs the whole gateway until SIGTERM or SIGINT. Blocks the calling thread,
/// which becomes the tokio runtime of the network side.
pub fn run(config: &Config, engines: &EngineFactory) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Signal handlers first: a SIGTERM during start-up must not kill us mid-write.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut live_config = config.clone();

        let pipeline = Pipeline::start(config, engines)?;
        let (stop_forwarder, stopped) = tokio::sync::watch::channel(false);
        let mut forwarder = tokio::spawn(forward::run_with_health(
            config.mqtt.clone(),
            Some(config.health.clone()),
            config.gateway.id.clone(),
            pipeline.spool.clone(),
            pipeline.stored.clone(),
            pipeline.stats.clone(),
            stopped,
        ));
        // READY=1, watchdog pings, STATUS= and the state file for `anprd status`.
        let supervisor = tokio::spawn(crate::supervise::run(
            config.gateway.id.clone(),
            pipeline.stats.clone(),
            pipeline.spool.clone(),
            crate::status::state_file_path(config.health.state_file.as_deref()),
        ));
        log::info!(
            "anprd {} running: {} camera(s), {} read(s) waiting in the spool",
            env!("CARGO_PKG_VERSION"),
            pipeline.stats.cameras.len(),
            pipeline.spool.stats().pending
        );

        let forwarder_ended = loop {
            tokio::select! {
                _ = term.recv() => { log::info!("SIGTERM: shutting down"); break None }
                _ = int.recv() => { log::info!("SIGINT: shutting down"); break None }
                _ = hup.recv() => crate::reload::on_sighup(&mut live_config),
                ended = &mut forwarder => break Some(ended),
            }
        };
        supervisor.abort();
        crate::notify::notify("STOPPING=1\nSTATUS=storing the last reads");
        tokio::task::spawn_blocking(move || pipeline.stop()).await?;
        log::info!("capture stopped; every read in flight is stored");
        // The forwarder ends by itself only on a fatal error (unreadable TLS
        // files, say); otherwise it is told to stop and disconnects cleanly.
        let ended = match forwarder_ended {
            Some(ended) => ended,
            None => {
                let _ = stop_forwarder.send(true);
                forwarder.await
            }
        };
        ended?.context("the forwarder stopped")
    })
}

/// What recognition keeps per camera.
struct Lane {
    id: String,
    queue: Arc<FrameQueue>,
    stats: Arc<CameraStats>,
    /// Boxes blanked in every frame before anything reads it (`camera.redact`):
    /// site names that cameras burn into the picture.
    redact: Vec<[u32; 4]>,
    /// Held while a worker serves this camera: its frames stay in order.
    state: Mutex<LaneState>,
}

struct LaneState {
    gate: Gate,
    grouper: Grouper,
    /// The camera has ended and its last tracks are flushed.
    finished: bool,
    last_tick: Instant,
    /// The last frame analysed: its capture time, and when it was taken
    /// from the queue.
    last_frame: Option<(UtcMillis, Instant)>,
}

/// The camera's time now: its last frame's capture time plus the time since
/// that frame was taken (`last_frame`), or the wall clock before any frame.
/// Tracks are timed by capture time, which trails the wall clock by the
/// camera's delay and the queue's; ending them by the wall clock would cut
/// passes short on a camera with a long delay.
fn camera_now(last_frame: Option<(UtcMillis, Instant)>) -> UtcMillis {
    match last_frame {
        Some((captured_at, taken)) => {
            captured_at + i64::try_from(taken.elapsed().as_millis()).unwrap_or(i64::MAX / 2)
        }
        None => now_millis(),
    }
}

/// One recognition thread, serving every camera.
struct Worker {
    lanes: Arc<Vec<Lane>>,
    stats: Arc<Stats>,
    doorbell: Arc<Doorbell>,
    engine: Box<dyn Recogniser>,
    min_confidence: f32,
    look_where_moving: bool,
    reads: SyncSender<Read>,
    /// Lane to look at first; moves on after each frame (round robin).
    next: usize,
    /// Set when capture is told to stop.
    stopping: Arc<AtomicBool>,
    /// When this worker first saw `stopping`.
    stop_seen: Option<Instant>,
    /// Past [`DRAIN_LIMIT`]: queued frames are dropped.
    dropping: bool,
}

impl Worker {
    fn run(mut self) {
        let lanes = self.lanes.clone();
        let n = lanes.len();
        loop {
            let rings = self.doorbell.rings();
            let (mut served, mut open) = (false, false);
            for k in 0..n {
                let i = (self.next + k) % n;
                let lane = &lanes[i];
                let mut state = match lane.state.try_lock() {
                    Ok(state) => state,
                    Err(TryLockError::WouldBlock) => {
                        open = true; // another worker is on it
                        continue;
                    }
                    // A panic while this camera's frame was analysed: its
                    // tracks and gate are still usable, and a camera left
                    // locked would keep shutdown waiting for ever.
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                };
                if state.finished {
                    continue;
                }
                open = true;
                let reads = match lane.queue.pop(Duration::ZERO) {
                    Pop::Frame(_) if self.drain_over() => {
                        served = true;
                        bump(&lane.stats.dropped);
                        Vec::new()
                    }
                    Pop::Frame(frame) => {
                        served = true;
                        self.next = (i + 1) % n;
                        let seq = frame.seq;
                        state.last_frame = Some((frame.captured_at, Instant::now()));
                        // A bug the frame trips costs that frame, not the
                        // worker (and with it every camera's recognition).
                        catch_unwind(AssertUnwindSafe(|| self.analyse(lane, &mut state, frame)))
                            .unwrap_or_else(|_| {
                                log::error!(
                                    CAMERA_ID = lane.id.as_str();
                                    "camera {}: recognition failed on frame {seq}; frame skipped",
                                    lane.id
                                );
                                Vec::new()
                            })
                    }
                    Pop::Closed => {
                        state.finished = true;
                        log::info!(CAMERA_ID = lane.id.as_str(); "camera {}: recognition finished", lane.id);
                        state.grouper.flush()
                    }
                    Pop::Timeout if state.last_tick.elapsed() >= IDLE_TICK => {
                        state.last_tick = Instant::now();
                        let now = camera_now(state.last_frame);
                        state.grouper.expire(now)
                    }
                    Pop::Timeout => Vec::new(),
                };
                drop(state);
                if !self.emit(&lane.id, &lane.stats, reads) {
                    return;
                }
                if served {
                    break;
                }
            }
            if !open {
                return; // every camera has ended
            }
            if !served {
                self.doorbell.wait(rings, IDLE_TICK);
            }
        }
    }

    /// Shutdown has analysed queued frames for [`DRAIN_LIMIT`]: the rest
    /// are dropped (and counted).
    fn drain_over(&mut self) -> bool {
        if self.dropping {
            return true;
        }
        if !self.stopping.load(Ordering::Relaxed) {
            return false;
        }
        let since = *self.stop_seen.get_or_insert_with(Instant::now);
        if since.elapsed() >= DRAIN_LIMIT {
            self.dropping = true;
            log::warn!(
                "shutdown: frames still queued after {} s are dropped; open passes are stored",
                DRAIN_LIMIT.as_secs()
            );
        }
        self.dropping
    }

    fn analyse(&mut self, lane: &Lane, state: &mut LaneState, mut frame: Frame) -> Vec<Read> {
        crate::imaging::redact(&mut frame, &lane.redact);
        if state.gate.region_misses(&frame) {
            log::warn!(
                CAMERA_ID = lane.id.as_str();
                "camera {}: its roi lies outside its {}×{} frames: no plate can be read (drawn for another resolution?)",
                lane.id, frame.width, frame.height
            );
        }
        let worth = state.gate.worth_analysing(&frame);
        state.grouper.scene(frame.captured_at, state.gate.change());
        if !worth {
            bump(&lane.stats.skipped);
            return state.grouper.expire(frame.captured_at);
        }
        // Plates worth finding are where something moved, or where an open
        // track last saw one: the engine may look there alone.
        let region = state
            .gate
            .moving_region()
            .filter(|_| self.look_where_moving)
            .map(|moving| state.grouper.open_boxes().fold(moving, union));
        let mut plates = match region {
            Some(region) => self.engine.recognise_in(&frame, region),
            None => self.engine.recognise(&frame),
        };
        plates.retain(|p| p.confidence >= self.min_confidence);
        state.gate.keep(&mut plates);
        bump(&lane.stats.analysed);
        state.grouper.observe(&frame, &plates)
    }

    /// Hands reads to the spool writer; false if it is gone.
    fn emit(&self, camera: &str, stats: &CameraStats, reads: Vec<Read>) -> bool {
        for read in reads {
            bump(&stats.reads);
            self.stats.store_latency.made(read.read_id);
            log::info!(
                CAMERA_ID = camera, READ_ID:% = read.read_id;
                "camera {camera}: read {}{} from {} frames ({:.2})",
                read.read_id, if read.preview { " (preview)" } else { "" }, read.frames, read.confidence
            );
            if self.reads.send(read).is_err() {
                log::error!(CAMERA_ID = camera; "camera {camera}: the spool writer has stopped; reads cannot be stored");
                return false;
            }
        }
        true
    }
}

/// The smallest box ([x, y, w, h]) holding both.
fn union(a: [u32; 4], b: [u32; 4]) -> [u32; 4] {
    let (x0, y0) = (a[0].min(b[0]), a[1].min(b[1]));
    let x1 = (a[0] + a[2]).max(b[0] + b[2]);
    let y1 = (a[1] + a[3]).max(b[1] + b[3]);
    [x0, y0, x1 - x0, y1 - y0]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_idle_tick_keeps_to_the_cameras_time() {
        use std::time::{Duration, Instant};
        // A frame captured 3 s before the wall clock, taken 50 ms ago.
        let captured = crate::record::now_millis() - 3000;
        let taken = Instant::now() - Duration::from_millis(50);
        let now = super::camera_now(Some((captured, taken)));
        assert!(
            (captured + 50..captured + 1000).contains(&now),
            "{}",
            now - captured
        );
        let wall = crate::record::now_millis();
        assert!(super::camera_now(None) >= wall);
    }

    #[test]
    fn union_holds_both_boxes() {
        assert_eq!(
            super::union([10, 20, 5, 5], [0, 30, 4, 10]),
            [0, 20, 15, 20]
        );
        assert_eq!(super::union([1, 2, 3, 4], [1, 2, 3, 4]), [1, 2, 3, 4]);
    }
}
