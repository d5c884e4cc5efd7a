//! The spool and the forwarder against a real Mosquitto and a real sled.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anprd::config::{MqttConfig, SpoolConfig};
use anprd::health::Stats;
use anprd::record::Read;
use anprd::spool::{Spool, spawn_writer};
use support::{Message, Mosquitto, Subscriber, wait_for};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

const GATEWAY: &str = "gw-test";
const LONG: Duration = Duration::from_secs(30);

fn read(camera_id: &str, n: i64, image_bytes: usize) -> Read {
    Read {
        read_id: Uuid::now_v7(),
        gateway_id: GATEWAY.into(),
        camera_id: camera_id.into(),
        captured_at: support::recent_base() + n,
        vrm: format!("AB{:02}CDE", n % 100),
        confidence: 0.9,
        char_confidence: vec![0.9; 7],
        plate_box: [10, 20, 120, 30],
        plate_jpeg: vec![0xff, 0xd8, (n % 251) as u8],
        overview_jpeg: (0..image_bytes).map(|i| (i as i64 + n) as u8).collect(),
        frames: 1,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

fn reads(cameras: &[&str], count: usize, image_bytes: usize) -> Vec<Read> {
    (0..count)
        .map(|i| read(cameras[i % cameras.len()], i as i64, image_bytes))
        .collect()
}

fn open_spool(dir: &tempfile::TempDir) -> Spool {
    Spool::open(&SpoolConfig {
        path: dir.path().join("spool"),
        max_bytes: 1 << 30,
        ..Default::default()
    })
    .expect("open spool")
}

fn mqtt(url: String, max_inflight: u16) -> MqttConfig {
    MqttConfig {
        url,
        allow_insecure: true,
        topic_prefix: "anpr".into(),
        ca_file: None,
        cert_file: None,
        key_file: None,
        max_inflight,
        keep_alive_s: 5,
        reconnect_max_s: 1,
    }
}

/// A forwarder on its own thread and runtime, as the daemon runs it.
struct Forwarder {
    shutdown: watch::Sender<bool>,
    thread: JoinHandle<anyhow::Result<()>>,
    stored: Arc<Notify>,
    stats: Arc<Stats>,
}

impl Forwarder {
    fn start(cfg: MqttConfig, spool: &Spool) -> Forwarder {
        support::init_logging();
        let (shutdown, rx) = watch::channel(false);
        let stored = Arc::new(Notify::new());
        let stats = Arc::new(Stats::new(["cam-a", "cam-b", "cam-c"]));
        let thread = {
            let (spool, stored, stats) = (spool.clone(), stored.clone(), stats.clone());
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime")
                    .block_on(anprd::forward::run(
                        cfg,
                        GATEWAY.into(),
                        spool,
                        stored,
                        stats,
                        rx,
                    ))
            })
        };
        Forwarder {
            shutdown,
            thread,
            stored,
            stats,
        }
    }

    fn forwarded(&self) -> u64 {
        self.stats.forwarded.load(Ordering::Relaxed)
    }

    fn connected(&self) -> bool {
        self.stats.connected.load(Ordering::Relaxed)
    }

    /// Asks it to stop; returns how long it took.
    fn stop(self) -> Duration {
        let t = Instant::now();
        self.shutdown.send(true).expect("forwarder still running");
        self.thread
            .join()
            .expect("forwarder thread panicked")
            .expect("forwarder failed");
        t.elapsed()
    }
}

fn topic(camera_id: &str) -> String {
    format!("anpr/{GATEWAY}/{camera_id}/reads")
}

fn read_id(m: &Message) -> Uuid {
    Read::from_payload(&m.payload)
        .expect("published payload parses as a read")
        .read_id
}

/// Every arrival is one of the sent reads, on its camera's topic, byte for
/// byte; returns (distinct reads that arrived, duplicate arrivals).
fn check_arrivals(sent: &[Read], got: &[Message]) -> (usize, usize) {
    let want: HashMap<Uuid, &Read> = sent.iter().map(|r| (r.read_id, r)).collect();
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for m in got {
        let id = read_id(m);
        let r = want
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected read {id}"));
        assert_eq!(m.topic, topic(&r.camera_id), "topic of read {id}");
        assert_eq!(m.payload, r.to_payload(), "payload of read {id}");
        if !seen.insert(id) {
            duplicates += 1;
        }
    }
    (seen.len(), duplicates)
}

/// [`check_arrivals`], and every sent read arrived; returns the duplicates.
fn check_all_arrived(sent: &[Read], got: &[Message]) -> usize {
    let (distinct, duplicates) = check_arrivals(sent, got);
    assert_eq!(distinct, sent.len(), "distinct reads that arrived");
    duplicates
}

fn all_arrived(sent: &[Read]) -> impl Fn(&[Message]) -> bool + '_ {
    move |got: &[Message]| {
        let ids: HashSet<Uuid> = got.iter().map(read_id).collect();
        sent.iter().all(|r| ids.contains(&r.read_id))
    }
}

/// Per camera, the order in which reads first arrived is the order sent.
fn check_fifo_per_camera(sent: &[Read], got: &[Message]) {
    let mut first_seen = HashSet::new();
    let mut arrived: HashMap<String, Vec<Uuid>> = HashMap::new();
    for m in got {
        let r = Read::from_payload(&m.payload).unwrap();
        if first_seen.insert(r.read_id) {
            arrived.entry(r.camera_id).or_default().push(r.read_id);
        }
    }
    let mut expected: HashMap<String, Vec<Uuid>> = HashMap::new();
    for r in sent {
        expected
            .entry(r.camera_id.clone())
            .or_default()
            .push(r.read_id);
    }
    assert_eq!(arrived, expected, "per-camera arrival order");
}

/// Persistent broker whose saved state holds only a persistent subscriber's
/// session, so that subscriber misses nothing across later broker restarts.
fn broker_with_saved_subscriber(sub_id: &str) -> (Mosquitto, Subscriber) {
    let mut broker = Mosquitto::start_persistent();
    drop(Subscriber::persistent(broker.port(), "anpr/#", sub_id));
    broker.stop();
    broker.start_again();
    let sub = Subscriber::persistent(broker.port(), "anpr/#", sub_id);
    (broker, sub)
}

#[test]
fn stored_reads_reach_the_broker_on_their_topics_and_leave_the_spool() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port(), "#");
    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(&dir);
    // No keep-alive pings: nothing but the writer's notification can wake
    // the connected, idle forwarder to send what was stored.
    let cfg = MqttConfig {
        keep_alive_s: 0,
        ..mqtt(broker.url(), 8)
    };
    let fwd = Forwarder::start(cfg, &spool);
    wait_for("broker connection", LONG, || fwd.connected());
    std::thread::sleep(Duration::from_millis(200));

    // Through the writer, as the pipeline does: its notify wakes the forwarder.
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    let writer = spawn_writer(spool.clone(), rx, fwd.stored.clone(), fwd.stats.clone()).unwrap();
    let sent = reads(&["cam-a", "cam-b"], 40, 2_000);
    for r in &sent {
        tx.send(r.clone()).unwrap();
    }
    drop(tx);
    writer.join().unwrap();
    assert_eq!(fwd.stats.stored.load(Ordering::Relaxed), 40);

    let got = sub.wait_until(LONG, all_arrived(&sent));
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);
    assert_eq!(spool.stats().bytes, 0);
    assert_eq!(
        check_all_arrived(&sent, &got),
        0,
        "no duplicates without faults"
    );
    check_fifo_per_camera(&sent, &got);
    assert_eq!(fwd.forwarded(), 40);
    fwd.stop();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sub.count(), 40, "nothing more arrives later");
}

#[test]
fn reads_wait_in_the_spool_while_the_broker_is_away_then_all_arrive_in_order() {
    let (mut broker, sub) = broker_with_saved_subscriber("sub-outage");
    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(&dir);
    let fwd = Forwarder::start(mqtt(broker.url(), 8), &spool);

    let before = reads(&["cam-a", "cam-b", "cam-c"], 12, 1_000);
    spool.append(&before).unwrap();
    fwd.stored.notify_one();
    sub.wait_until(LONG, all_arrived(&before));
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);

    broker.stop();
    wait_for("forwarder to notice the outage", LONG, || !fwd.connected());
    let during = reads(&["cam-a", "cam-b", "cam-c"], 60, 1_000);
    for chunk in during.chunks(7) {
        spool.append(chunk).unwrap();
        fwd.stored.notify_one();
    }
    std::thread::sleep(Duration::from_millis(1_500));
    let s = spool.stats();
    assert_eq!(s.pending, 60, "reads wait while the broker is away");
    assert_eq!(s.oldest_captured_at, Some(during[0].captured_at));

    broker.start_again();
    let got = sub.wait_until(LONG, all_arrived(&during));
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);
    assert!(fwd.connected());
    let all: Vec<Read> = before.iter().chain(&during).cloned().collect();
    let duplicates = check_all_arrived(&all, &got);
    check_fifo_per_camera(&all, &got);
    eprintln!("outage: {} reads, {duplicates} duplicates", all.len());
    fwd.stop();
}

#[test]
fn a_broker_restarted_mid_stream_resumes_the_session_and_loses_nothing() {
    let (mut broker, sub) = broker_with_saved_subscriber("sub-restart");
    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(&dir);
    let sent = reads(&["cam-a", "cam-b", "cam-c"], 600, 20_000);
    spool.append(&sent).unwrap();
    let fwd = Forwarder::start(mqtt(broker.url(), 16), &spool);

    // Graceful stops while publishes are in flight: the broker keeps the
    // forwarder's session, so rumqttc resends what it holds under the same
    // packet ids and the bookkeeping must follow.
    for round in 1..=3u64 {
        let deadline = Instant::now() + LONG;
        while fwd.forwarded() < round * 100 {
            assert!(
                Instant::now() < deadline,
                "forwarding stalled in round {round}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        broker.stop();
        wait_for("forwarder to notice", LONG, || !fwd.connected());
        assert!(spool.stats().pending > 0, "stopped mid-stream");
        broker.start_again();
    }
    let got = sub.wait_until(LONG, all_arrived(&sent));
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);
    let duplicates = check_all_arrived(&sent, &got);
    check_fifo_per_camera(&sent, &got);
    eprintln!("restarts: {} reads, {duplicates} duplicates", sent.len());
    fwd.stop();
}

#[test]
fn a_broker_killed_with_reads_in_flight_loses_none_of_them() {
    let (mut broker, sub) = broker_with_saved_subscriber("sub-kill");
    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(&dir);
    let sent = reads(&["cam-a", "cam-b"], 600, 40_000);
    spool.append(&sent).unwrap();
    let fwd = Forwarder::start(mqtt(broker.url(), 32), &spool);

    // Kill it as soon as reads are flowing, with the window full.
    let deadline = Instant::now() + LONG;
    while fwd.forwarded() < 10 {
        assert!(Instant::now() < deadline, "forwarding never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    broker.kill();
    wait_for("forwarder to notice", LONG, || !fwd.connected());
    // What the broker never acknowledged is still spooled; the broker owns
    // the rest (and, not persisting, may lose some of it as it dies: its loss,
    // not ours). Everything unacknowledged must arrive.
    let unacked = spooled_ids(&spool);
    assert!(
        !unacked.is_empty(),
        "the broker must die mid-stream for this test to mean anything"
    );

    // Restarted from the state saved before the forwarder ever connected:
    // the subscriber's session is back, the forwarder's is gone.
    broker.start_again();
    let got = sub.wait_until(LONG, |got| {
        let ids: HashSet<Uuid> = got.iter().map(read_id).collect();
        unacked.iter().all(|id| ids.contains(id))
    });
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);
    let (distinct, duplicates) = check_arrivals(&sent, &got);
    eprintln!(
        "kill: {} reads, {} unacknowledged at the kill, {} lost by the dying broker, \
         {duplicates} duplicates, {} acks",
        sent.len(),
        unacked.len(),
        sent.len() - distinct,
        fwd.forwarded()
    );
    assert!(fwd.forwarded() >= unacked.len() as u64);
    fwd.stop();
}

fn spooled_ids(spool: &Spool) -> HashSet<Uuid> {
    let mut ids = HashSet::new();
    let mut cursor = None;
    while let Some((key, entry)) = spool.next_after(cursor).unwrap() {
        ids.insert(entry.read_id);
        cursor = Some(key);
    }
    ids
}

#[test]
fn pending_reads_are_sent_after_a_restart() {
    let mut broker = Mosquitto::start();
    broker.stop();
    let dir = tempfile::tempdir().unwrap();
    let sent = reads(&["cam-a", "cam-c"], 50, 500);
    {
        // First run: the broker is away; the reads stay put.
        let spool = open_spool(&dir);
        spool.append(&sent).unwrap();
        let fwd = Forwarder::start(mqtt(broker.url(), 8), &spool);
        fwd.stored.notify_one();
        std::thread::sleep(Duration::from_millis(700));
        assert!(!fwd.connected());
        let took = fwd.stop();
        assert!(took < Duration::from_secs(3), "stopping took {took:?}");
        assert_eq!(spool.stats().pending, 50);
    }

    broker.start_again();
    let sub = Subscriber::connect(broker.port(), "#");
    let spool = open_spool(&dir);
    assert_eq!(
        spool.stats().pending,
        50,
        "pending reads survive the restart"
    );
    let fwd = Forwarder::start(mqtt(broker.url(), 8), &spool);
    let got = sub.wait_until(LONG, all_arrived(&sent));
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);
    assert_eq!(check_all_arrived(&sent, &got), 0);
    check_fifo_per_camera(&sent, &got);

    let took = fwd.stop();
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
    wait_for("the broker to log a clean disconnect", LONG, || {
        broker
            .log()
            .contains(&format!("Client {GATEWAY} disconnected"))
    });
}

#[test]
fn reads_go_over_mutual_tls_trusting_only_the_configured_ca() {
    let pki = support::Pki::generate();
    let broker = Mosquitto::start_tls(&pki);
    let sub = Subscriber::connect(broker.port(), "#");
    let tls_cfg = |ca: &std::path::Path| MqttConfig {
        allow_insecure: false,
        ca_file: Some(ca.to_path_buf()),
        cert_file: Some(pki.client_cert.clone()),
        key_file: Some(pki.client_key.clone()),
        ..mqtt(broker.tls_url(), 8)
    };
    let sent = reads(&["cam-b"], 5, 1_000);

    // A CA that did not sign the broker's certificate: nothing is sent.
    let stranger = support::Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(&dir);
    spool.append(&sent).unwrap();
    let fwd = Forwarder::start(tls_cfg(&stranger.ca), &spool);
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(!fwd.connected(), "connected to a broker it must not trust");
    fwd.stop();
    assert_eq!(spool.stats().pending, 5);
    assert_eq!(sub.count(), 0);

    let fwd = Forwarder::start(tls_cfg(&pki.ca), &spool);
    let got = sub.wait_until(LONG, all_arrived(&sent));
    wait_for("spool to empty", LONG, || spool.stats().pending == 0);
    assert_eq!(check_all_arrived(&sent, &got), 0);
    fwd.stop();
}
