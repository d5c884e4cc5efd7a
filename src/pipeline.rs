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
//! a busy camera cannot starve the others. Several workers may analyse one
//! camera's frames at once (a burst on one camera uses every core, and a
//! one-camera site gets them all); the grouper still takes its frames in the
//! order they were captured (see `Lane`).
//!
//! Shutdown runs front to back so nothing in flight is lost: capture stops
//! and closes its queue; recognition drains it and ends every open pass; the
//! spool writer stores the last reads and flushes; only then does the
//! forwarder stop, after a short wait for outstanding acknowledgements.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::capture::{self, Doorbell, Frame, FrameQueue, Pop, UtcMillis};
use crate::config::{CameraConfig, Config, GroupConfig};
use crate::forward;
use crate::group::Grouper;
use crate::health::{CameraStats, Stats, bump};
use crate::memory::{self, Trimmer};
use crate::recognise::gate::{Change, Gate};
use crate::recognise::{PlateCandidate, Recogniser};
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
/// How long a worker waits before looking again at a camera another worker
/// was taking a frame from.
const CONTENDED_WAIT: Duration = Duration::from_millis(1);
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
            lanes.push(Lane::new(
                camera,
                &config.gateway.id,
                config.group.clone(),
                queue,
                camera_stats,
            ));
        }
        let lanes = Arc::new(lanes);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = config.recognise.workers.unwrap_or(cores).max(1);
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
///
/// Any worker may analyse any of a camera's frames, several at once, so a
/// burst on one camera can use every core; the grouper must still see them
/// in the order they were captured. A frame therefore passes two locks: the
/// `front` hands it a ticket (its place in the camera's order) and gates it,
/// and the `back` takes the analysed frames in ticket order, holding back
/// one that overtook an earlier frame still in analysis.
struct Lane {
    id: String,
    queue: Arc<FrameQueue>,
    stats: Arc<CameraStats>,
    /// Boxes blanked in every frame before anything reads it (`camera.redact`):
    /// site names that cameras burn into the picture.
    redact: Vec<[u32; 4]>,
    front: Mutex<Front>,
    back: Mutex<Back>,
}

impl Lane {
    fn new(
        camera: &CameraConfig,
        gateway_id: &str,
        group: GroupConfig,
        queue: Arc<FrameQueue>,
        stats: Arc<CameraStats>,
    ) -> Lane {
        Lane {
            id: camera.id.clone(),
            queue,
            stats,
            redact: camera.redact.clone(),
            front: Mutex::new(Front {
                gate: Gate::new(
                    camera.roi_points().as_deref(),
                    camera.min_plate_width,
                    camera.motion_gating,
                ),
                issued: 0,
                closed: false,
            }),
            back: Mutex::new(Back::new(Grouper::new(gateway_id, &camera.id, group))),
        }
    }

    /// A poisoned lock here means a panic while it was held; what it guards
    /// is still usable, and a camera left locked would keep shutdown
    /// waiting for ever.
    fn front(&self) -> MutexGuard<'_, Front> {
        self.front.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn back(&self) -> MutexGuard<'_, Back> {
        self.back.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Taken in capture order: the motion gate compares each frame with the one
/// before.
struct Front {
    gate: Gate,
    /// Tickets handed out so far: the next frame's ticket.
    issued: u64,
    /// The camera's queue has closed: no more tickets.
    closed: bool,
}

/// Taken in ticket order: grouping.
struct Back {
    grouper: Grouper,
    /// Frames analysed ahead of an earlier one still in analysis, by ticket.
    waiting: BTreeMap<u64, Analysed>,
    /// Ticket of the next frame the grouper takes.
    next: u64,
    /// Tickets issued in all, once the camera has closed.
    end: Option<u64>,
    /// The camera has ended and its last tracks are flushed.
    finished: bool,
    last_tick: Instant,
    /// The last frame grouped: its capture time, and when it was taken from
    /// the queue.
    last_frame: Option<(UtcMillis, Instant)>,
}

/// A frame after the gate and the engine, on its way to the grouper.
struct Analysed {
    captured_at: UtcMillis,
    /// When it was taken from the queue.
    taken: Instant,
    outcome: Outcome,
}

enum Outcome {
    /// Nothing moved: no plate was looked for.
    Skipped(Change),
    /// Analysed: the plates worth keeping.
    Plates(Frame, Change, Vec<PlateCandidate>),
    /// Recognition panicked on it: the frame is lost, its place is not.
    Failed,
}

impl Back {
    fn new(grouper: Grouper) -> Back {
        Back {
            grouper,
            waiting: BTreeMap::new(),
            next: 0,
            end: None,
            finished: false,
            last_tick: Instant::now(),
            last_frame: None,
        }
    }

    /// Takes frame `ticket`, and every frame after it that was waiting for
    /// it; returns the reads they complete (and, after the camera's last
    /// frame, its last reads).
    fn settle(&mut self, camera: &str, ticket: u64, analysed: Analysed) -> Vec<Read> {
        self.waiting.insert(ticket, analysed);
        let mut reads = Vec::new();
        while let Some(a) = self.waiting.remove(&self.next) {
            self.next += 1;
            self.last_frame = Some((a.captured_at, a.taken));
            let grouper = &mut self.grouper;
            // A bug grouping one frame costs that frame, not the camera.
            let grouped = catch_unwind(AssertUnwindSafe(|| match a.outcome {
                Outcome::Skipped(change) => {
                    grouper.scene(a.captured_at, change);
                    grouper.expire(a.captured_at)
                }
                Outcome::Plates(frame, change, plates) => {
                    grouper.scene(a.captured_at, change);
                    grouper.observe(&frame, &plates)
                }
                Outcome::Failed => Vec::new(),
            }));
            match grouped {
                Ok(done) => reads.extend(done),
                Err(_) => log::error!(
                    CAMERA_ID = camera;
                    "camera {camera}: grouping failed on a frame; frame skipped"
                ),
            }
        }
        reads.extend(self.finish_if_ended(camera));
        reads
    }

    /// The camera's queue has closed after `issued` frames.
    fn close(&mut self, camera: &str, issued: u64) -> Vec<Read> {
        self.end = Some(issued);
        self.finish_if_ended(camera)
    }

    /// Once the camera has closed and its last frame is grouped: ends every
    /// open pass.
    fn finish_if_ended(&mut self, camera: &str) -> Vec<Read> {
        if self.finished || self.end != Some(self.next) {
            return Vec::new();
        }
        self.finished = true;
        log::info!(CAMERA_ID = camera; "camera {camera}: recognition finished");
        self.grouper.flush()
    }

    /// With no frame coming and none in analysis (`issued` tickets all
    /// grouped), ends the passes that are over by the camera's clock, every
    /// [`IDLE_TICK`].
    fn tick(&mut self, issued: u64) -> Vec<Read> {
        if self.next != issued || self.last_tick.elapsed() < IDLE_TICK {
            return Vec::new();
        }
        self.last_tick = Instant::now();
        let now = camera_now(self.last_frame);
        self.grouper.expire(now)
    }
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

/// What a worker found at a camera.
enum Visit {
    /// It took a frame (analysed or dropped).
    Served,
    /// Nothing to take now; the camera goes on (or has frames in analysis).
    Idle,
    /// Another worker is taking a frame here: look again in a moment.
    Contended,
    /// The camera has ended and its last reads are out.
    Finished,
    /// The spool writer has stopped.
    WriterGone,
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
            let (mut served, mut open, mut contended) = (false, false, false);
            for k in 0..n {
                let i = (self.next + k) % n;
                match self.visit(&lanes[i]) {
                    Visit::Served => {
                        served = true;
                        open = true;
                        self.next = (i + 1) % n;
                        break;
                    }
                    Visit::Idle => open = true,
                    Visit::Contended => (open, contended) = (true, true),
                    Visit::Finished => {}
                    Visit::WriterGone => return,
                }
            }
            if !open {
                return; // every camera has ended
            }
            if !served {
                // A worker taking a frame holds its camera for well under a
                // millisecond, and rings no bell when it lets go.
                let wait = if contended { CONTENDED_WAIT } else { IDLE_TICK };
                self.doorbell.wait(rings, wait);
            }
        }
    }

    /// Takes the camera's next frame, if one waits, and carries it through
    /// the gate, the engine and the grouper.
    fn visit(&mut self, lane: &Lane) -> Visit {
        let mut front = match lane.front.try_lock() {
            Ok(front) => front,
            // Another worker is taking a frame here; it will be done in a
            // moment, and there may be other cameras to serve meanwhile.
            Err(TryLockError::WouldBlock) => return Visit::Contended,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        if front.closed {
            drop(front);
            return if lane.back().finished {
                Visit::Finished
            } else {
                Visit::Idle
            };
        }
        let mut frame = match lane.queue.pop(Duration::ZERO) {
            Pop::Frame(_) if self.drain_over() => {
                bump(&lane.stats.dropped);
                return Visit::Served;
            }
            Pop::Frame(frame) => frame,
            Pop::Closed => {
                front.closed = true;
                let issued = front.issued;
                drop(front);
                let mut back = lane.back();
                let reads = back.close(&lane.id, issued);
                return self.emit(&lane.id, &lane.stats, reads, Visit::Idle);
            }
            Pop::Timeout => {
                let issued = front.issued;
                drop(front);
                let mut back = lane.back();
                let reads = back.tick(issued);
                return self.emit(&lane.id, &lane.stats, reads, Visit::Idle);
            }
        };
        let ticket = front.issued;
        front.issued += 1;
        let (seq, captured_at, taken) = (frame.seq, frame.captured_at, Instant::now());
        // A bug the frame trips costs that frame, not the worker (and with
        // it every camera's recognition).
        let gated = catch_unwind(AssertUnwindSafe(|| {
            crate::imaging::redact(&mut frame, &lane.redact);
            if front.gate.region_misses(&frame) {
                log::warn!(
                    CAMERA_ID = lane.id.as_str();
                    "camera {}: its roi lies outside its {}×{} frames: no plate can be read (drawn for another resolution?)",
                    lane.id, frame.width, frame.height
                );
            }
            let worth = front.gate.worth_analysing(&frame);
            (worth, front.gate.change(), front.gate.moving_region())
        }));
        drop(front);
        let outcome = match gated {
            Ok((false, change, _)) => {
                bump(&lane.stats.skipped);
                Outcome::Skipped(change)
            }
            Ok((true, change, moving)) => {
                match catch_unwind(AssertUnwindSafe(|| self.analyse(lane, &frame, moving))) {
                    Ok(plates) => Outcome::Plates(frame, change, plates),
                    Err(_) => Outcome::Failed,
                }
            }
            Err(_) => Outcome::Failed,
        };
        if matches!(outcome, Outcome::Failed) {
            log::error!(
                CAMERA_ID = lane.id.as_str();
                "camera {}: recognition failed on frame {seq}; frame skipped",
                lane.id
            );
        }
        let analysed = Analysed {
            captured_at,
            taken,
            outcome,
        };
        // Emitted under the back lock, so reads leave in the order they were
        // made: a preview before the read that supersedes it.
        let mut back = lane.back();
        let reads = back.settle(&lane.id, ticket, analysed);
        self.emit(&lane.id, &lane.stats, reads, Visit::Served)
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

    /// The plates worth keeping in a frame the gate let through; `moving`:
    /// where it saw change.
    fn analyse(
        &mut self,
        lane: &Lane,
        frame: &Frame,
        moving: Option<[u32; 4]>,
    ) -> Vec<PlateCandidate> {
        // Plates worth finding are where something moved, or where an open
        // track last saw one: the engine may look there alone. (A frame
        // still in analysis on another worker may move a track after this
        // is read; a plate that moved lies inside the moving region anyway.)
        let region = moving
            .filter(|_| self.look_where_moving)
            .map(|moving| lane.back().grouper.open_boxes().fold(moving, union));
        let mut plates = match region {
            Some(region) => self.engine.recognise_in(frame, region),
            None => self.engine.recognise(frame),
        };
        plates.retain(|p| p.confidence >= self.min_confidence);
        lane.front().gate.keep(&mut plates);
        bump(&lane.stats.analysed);
        plates
    }

    /// Hands reads to the spool writer; `then`, or [`Visit::WriterGone`]
    /// if it is gone.
    fn emit(&self, camera: &str, stats: &CameraStats, reads: Vec<Read>, then: Visit) -> Visit {
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
                return Visit::WriterGone;
            }
        }
        then
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

    mod lanes {
        use std::time::{Duration, Instant};

        use super::super::{Analysed, Back, Outcome};
        use crate::capture::{Frame, UtcMillis};
        use crate::config::GroupConfig;
        use crate::group::Grouper;
        use crate::recognise::PlateCandidate;
        use crate::recognise::gate::Change;

        fn back() -> Back {
            let config = GroupConfig {
                end_after_ms: 500,
                max_pass_ms: 5000,
                min_frames: 2,
                preview_after_frames: 0,
                suppress_s: 60,
            };
            Back::new(Grouper::new("gw-1", "cam-1", config))
        }

        /// Frame `ticket` of a pass at 25 fps from t = 1000 ms, with the
        /// plate AB12CDE a little further right in each.
        fn plate(ticket: u64) -> Analysed {
            let t: UtcMillis = 1000 + 40 * ticket as i64;
            let frame = Frame {
                seq: ticket,
                captured_at: t,
                width: 320,
                height: 120,
                luma: vec![128; 320 * 120].into(),
                chroma: None,
            };
            let plate_box = [40 + 4 * ticket as u32, 50, 60, 14];
            let plate = PlateCandidate {
                text: "AB12CDE".into(),
                confidence: 0.9,
                char_confidence: vec![0.9; 7],
                char_at: Vec::new(),
                plate_box,
                corners: crate::recognise::box_corners(plate_box),
                format: None,
            };
            Analysed {
                captured_at: t,
                taken: Instant::now(),
                outcome: Outcome::Plates(frame, Change::Unknown, vec![plate]),
            }
        }

        #[test]
        fn frames_that_overtake_an_earlier_one_wait_for_it() {
            let mut back = back();
            assert!(back.settle("cam-1", 2, plate(2)).is_empty());
            assert!(back.settle("cam-1", 1, plate(1)).is_empty());
            assert_eq!(back.next, 0, "nothing is grouped before frame 0");
            assert_eq!(back.grouper.open_tracks(), 0);
            assert!(back.settle("cam-1", 0, plate(0)).is_empty());
            assert_eq!(back.next, 3, "frame 0 lets the two waiting for it through");
            assert!(back.waiting.is_empty());
            assert_eq!(back.grouper.open_tracks(), 1, "one pass, in order");
            for ticket in [4, 5, 3] {
                back.settle("cam-1", ticket, plate(ticket));
            }
            let reads = back.close("cam-1", 6);
            assert_eq!(reads.len(), 1, "one read for the pass");
            assert_eq!((reads[0].vrm.as_str(), reads[0].frames), ("AB12CDE", 6));
            assert!(back.finished);
        }

        #[test]
        fn a_camera_that_closes_with_a_frame_in_analysis_finishes_after_it() {
            let mut back = back();
            back.settle("cam-1", 0, plate(0));
            back.settle("cam-1", 1, plate(1));
            assert!(
                back.close("cam-1", 3).is_empty(),
                "frame 2 is still in analysis"
            );
            assert!(!back.finished);
            let reads = back.settle("cam-1", 2, plate(2));
            assert!(back.finished, "the camera's last frame ends it");
            assert_eq!(reads.len(), 1);
            assert_eq!(reads[0].frames, 3, "the last frame is in the read");
            assert!(
                back.settle("cam-1", 3, plate(3)).is_empty() && back.close("cam-1", 3).is_empty()
            );
        }

        #[test]
        fn a_frame_recognition_failed_on_keeps_its_place() {
            let mut back = back();
            back.settle("cam-1", 1, plate(1));
            let failed = Analysed {
                captured_at: 1000,
                taken: Instant::now(),
                outcome: Outcome::Failed,
            };
            back.settle("cam-1", 0, failed);
            assert_eq!((back.next, back.grouper.open_tracks()), (2, 1));
        }

        #[test]
        fn passes_end_by_the_clock_only_with_no_frame_in_analysis() {
            let mut back = back();
            let mut first = plate(0);
            // Taken two seconds ago: by the camera's clock the pass is over.
            first.taken = Instant::now() - Duration::from_secs(2);
            back.settle("cam-1", 0, first);
            back.last_tick = Instant::now() - Duration::from_secs(1);
            back.tick(2);
            assert_eq!(
                back.grouper.open_tracks(),
                1,
                "frame 1 may still extend the pass"
            );
            back.tick(1);
            assert_eq!(
                back.grouper.open_tracks(),
                0,
                "nothing in analysis: the pass is over"
            );
        }
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
