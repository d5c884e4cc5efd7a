//! Health over MQTT: `<prefix>/<gateway id>/status` says "online" (retained,
//! on every connect) or "offline" (retained: the Last Will when anprd dies,
//! or published on a clean stop), and `<prefix>/<gateway id>/health` carries
//! a heartbeat every `health.heartbeat_s`.
//!
//! Both go out at QoS 0, so they never take a packet id from the reads'
//! window (the forwarder's bookkeeping ignores packet id 0); the status is
//! retained, so a receiver still learns it on subscribing. The Last Will is
//! QoS 1: the broker sends it, and it is the one message that cannot be
//! sent again.

use std::time::Duration;

use rumqttc::{AsyncClient, LastWill, QoS};

use crate::config::HealthConfig;
use crate::health::Stats;
use crate::spool::Spool;
use crate::status::{HEALTH_SCHEMA, Health, Sampler};

pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// Publishes the gateway's status and heartbeats.
pub struct Announcer {
    gateway_id: String,
    status_topic: String,
    health_topic: String,
    every: Duration,
    sampler: Sampler,
}

impl Announcer {
    /// `topic_base` is `<prefix>/<gateway id>`, already checked.
    pub fn new(cfg: &HealthConfig, topic_base: &str, gateway_id: &str) -> Announcer {
        Announcer {
            gateway_id: gateway_id.to_string(),
            status_topic: format!("{topic_base}/status"),
            health_topic: format!("{topic_base}/health"),
            every: Duration::from_secs(cfg.heartbeat_s.max(1)),
            sampler: Sampler::new(),
        }
    }

    /// The broker publishes this if anprd vanishes without a DISCONNECT.
    pub fn last_will(&self) -> LastWill {
        LastWill::new(&self.status_topic, OFFLINE, QoS::AtLeastOnce, true)
    }

    /// Ticks once per heartbeat; the first tick comes one interval from now
    /// (the connect itself sends one).
    pub fn interval(&self) -> tokio::time::Interval {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    }

    /// On every ConnAck: "online", then a heartbeat straight away.
    pub fn on_connected(&mut self, client: &AsyncClient, stats: &Stats, spool: &Spool) {
        self.publish(
            client,
            &self.status_topic.clone(),
            true,
            ONLINE.as_bytes().to_vec(),
        );
        self.heartbeat(client, stats, spool);
    }

    /// Before a clean DISCONNECT (which suppresses the Last Will).
    pub fn on_stopping(&self, client: &AsyncClient) {
        self.publish(
            client,
            &self.status_topic,
            true,
            OFFLINE.as_bytes().to_vec(),
        );
    }

    pub fn heartbeat(&mut self, client: &AsyncClient, stats: &Stats, spool: &Spool) {
        let health = Health {
            schema: HEALTH_SCHEMA.to_string(),
            gateway_id: self.gateway_id.clone(),
            snapshot: self
                .sampler
                .sample(stats, spool, crate::clock::query().ok()),
        };
        let payload = serde_json::to_vec(&health).expect("health always serialises");
        self.publish(client, &self.health_topic.clone(), false, payload);
    }

    fn publish(&self, client: &AsyncClient, topic: &str, retain: bool, payload: Vec<u8>) {
        if let Err(e) = client.try_publish(topic, QoS::AtMostOnce, retain, payload) {
            // Only when the request channel is full; the next one will do.
            log::debug!("health message to {topic} not accepted: {e}");
        }
    }
}

/// Waits for the next heartbeat, or forever when there is no announcer.
pub async fn next_beat(beat: &mut Option<tokio::time::Interval>) {
    match beat {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
