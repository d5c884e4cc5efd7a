//! Draining a backlog to a local mosquitto: anprd's forwarder (spool reads,
//! packet-id bookkeeping, a delete per PUBACK) against a raw rumqttc QoS 1
//! publish loop of the same payloads with the same in-flight window,
//! measured in the same run. Target: the forwarder at ≥ 80 % of raw.

#[path = "common.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anprd::config::MqttConfig;
use anprd::health::Stats;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const WINDOW: u16 = 32;

fn main() {
    if common::answered_test_listing() {
        return;
    }
    let n = if common::full_run() { 100_000 } else { 2_000 };
    let broker = support::Mosquitto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let payloads: Vec<Vec<u8>> = (0..n).map(|i| common::small_read(i).to_payload()).collect();
    println!(
        "draining {n} reads ({} bytes each) to a local mosquitto, in-flight window {WINDOW}",
        payloads[0].len()
    );
    let mut best_raw: f64 = 0.0;
    let mut best_ours: f64 = 0.0;
    for round in 0..2 {
        let raw = rt.block_on(raw_loop(broker.port(), &payloads, round));
        let ours = forwarder(&rt, broker.url(), n, round);
        println!(
            "round {round}: raw rumqttc {raw:>9.0} reads/s   anprd forwarder {ours:>9.0} reads/s"
        );
        best_raw = best_raw.max(raw);
        best_ours = best_ours.max(ours);
    }
    println!(
        "best: raw {best_raw:.0}/s, anprd {best_ours:.0}/s, ratio {:.0}% (target ≥ 80%)",
        best_ours / best_raw * 100.0
    );
}

/// Publishes every payload QoS 1 and waits for every PUBACK.
async fn raw_loop(port: u16, payloads: &[Vec<u8>], round: usize) -> f64 {
    let mut o = MqttOptions::new(format!("bench-raw-{round}"), "127.0.0.1", port);
    o.set_inflight(WINDOW)
        .set_max_packet_size(64 * 1024, 1 << 20)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(o, WINDOW as usize + 2);
    // Connect before the clock starts, as the forwarder's is excluded too.
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = el.poll().await.unwrap() {
            break;
        }
    }
    let payloads: Vec<Vec<u8>> = payloads.to_vec();
    let n = payloads.len();
    let t = Instant::now();
    let publisher = tokio::spawn(async move {
        for p in payloads {
            client
                .publish("anpr/bench-raw/cam/reads", QoS::AtLeastOnce, false, p)
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.unwrap() {
            acked += 1;
        }
    }
    let rate = common::per_s(n, t.elapsed());
    let _client = publisher.await.unwrap();
    rate
}

/// Fills a spool with `n` reads, then times anprd's forwarder draining it.
fn forwarder(rt: &tokio::runtime::Runtime, url: String, n: usize, round: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let spool = common::open_spool(dir.path());
    let reads: Vec<_> = (0..n).map(common::small_read).collect();
    for chunk in reads.chunks(256) {
        spool.append(chunk).unwrap();
    }
    let cfg = MqttConfig {
        url,
        allow_insecure: true,
        topic_prefix: "anpr".into(),
        ca_file: None,
        cert_file: None,
        key_file: None,
        max_inflight: WINDOW,
        keep_alive_s: 30,
        reconnect_max_s: 1,
    };
    let stats = Arc::new(Stats::new(["cam-00"]));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = rt.block_on(async {
        let task = tokio::spawn(anprd::forward::run(
            cfg,
            format!("gw-bench-{round}"),
            spool.clone(),
            Arc::new(tokio::sync::Notify::new()),
            stats.clone(),
            stop_rx,
        ));
        // The clock starts at the connection, like the raw loop's.
        while !stats.connected.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let t = Instant::now();
        while spool.stats().pending > 0 {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let elapsed = t.elapsed();
        stop_tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        elapsed
    });
    common::per_s(n, started)
}
