//! The bounded channel between a camera and its recognition thread.
//!
//! Video must never back up into the camera: when recognition falls behind,
//! the oldest waiting frame is dropped (and counted by the caller) to make
//! room for the newest, so what is analysed stays close to live.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::Frame;

pub struct FrameQueue {
    capacity: usize,
    state: Mutex<State>,
    ready: Condvar,
    /// Rung on every push and close, for consumers that serve many queues.
    doorbell: Option<Arc<Doorbell>>,
}

/// Wakes a pool of workers when any of the queues they serve changes.
#[derive(Default)]
pub struct Doorbell {
    rings: Mutex<u64>,
    rung: Condvar,
}

impl Doorbell {
    pub fn ring(&self) {
        *self.rings.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.rung.notify_all();
    }

    /// How often it has rung so far; pass it to [`wait`](Self::wait).
    pub fn rings(&self) -> u64 {
        *self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until it rings after `seen` rings, or `timeout` passes.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.rung.wait_timeout_while(rings, timeout, |r| *r == seen);
    }
}

struct State {
    frames: VecDeque<Frame>,
    closed: bool,
}

/// What [`FrameQueue::pop`] found.
#[derive(Debug)]
pub enum Pop {
    Frame(Frame),
    /// Nothing arrived in time; the camera may still send more.
    Timeout,
    /// The camera has ended and every frame has been taken.
    Closed,
}

impl FrameQueue {
    pub fn new(capacity: usize) -> FrameQueue {
        FrameQueue {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                frames: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            ready: Condvar::new(),
            doorbell: None,
        }
    }

    /// A queue that also rings `doorbell` whenever a frame arrives or it closes.
    pub fn with_doorbell(capacity: usize, doorbell: Arc<Doorbell>) -> FrameQueue {
        FrameQueue {
            doorbell: Some(doorbell),
            ..FrameQueue::new(capacity)
        }
    }

    fn ring(&self) {
        if let Some(bell) = &self.doorbell {
            bell.ring();
        }
    }

    /// Adds a frame, never blocking. Returns true when an older frame had to
    /// be dropped to make room.
    pub fn push(&self, frame: Frame) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = if state.frames.len() >= self.capacity {
            state.frames.pop_front();
            true
        } else {
            false
        };
        state.frames.push_back(frame);
        drop(state);
        self.ready.notify_one();
        self.ring();
        dropped
    }

    /// The oldest waiting frame, waiting up to `timeout` for one. After
    /// [`close`](Self::close) the remaining frames still come out, then `Closed`.
    pub fn pop(&self, timeout: Duration) -> Pop {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (mut state, _) = self
            .ready
            .wait_timeout_while(state, timeout, |s| s.frames.is_empty() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        match state.frames.pop_front() {
            Some(frame) => Pop::Frame(frame),
            None if state.closed => Pop::Closed,
            None => Pop::Timeout,
        }
    }

    /// The camera has ended: no more frames will be pushed.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
        self.ring();
    }

    /// Frames waiting now.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .frames
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            captured_at: seq as i64,
            width: 1,
            height: 1,
            luma: vec![0].into(),
            chroma: None,
        }
    }

    fn seq(p: Pop) -> Option<u64> {
        match p {
            Pop::Frame(f) => Some(f.seq),
            _ => None,
        }
    }

    #[test]
    fn drops_the_oldest_when_full_and_keeps_the_newest() {
        let q = FrameQueue::new(2);
        assert!(!q.push(frame(1)));
        assert!(!q.push(frame(2)));
        assert!(q.push(frame(3)), "frame 1 made room");
        assert!(q.push(frame(4)), "frame 2 made room");
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(3));
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(4));
        assert!(matches!(q.pop(Duration::from_millis(10)), Pop::Timeout));
    }

    #[test]
    fn close_lets_waiting_frames_out_first() {
        let q = FrameQueue::new(4);
        q.push(frame(1));
        q.close();
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(1));
        assert!(matches!(q.pop(Duration::ZERO), Pop::Closed));
    }

    #[test]
    fn the_doorbell_rings_on_push_and_close() {
        let bell = Arc::new(Doorbell::default());
        let (a, b) = (
            FrameQueue::with_doorbell(2, bell.clone()),
            FrameQueue::with_doorbell(2, bell.clone()),
        );
        let seen = bell.rings();
        let waiter = {
            let bell = bell.clone();
            std::thread::spawn(move || bell.wait(seen, Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        b.push(frame(1));
        waiter.join().unwrap();
        a.close();
        assert_eq!(bell.rings(), seen + 2);
    }

    #[test]
    fn a_waiting_consumer_wakes_on_push_and_on_close() {
        let q = Arc::new(FrameQueue::new(4));
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || {
                (
                    seq(q.pop(Duration::from_secs(10))),
                    q.pop(Duration::from_secs(10)),
                )
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        q.push(frame(7));
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        let (first, second) = consumer.join().unwrap();
        assert_eq!(first, Some(7));
        assert!(matches!(second, Pop::Closed));
    }
}
