//! Clock state from the kernel (adjtimex): whether NTP has the clock
//! synchronised, and its estimated error. Reads taken on an unsynchronised
//! clock carry a flag, because their capture time is evidence.

use std::sync::atomic::{AtomicBool, Ordering};

/// What the kernel says about the system clock.
#[derive(
    Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ClockState {
    /// The kernel considers the clock synchronised (not TIME_ERROR, STA_UNSYNC clear).
    pub synchronised: bool,
    /// Estimated error in microseconds, as NTP reported it to the kernel.
    pub est_error_us: i64,
    /// Maximum error in microseconds.
    pub max_error_us: i64,
}

/// Asks the kernel, changing nothing (modes = 0 is a read-only query).
pub fn query() -> std::io::Result<ClockState> {
    // SAFETY: a zeroed timex with modes 0 only reads the kernel's state into it.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(ClockState {
        synchronised: state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0,
        est_error_us: tx.esterror,
        max_error_us: tx.maxerror,
    })
}

/// The last known state, for the hot path that stamps reads: set by the
/// supervisor every few seconds, read by recognition threads without a syscall.
static UNSYNCHRONISED: AtomicBool = AtomicBool::new(false);

/// Whether reads captured now must carry the unsynchronised flag.
pub fn unsynchronised() -> bool {
    UNSYNCHRONISED.load(Ordering::Relaxed)
}

/// Records a fresh query; logs CLOCK_UNSYNCHRONISED when the clock loses sync
/// and an info line when it regains it. Returns the state (None if unknown).
pub fn refresh() -> Option<ClockState> {
    use crate::logging::message_id;
    match query() {
        Ok(state) => {
            let was = UNSYNCHRONISED.swap(!state.synchronised, Ordering::Relaxed);
            if !state.synchronised && !was {
                log::warn!(
                    MESSAGE_ID = message_id::CLOCK_UNSYNCHRONISED;
                    "system clock is not synchronised (NTP); reads are flagged clock_unsynchronised"
                );
            } else if state.synchronised && was {
                log::info!("system clock is synchronised again");
            }
            Some(state)
        }
        Err(e) => {
            // Told once: a sandbox that denies the query leaves reads
            // unflagged whatever the clock does.
            static TOLD: AtomicBool = AtomicBool::new(false);
            if !TOLD.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "cannot ask the kernel whether the clock is synchronised (adjtimex: {e}); \
                     reads are not flagged clock_unsynchronised"
                );
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernel_answers_a_read_only_query() {
        let state = super::query().expect("adjtimex(modes = 0) needs no privilege");
        assert!(state.max_error_us >= 0, "{state:?}");
    }
}
