//! Which spool key each unacknowledged publish carries: pure bookkeeping, no I/O.
//!
//! rumqttc has no per-publish acknowledgement API: it assigns packet ids
//! inside its event loop and reports them only as events. This state machine
//! follows those events to tie each PUBACK back to the spool key it confirms:
//!
//! - `Outgoing::Publish(pkid)` comes in submission order for new publishes, so
//!   the oldest submitted-but-unassigned key gets that pkid;
//! - a `Publish(pkid)` for a pkid already mapped is a retransmission;
//! - `Outgoing::AwaitAck(pkid)` means rumqttc holds the next publish back until
//!   the PUBACK frees `pkid` (a collision), after which it emits `Publish(pkid)`;
//! - a lost session (ConnAck with `session_present = false`) means rumqttc
//!   dropped everything unacknowledged: start over from the oldest spooled read.
//!
//! Kept apart from the event loop, like rumqtt keeps its protocol state apart
//! from its network code, so every sequence can be tested without a broker.

use std::collections::{HashMap, VecDeque};

/// What an `Outgoing::Publish` event meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// A new publish of this key now carries the packet id.
    New(u64),
    /// The packet id was already mapped: a resend of the same read.
    Retransmission(u64),
    /// Nothing was waiting for a packet id: the bookkeeping lost track of
    /// rumqttc and must be reset (see [`Inflight::session_lost`]).
    Unexpected,
}

#[derive(Debug)]
pub struct Inflight {
    window: usize,
    /// Highest key handed to rumqttc since the last reset; the spool is read
    /// onwards from here.
    cursor: Option<u64>,
    /// Handed to rumqttc, packet id not known yet, oldest first.
    unassigned: VecDeque<u64>,
    /// Packet id → key of each publish awaiting its PUBACK.
    by_pkid: HashMap<u16, u64>,
    /// The publish rumqttc holds back on a packet id collision.
    held: Option<(u16, u64)>,
    /// Keys rumqttc dropped (a second collision replaces the first) that must
    /// be handed over again, before newer reads.
    resend: VecDeque<u64>,
}

impl Inflight {
    /// `window`: most publishes unacknowledged at once (at least 1).
    pub fn new(window: u16) -> Inflight {
        Inflight {
            window: window.max(1) as usize,
            cursor: None,
            unassigned: VecDeque::new(),
            by_pkid: HashMap::new(),
            held: None,
            resend: VecDeque::new(),
        }
    }

    /// Publishes handed to rumqttc and not yet acknowledged.
    pub fn outstanding(&self) -> usize {
        self.unassigned.len() + self.by_pkid.len() + usize::from(self.held.is_some())
    }

    /// Whether another publish may be handed over now.
    pub fn has_room(&self) -> bool {
        self.outstanding() < self.window
    }

    /// Read the spool after this key (from the start when `None`).
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// A key to hand over again before any newer read.
    pub fn next_resend(&self) -> Option<u64> {
        self.resend.front().copied()
    }

    /// The publish of `key` (the next resend, or the next read after the
    /// cursor) was handed to rumqttc.
    pub fn submitted(&mut self, key: u64) {
        self.skip(key);
        self.unassigned.push_back(key);
    }

    /// `key` (the next resend, or the next read after the cursor) will not be
    /// sent, e.g. it is gone from the spool or unsendable: move past it.
    pub fn skip(&mut self, key: u64) {
        if self.resend.front() == Some(&key) {
            self.resend.pop_front();
        } else {
            self.cursor = Some(self.cursor.map_or(key, |c| c.max(key)));
        }
    }

    /// `Event::Outgoing(Outgoing::Publish(pkid))`.
    pub fn on_publish(&mut self, pkid: u16) -> Published {
        if let Some(&key) = self.by_pkid.get(&pkid) {
            return Published::Retransmission(key);
        }
        let key = match self.held {
            Some((held_pkid, key)) if held_pkid == pkid => {
                self.held = None;
                key
            }
            _ => match self.unassigned.pop_front() {
                Some(key) => key,
                None => return Published::Unexpected,
            },
        };
        self.by_pkid.insert(pkid, key);
        Published::New(key)
    }

    /// `Event::Outgoing(Outgoing::AwaitAck(pkid))`: the oldest unassigned
    /// publish waits for `pkid` to be freed. Returns false if nothing was
    /// waiting (bookkeeping lost track; reset).
    pub fn on_await_ack(&mut self, pkid: u16) -> bool {
        let Some(key) = self.unassigned.pop_front() else {
            return false;
        };
        if let Some((_, replaced)) = self.held.replace((pkid, key)) {
            // rumqttc keeps one held publish; a second collision overwrites
            // the first, which would never be sent. Send it again.
            self.resend.push_back(replaced);
        }
        true
    }

    /// `Event::Incoming(Packet::PubAck(pkid))`: the key the broker confirmed,
    /// if the packet id was ours.
    pub fn on_puback(&mut self, pkid: u16) -> Option<u64> {
        self.by_pkid.remove(&pkid)
    }

    /// The broker kept our session: rumqttc resends what it holds with the
    /// same packet ids, so the mapping stays.
    pub fn session_kept(&mut self) {}

    /// The session is gone and rumqttc dropped everything unacknowledged:
    /// forget all mappings and read the spool again from its oldest read.
    pub fn session_lost(&mut self) {
        self.cursor = None;
        self.unassigned.clear();
        self.by_pkid.clear();
        self.held = None;
        self.resend.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(f: &mut Inflight, keys: impl IntoIterator<Item = u64>) {
        for k in keys {
            assert!(f.has_room());
            f.submitted(k);
        }
    }

    #[test]
    fn publishes_take_packet_ids_in_submission_order_and_acks_return_keys() {
        let mut f = Inflight::new(8);
        submit(&mut f, [10, 11, 12]);
        assert_eq!(f.cursor(), Some(12));
        assert_eq!(f.outstanding(), 3);
        assert_eq!(f.on_publish(1), Published::New(10));
        assert_eq!(f.on_publish(2), Published::New(11));
        // An ack may come before the last publish event.
        assert_eq!(f.on_puback(1), Some(10));
        assert_eq!(f.on_publish(3), Published::New(12));
        assert_eq!(f.on_puback(3), Some(12));
        assert_eq!(f.on_puback(2), Some(11));
        assert_eq!(f.outstanding(), 0);
        assert_eq!(f.on_puback(2), None, "an ack is used once");
    }

    #[test]
    fn the_window_limits_outstanding_publishes() {
        let mut f = Inflight::new(2);
        submit(&mut f, [1, 2]);
        assert!(!f.has_room());
        f.on_publish(1);
        assert!(!f.has_room(), "assigned but unacked still counts");
        f.on_publish(2);
        f.on_puback(1);
        assert!(f.has_room());
        assert!(Inflight::new(0).has_room(), "window is at least 1");
    }

    #[test]
    fn a_collision_holds_the_publish_until_its_packet_id_is_acked() {
        let mut f = Inflight::new(3);
        submit(&mut f, [1, 2, 3]);
        assert_eq!(f.on_publish(1), Published::New(1));
        assert_eq!(f.on_publish(2), Published::New(2));
        // Broker acks 2 first; the next publish would reuse pkid 1: collision.
        assert_eq!(f.on_puback(2), Some(2));
        assert!(f.on_await_ack(1));
        assert_eq!(f.outstanding(), 2, "the held publish still counts");
        // The ack of pkid 1 frees it; rumqttc then sends the held one on it.
        assert_eq!(f.on_puback(1), Some(1));
        assert_eq!(f.on_publish(1), Published::New(3));
        assert_eq!(f.on_puback(1), Some(3));
        assert_eq!(f.outstanding(), 0);
    }

    #[test]
    fn a_newer_publish_can_take_a_free_id_while_one_is_held() {
        let mut f = Inflight::new(4);
        submit(&mut f, [1, 2]);
        f.on_publish(5);
        assert!(f.on_await_ack(5));
        submit(&mut f, [3]);
        assert_eq!(f.on_publish(6), Published::New(3), "not the held key");
        assert_eq!(f.on_puback(5), Some(1));
        assert_eq!(f.on_publish(5), Published::New(2));
    }

    #[test]
    fn a_second_collision_hands_the_overwritten_publish_back_for_resending() {
        let mut f = Inflight::new(4);
        submit(&mut f, [1, 2, 3]);
        f.on_publish(1);
        assert!(f.on_await_ack(1)); // key 2 held on pkid 1
        assert!(f.on_await_ack(1)); // rumqttc replaced it with key 3
        assert_eq!(f.next_resend(), Some(2));
        f.submitted(2);
        assert_eq!(f.next_resend(), None);
        assert_eq!(
            f.cursor(),
            Some(3),
            "resending does not move the cursor back"
        );
        assert_eq!(f.on_puback(1), Some(1));
        assert_eq!(f.on_publish(1), Published::New(3));
        assert_eq!(f.on_publish(2), Published::New(2));
    }

    #[test]
    fn a_publish_for_a_mapped_packet_id_is_a_retransmission() {
        let mut f = Inflight::new(4);
        submit(&mut f, [7, 8]);
        f.on_publish(1);
        // Connection drops; session kept; rumqttc replays pkid 1 before the
        // still-unassigned key 8 gets its id.
        f.session_kept();
        assert_eq!(f.on_publish(1), Published::Retransmission(7));
        assert_eq!(f.on_publish(2), Published::New(8));
        assert_eq!(f.on_puback(1), Some(7));
        assert_eq!(f.on_puback(2), Some(8));
        assert_eq!(f.cursor(), Some(8), "session kept: no rewind");
    }

    #[test]
    fn a_lost_session_forgets_everything_and_rewinds_to_the_start() {
        let mut f = Inflight::new(4);
        submit(&mut f, [1, 2, 3]);
        f.on_publish(1);
        f.on_publish(2);
        assert!(f.on_await_ack(1));
        f.session_lost();
        assert_eq!(f.outstanding(), 0);
        assert_eq!(f.cursor(), None);
        assert_eq!(f.on_puback(1), None, "old acks no longer map");
        // Reads are handed over again and numbered afresh.
        submit(&mut f, [1, 2, 3]);
        assert_eq!(f.on_publish(1), Published::New(1));
    }

    #[test]
    fn events_that_match_nothing_are_reported() {
        let mut f = Inflight::new(4);
        assert_eq!(f.on_publish(1), Published::Unexpected);
        assert!(!f.on_await_ack(1));
        assert_eq!(f.on_puback(9), None);
    }

    #[test]
    fn skipping_moves_the_cursor_without_counting() {
        let mut f = Inflight::new(1);
        f.skip(5);
        assert_eq!(f.cursor(), Some(5));
        assert_eq!(f.outstanding(), 0);
        f.skip(3);
        assert_eq!(f.cursor(), Some(5));
        // Skipping a resend takes it off the resend list, cursor unchanged.
        let mut f = Inflight::new(4);
        submit(&mut f, [1, 2, 3]);
        assert!(f.on_await_ack(1));
        assert!(f.on_await_ack(2));
        assert_eq!(f.next_resend(), Some(1));
        f.skip(1);
        assert_eq!(f.next_resend(), None);
        assert_eq!(f.cursor(), Some(3));
    }
}
