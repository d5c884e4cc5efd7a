//! Forward: publishes spooled reads to the broker, QoS 1, and deletes each
//! from the spool only when the broker has acknowledged it.
//!
//! One tokio task owns both the rumqttc client and its event loop. Publishes
//! are handed over with `try_publish` only while connected, never more than
//! the in-flight window, so the request channel can never be full and the
//! task never waits on itself. Which PUBACK confirms which spool key is worked
//! out by [`inflight::Inflight`] from rumqttc's events.
//!
//! Duplicates are acceptable (receivers dedupe on `read_id`); loss is not.
//! Hence: after a lost session everything unacknowledged is sent again from
//! the spool, and whenever the bookkeeping cannot be trusted the connection is
//! dropped and the spool resent rather than guessed at.

pub mod health;
pub mod inflight;
mod tls;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, MqttState, Outgoing, Packet, QoS,
    Request, TlsConfiguration, Transport,
};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::{BrokerUrl, MqttConfig};
use crate::health::Stats;
use crate::logging::message_id;
use crate::spool::Spool;
use inflight::{Inflight, Published};

/// First wait before reconnecting; doubles per failed attempt up to
/// `reconnect_max`.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// A connection that lasted this long was a working one: the wait after it
/// drops starts over from [`BACKOFF_START`].
const BACKOFF_STABLE: Duration = Duration::from_secs(30);
/// Floor for `reconnect_max`, so a zero in the config cannot make a busy loop.
const BACKOFF_FLOOR: Duration = Duration::from_millis(100);
/// How long shutdown waits for outstanding acknowledgements.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for the DISCONNECT to go out.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest packet MQTT allows; the payload carries images.
const MAX_OUTGOING_PACKET: usize = 268_435_455;
/// The broker only sends us acks and pings.
const MAX_INCOMING_PACKET: usize = 64 * 1024;

/// Runs until `shutdown` becomes true, then stops submitting, waits briefly
/// (≤ 2 s) for outstanding acks, disconnects cleanly and returns. Reconnects
/// forever with capped exponential backoff while the broker is away.
///
/// Fails at once on configuration it cannot use (URL, TLS files, ids).
pub async fn run(
    cfg: MqttConfig,
    gateway_id: String,
    spool: Spool,
    stored: Arc<Notify>,
    stats: Arc<Stats>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_with_health(cfg, None, gateway_id, spool, stored, stats, shutdown).await
}

/// [`run`], plus status (birth, Last Will) and heartbeats when `health` is set.
pub async fn run_with_health(
    cfg: MqttConfig,
    health: Option<crate::config::HealthConfig>,
    gateway_id: String,
    spool: Spool,
    stored: Arc<Notify>,
    stats: Arc<Stats>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut options = mqtt_options(&cfg, &gateway_id)?;
    let topic_base = topic_base(&cfg.topic_prefix, &gateway_id)?;
    let health = health.map(|h| health::Announcer::new(&h, &topic_base, &gateway_id));
    if let Some(h) = &health {
        options.set_last_will(h.last_will());
    }
    let window = cfg.max_inflight.max(1);
    // Room for a full window plus the final DISCONNECT, and two health messages.
    let (client, mut eventloop) = AsyncClient::new(options, window as usize + 4);
    Forwarder {
        client,
        inflight: Inflight::new(window),
        window,
        spool,
        stats,
        topic_base,
        connected: false,
        outage_logged: false,
        backoff: Backoff::new(cfg.reconnect_max().max(BACKOFF_FLOOR)),
        retry_at: None,
        health,
    }
    .run(&mut eventloop, stored, shutdown)
    .await;
    Ok(())
}

/// Waits between connection attempts: doubling from [`BACKOFF_START`] up to
/// the configured cap, and back to the start only after a connection that
/// lasted [`BACKOFF_STABLE`]. A broker that accepts us and drops us at once
/// (a second box with the same gateway id, an ACL refusing our publishes) is
/// retried ever more slowly, not twice a second for ever.
struct Backoff {
    next: Duration,
    max: Duration,
    connected_at: Option<Instant>,
}

impl Backoff {
    fn new(max: Duration) -> Backoff {
        Backoff {
            next: BACKOFF_START.min(max),
            max,
            connected_at: None,
        }
    }

    fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// How long to wait after a connection (attempt) failed at `now`.
    fn failed(&mut self, now: Instant) -> Duration {
        if let Some(since) = self.connected_at.take()
            && now.duration_since(since) >= BACKOFF_STABLE
        {
            self.next = BACKOFF_START.min(self.max);
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Everything but the event loop, which is borrowed apart so reads can be
/// handed to the client while a poll is in progress.
struct Forwarder {
    client: AsyncClient,
    inflight: Inflight,
    window: u16,
    spool: Spool,
    stats: Arc<Stats>,
    /// `<topic_prefix>/<gateway_id>`.
    topic_base: String,
    /// Between a ConnAck and the next connection error.
    connected: bool,
    /// The current outage has been logged (once per outage, not per retry).
    outage_logged: bool,
    backoff: Backoff,
    /// When to try connecting again; `None` while not backing off.
    retry_at: Option<Instant>,
    health: Option<health::Announcer>,
}

impl Forwarder {
    async fn run(
        &mut self,
        el: &mut EventLoop,
        stored: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // A dropped sender can never say "stop" later: treat it as stop.
        let stopping = |changed: Result<(), watch::error::RecvError>,
                        shutdown: &watch::Receiver<bool>| {
            changed.is_err() || *shutdown.borrow()
        };
        let mut beat = self.health.as_ref().map(|h| h.interval());
        'running: loop {
            if *shutdown.borrow() {
                break;
            }
            if let Some(at) = self.retry_at {
                tokio::select! {
                    biased;
                    changed = shutdown.changed() => {
                        if stopping(changed, &shutdown) {
                            break 'running;
                        }
                        continue 'running;
                    }
                    _ = tokio::time::sleep_until(at) => self.retry_at = None,
                }
            }
            // One poll is kept alive while new reads are handed over: a poll
            // dropped halfway through writing a publish would lose the packet
            // while rumqttc counts it as sent.
            let ev = {
                let mut poll = std::pin::pin!(el.poll());
                loop {
                    if self.connected {
                        self.fill();
                    }
                    tokio::select! {
                        biased;
                        changed = shutdown.changed() => {
                            if stopping(changed, &shutdown) {
                                break 'running;
                            }
                        }
                        ev = &mut poll => break ev,
                        _ = stored.notified() => {}
                        _ = health::next_beat(&mut beat) => if let (true, Some(h)) = (self.connected, &mut self.health) {
                            h.heartbeat(&self.client, &self.stats, &self.spool);
                        },
                    }
                }
            };
            self.on_poll(el, ev);
        }
        self.finish(el).await;
    }

    /// Hands reads to rumqttc until the window is full or the spool has no more.
    fn fill(&mut self) {
        while self.connected && self.inflight.has_room() {
            let next = match self.inflight.next_resend() {
                Some(key) => self.spool.get(key).map(|e| e.map(|e| (key, e))),
                None => self.spool.next_after(self.inflight.cursor()),
            };
            let (key, entry) = match next {
                Ok(Some(found)) => found,
                Ok(None) => match self.inflight.next_resend() {
                    // A resend gone from the spool (dropped by the cap): move on.
                    Some(key) => {
                        self.inflight.skip(key);
                        continue;
                    }
                    None => return,
                },
                Err(e) => {
                    // Tried again on the next event.
                    log::error!("cannot read the spool: {e}");
                    return;
                }
            };
            if let Err(why) = check_level("camera id", &entry.camera_id) {
                log::error!(
                    "read {} (spool record {key}) cannot be published: {why}; set aside",
                    entry.read_id
                );
                if let Err(e) = self.spool.set_aside(key) {
                    log::error!("cannot set spool record {key} aside: {e}");
                }
                self.inflight.skip(key);
                continue;
            }
            let topic = format!("{}/{}/reads", self.topic_base, entry.camera_id);
            match self
                .client
                .try_publish(topic, QoS::AtLeastOnce, false, entry.payload)
            {
                Ok(()) => self.inflight.submitted(key),
                Err(e) => {
                    // Cannot happen while the window fits the channel; leave
                    // the read where it is and try again on the next event.
                    log::warn!("publish of read {} not accepted: {e}", entry.read_id);
                    return;
                }
            }
        }
    }

    fn on_poll(&mut self, el: &mut EventLoop, ev: Result<Event, ConnectionError>) {
        match ev {
            Ok(ev) => self.on_event(el, ev),
            Err(e) => self.on_error(el, e),
        }
    }

    fn on_event(&mut self, el: &mut EventLoop, ev: Event) {
        match ev {
            Event::Incoming(Packet::ConnAck(ack)) => self.on_connack(el, ack.session_present),
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(key) = self.inflight.on_puback(ack.pkid) {
                    match self.spool.remove(key) {
                        // Counted once it has left the spool: one not removed
                        // is sent, and acknowledged, again.
                        Ok(true) => {
                            self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                        // Dropped or expired meanwhile, and counted there.
                        Ok(false) => {}
                        // It stays, so it is sent again later: a duplicate, not a loss.
                        Err(e) => {
                            log::error!("acknowledged read (spool record {key}) not removed: {e}")
                        }
                    }
                } else {
                    log::debug!("PUBACK {} matches no read", ack.pkid);
                }
            }
            // QoS 0 (health messages): no packet id, nothing to track.
            Event::Outgoing(Outgoing::Publish(0)) => {}
            Event::Outgoing(Outgoing::Publish(pkid)) => match self.inflight.on_publish(pkid) {
                Published::New(key) => log::trace!("spool record {key} published as {pkid}"),
                Published::Retransmission(key) => {
                    log::debug!("spool record {key} published again as {pkid}")
                }
                Published::Unexpected => self.resync(el, "publish event with no publish waiting"),
            },
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                let was_waiting = self.inflight.on_await_ack(pkid);
                if !was_waiting {
                    self.resync(el, "collision event with no publish waiting");
                }
            }
            _ => {}
        }
    }

    fn on_connack(&mut self, el: &mut EventLoop, session_present: bool) {
        self.connected = true;
        self.stats.connected.store(true, Ordering::Relaxed);
        self.backoff.connected(Instant::now());
        if std::mem::take(&mut self.outage_logged) {
            log::info!(MESSAGE_ID = message_id::BROKER_RECOVERED; "broker connected again");
        } else {
            log::info!("broker connected");
        }
        if let Some(h) = &mut self.health {
            h.on_connected(&self.client, &self.stats, &self.spool);
        }
        if session_present {
            self.inflight.session_kept();
        } else {
            // rumqttc has just dropped its unacknowledged publishes; start
            // over from the spool. Fresh protocol state too: a held
            // collision would otherwise block new publishes for good.
            let lost = self.inflight.outstanding();
            if lost > 0 {
                log::info!("broker session was lost: sending {lost} unacknowledged reads again");
            }
            self.inflight.session_lost();
            el.pending.clear();
            el.state = MqttState::new(self.window, false);
        }
    }

    fn on_error(&mut self, el: &mut EventLoop, e: ConnectionError) {
        let was_connected = self.connected;
        self.connected = false;
        // Events rumqttc queued before the failure still happened (acks
        // received, packet ids given): account for them before anything else.
        while let Some(ev) = el.state.events.pop_front() {
            self.on_event(el, ev);
        }
        // Only now, so whoever sees "disconnected" also sees those acks applied.
        self.stats.connected.store(false, Ordering::Relaxed);
        // After repeated failures rumqttc may hold new publishes ahead of
        // resends; resends must go first or a new publish could take a packet
        // id whose resend is still waiting.
        let (resends, fresh): (Vec<Request>, Vec<Request>) = el
            .pending
            .drain(..)
            .partition(|r| !matches!(r, Request::Publish(p) if p.pkid == 0));
        el.pending.extend(resends);
        el.pending.extend(fresh);

        if !self.outage_logged {
            self.outage_logged = true;
            // A TLS failure is told in our own words only: rustls's message
            // quotes host names and the names on the broker's certificate.
            let why = tls::explain(&e).map_or_else(|| e.to_string(), str::to_string);
            if was_connected {
                log::warn!(MESSAGE_ID = message_id::BROKER_LOST; "broker connection lost: {why}");
            } else {
                log::warn!(MESSAGE_ID = message_id::BROKER_LOST; "broker connection failed: {why}");
            }
        } else {
            log::debug!(
                "broker still unreachable: {}",
                tls::explain(&e).map_or_else(|| e.to_string(), str::to_string)
            );
        }
        let now = Instant::now();
        self.retry_at = Some(now + self.backoff.failed(now));
    }

    /// The bookkeeping no longer matches rumqttc: drop the connection and
    /// all protocol state, and resend everything unacknowledged.
    fn resync(&mut self, el: &mut EventLoop, why: &str) {
        log::error!("forwarder lost track of its publishes ({why}); reconnecting to resend");
        el.clean();
        el.pending.clear();
        el.state = MqttState::new(self.window, false);
        self.inflight.session_lost();
        self.connected = false;
        self.stats.connected.store(false, Ordering::Relaxed);
    }

    /// Waits briefly for outstanding acks, then disconnects cleanly.
    async fn finish(&mut self, el: &mut EventLoop) {
        let drain_until = Instant::now() + DRAIN_TIMEOUT;
        while self.connected && self.inflight.outstanding() > 0 {
            match tokio::time::timeout_at(drain_until, el.poll()).await {
                Ok(ev) => self.on_poll(el, ev),
                Err(_) => break,
            }
        }
        if let (true, Some(h)) = (self.connected, &self.health) {
            h.on_stopping(&self.client);
        }
        if self.connected && self.client.try_disconnect().is_ok() {
            let until = Instant::now() + DISCONNECT_TIMEOUT;
            loop {
                match tokio::time::timeout_at(until, el.poll()).await {
                    Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => break,
                    Ok(Ok(ev)) => self.on_event(el, ev),
                    Ok(Err(_)) | Err(_) => break,
                }
            }
        }
        self.connected = false;
        self.stats.connected.store(false, Ordering::Relaxed);
        log::info!(
            "forwarder stopped; {} reads wait in the spool",
            self.spool.stats().pending
        );
    }
}

/// Checks that the broker options can be built (URL, ids, the TLS files
/// parse and fit), before anything starts: a mistake there is the
/// configuration's, which a restart does not mend.
pub fn check_options(cfg: &MqttConfig, gateway_id: &str) -> anyhow::Result<()> {
    mqtt_options(cfg, gateway_id).map(|_| ())
}

/// Broker connection options from the config.
fn mqtt_options(cfg: &MqttConfig, gateway_id: &str) -> anyhow::Result<MqttOptions> {
    check_level("gateway id", gateway_id).context("gateway id is the MQTT client id")?;
    let url = BrokerUrl::parse(&cfg.url).map_err(|why| anyhow::anyhow!("mqtt.url {why}"))?;
    if !url.tls && !cfg.allow_insecure {
        bail!("mqtt.url: plain mqtt:// needs mqtt.allow_insecure = true");
    }
    if cfg.keep_alive_s > u16::MAX as u64 {
        bail!(
            "mqtt.keep_alive_s: {} is more than MQTT allows ({})",
            cfg.keep_alive_s,
            u16::MAX
        );
    }
    let mut o = MqttOptions::new(gateway_id, url.host, url.port);
    o.set_keep_alive(cfg.keep_alive())
        .set_clean_session(false)
        .set_inflight(cfg.max_inflight.max(1))
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
        .set_request_channel_capacity(cfg.max_inflight.max(1) as usize + 2);
    if url.tls {
        let tls = tls::client_config(
            cfg.ca_file.as_deref(),
            cfg.cert_file.as_deref(),
            cfg.key_file.as_deref(),
        )?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    }
    Ok(o)
}

/// `<prefix>/<gateway_id>`, checked once so only camera ids vary per read.
fn topic_base(prefix: &str, gateway_id: &str) -> anyhow::Result<String> {
    for level in prefix.split('/') {
        check_level("mqtt.topic_prefix", level)?;
    }
    check_level("gateway id", gateway_id)?;
    Ok(format!("{prefix}/{gateway_id}"))
}

/// One topic level: not empty, no separator, no wildcard, no NUL.
fn check_level(what: &str, level: &str) -> anyhow::Result<()> {
    if level.is_empty() {
        bail!("{what}: empty topic level");
    }
    if let Some(c) = level.chars().find(|c| matches!(c, '/' | '+' | '#' | '\0')) {
        bail!("{what} {level:?}: {c:?} is not allowed in an MQTT topic level");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_that_drops_us_at_once_is_retried_ever_more_slowly() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(8));
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // Refused: 0.5, 1, 2 s …
        assert_eq!(b.failed(t0), ms(500));
        assert_eq!(b.failed(t0), s(1));
        // Accepted, then dropped a moment later, again and again: the wait
        // keeps growing to the cap instead of starting over.
        let mut t = t0;
        for expected in [s(2), s(4), s(8), s(8)] {
            t += s(1);
            b.connected(t);
            assert_eq!(b.failed(t + ms(200)), expected);
        }
        // A connection that worked for a while: the next wait starts over.
        b.connected(t);
        assert_eq!(b.failed(t + s(31)), ms(500));
        assert_eq!(b.failed(t + s(32)), s(1));
        // A cap below the start is the wait.
        assert_eq!(Backoff::new(ms(100)).failed(t0), ms(100));
    }

    fn cfg(url: &str, allow_insecure: bool) -> MqttConfig {
        MqttConfig {
            url: url.into(),
            allow_insecure,
            topic_prefix: "anpr".into(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            max_inflight: 8,
            keep_alive_s: 30,
            reconnect_max_s: 30,
        }
    }

    #[test]
    fn options_use_a_persistent_session_named_after_the_gateway() {
        let o = mqtt_options(&cfg("mqtt://127.0.0.1:1884", true), "gw-7").unwrap();
        assert_eq!(o.client_id(), "gw-7");
        assert!(!o.clean_session());
        assert_eq!(o.inflight(), 8);
        assert_eq!(o.keep_alive(), Duration::from_secs(30));
        assert_eq!(o.broker_address(), ("127.0.0.1".to_string(), 1884));
    }

    #[test]
    fn unusable_settings_are_refused() {
        let err = mqtt_options(&cfg("mqtt://127.0.0.1", false), "gw").unwrap_err();
        assert!(err.to_string().contains("allow_insecure"), "{err}");
        let err = mqtt_options(&cfg("mqtts://127.0.0.1", false), "gw").unwrap_err();
        assert!(err.to_string().contains("ca_file"), "{err}");
        let mut c = cfg("mqtts://127.0.0.1", false);
        c.ca_file = Some("/nonexistent/anprd-ca.pem".into());
        let err = mqtt_options(&c, "gw").unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/anprd-ca.pem"),
            "{err:#}"
        );
        assert!(mqtt_options(&cfg("mqtt://127.0.0.1", true), "").is_err());
        assert!(mqtt_options(&cfg("mqtt://127.0.0.1", true), "gw/1").is_err());
        let mut c = cfg("mqtt://127.0.0.1", true);
        c.keep_alive_s = 70_000;
        assert!(mqtt_options(&c, "gw").is_err());
    }

    #[test]
    fn topics_are_prefix_gateway_camera_reads() {
        assert_eq!(topic_base("anpr", "gw-1").unwrap(), "anpr/gw-1");
        assert_eq!(topic_base("org/anpr", "gw-1").unwrap(), "org/anpr/gw-1");
        assert!(topic_base("", "gw-1").is_err());
        assert!(topic_base("anpr/", "gw-1").is_err());
        assert!(topic_base("anpr/#", "gw-1").is_err());
        assert!(topic_base("anpr", "gw+1").is_err());
        assert!(check_level("camera id", "cam-1").is_ok());
        assert!(check_level("camera id", "cam/1").is_err());
    }
}
