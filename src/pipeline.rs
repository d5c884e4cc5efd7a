//! Pipeline: wires the stages together and runs them until told to stop.
//!
//! ```text
//! capture thread ─FrameQueue─▶ recognise thread ─┐   (one pair per camera)
//! capture thread ─FrameQueue─▶ recognise thread ─┤
//!                                                ▼ sync_channel (bounded)
//!                                        spool writer thread ─Notify─▶ forwarder (tokio)
//! ```
//!
//! Shutdown runs front to back so nothing in flight is lost: capture stops
//! and closes its queue; recognition drains it and ends every open pass; the
//! spool writer stores the last reads and flushes; only then does the
//! forwarder stop, after a short wait for outstanding acknowledgements.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;

use crate::capture::{self, FrameQueue, Pop};
use crate::config::{CameraConfig, Config};
use crate::forward;
use crate::group::Grouper;
use crate::health::{CameraStats, Stats, bump};
use crate::recognise::Recogniser;
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
}

impl Pipeline {
    /// Opens the spool and starts capture, recognition and the spool writer.
    pub fn start(config: &Config, engines: &EngineFactory) -> anyhow::Result<Pipeline> {
        let spool = Spool::open(&config.spool)
            .with_context(|| format!("cannot open the spool at {}", config.spool.path.display()))?;
        let cameras: Vec<&CameraConfig> = config.enabled_cameras().collect();
        let stats = Arc::new(Stats::new(cameras.iter().map(|c| c.id.as_str())));
        let stored = Arc::new(tokio::sync::Notify::new());
        let stop_capture = Arc::new(AtomicBool::new(false));

        let (reads_tx, reads_rx) = sync_channel::<Read>(READ_CHANNEL);
        let writer = spool::spawn_writer(spool.clone(), reads_rx, stored.clone(), stats.clone())
            .context("cannot start the spool writer thread")?;

        let mut threads = Vec::new();
        for camera in cameras {
            let camera_stats = stats
                .camera(&camera.id)
                .expect("stats has every enabled camera");
            let queue = Arc::new(FrameQueue::new(camera.queue_frames));
            let engine = engines()
                .with_context(|| format!("camera {}: cannot load the recogniser", camera.id))?;
            let grouper = Grouper::new(&config.gateway.id, &camera.id, config.group.clone());
            let worker = RecogniseWorker {
                camera_id: camera.id.clone(),
                queue: queue.clone(),
                engine,
                grouper,
                min_confidence: config.recognise.min_confidence,
                stats: camera_stats.clone(),
                reads: reads_tx.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("recognise-{}", camera.id))
                    .spawn(move || worker.run())
                    .with_context(|| {
                        format!("camera {}: cannot start its recognition thread", camera.id)
                    })?,
            );
            threads.push(
                capture::spawn(camera, queue, camera_stats, stop_capture.clone()).with_context(
                    || format!("camera {}: cannot start its capture thread", camera.id),
                )?,
            );
        }
        // The workers hold the only senders now: the writer ends when they do.
        drop(reads_tx);
        Ok(Pipeline {
            stats,
            spool,
            stored,
            stop_capture,
            cameras: threads,
            writer,
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

/// Recognition and grouping for one camera, on its own thread.
struct RecogniseWorker {
    camera_id: String,
    queue: Arc<FrameQueue>,
    engine: Box<dyn Recogniser>,
    grouper: Grouper,
    min_confidence: f32,
    stats: Arc<CameraStats>,
    reads: SyncSender<Read>,
}

impl RecogniseWorker {
    fn run(mut self) {
        loop {
            let ended = match self.queue.pop(IDLE_TICK) {
                Pop::Frame(frame) => {
                    let frame = Arc::new(frame);
                    let mut plates = self.engine.recognise(&frame);
                    plates.retain(|p| p.confidence >= self.min_confidence);
                    bump(&self.stats.analysed);
                    self.grouper.observe(&frame, &plates)
                }
                Pop::Timeout => self.grouper.expire(now_millis()),
                Pop::Closed => break,
            };
            if !self.emit(ended) {
                return;
            }
        }
        let last = self.grouper.flush();
        self.emit(last);
        log::info!("camera {}: recognition finished", self.camera_id);
    }

    /// Hands reads to the spool writer; false if it is gone.
    fn emit(&self, reads: Vec<Read>) -> bool {
        for read in reads {
            bump(&self.stats.reads);
            log::info!(
                CAMERA_ID = self.camera_id.as_str(), READ_ID:% = read.read_id;
                "camera {}: read {} ({:.2})",
                self.camera_id,
                read.read_id,
                read.confidence
            );
            if self.reads.send(read).is_err() {
                log::error!(
                    "camera {}: the spool writer has stopped; reads cannot be stored",
                    self.camera_id
                );
                return false;
            }
        }
        true
    }
}
