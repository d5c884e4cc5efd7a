//! Handing memory the daemon has freed back to the system.
//!
//! glibc's malloc keeps what a thread frees in that thread's arena, and after
//! the first large free it raises its mmap threshold, so the decoders' 3 MB
//! pictures and tract's 2–4 MB scratch tensors come from arenas too. Freed
//! pages in the middle of an arena stay resident until something asks for them
//! back: with four 1080p cameras the daemon sat at 310–345 MB resident while
//! heaptrack counted about 165 MB in use. `malloc_trim` returns the free pages
//! of every arena (not only the top of the main heap), so the daemon calls it
//! once a second. Five runs each, alternating: peak 268–295 MB instead of
//! 304–328 MB, about 260 instead of 335 MB between peaks, and the same CPU
//! time in all (the trims add under a second of system time per 30 s, and
//! user time fell by as much). Every five seconds saved half as much; a fixed
//! mmap threshold saved more but cost 25 s of system time per 30 s (tract
//! allocates its tensors afresh on every run).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often freed memory is handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(1);

/// Hands the free pages of every malloc arena back to the system. Returns
/// whether any were (always false where the C library is not glibc).
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks malloc's own arenas, under their
        // locks; it has no preconditions.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// A thread that calls [`release_free_memory`] every `every` until dropped.
pub struct Trimmer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    pub fn start(every: Duration) -> std::io::Result<Trimmer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("trim-memory".into())
            .spawn(move || {
                // Wakes every `every`, or at once when the sender is dropped.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    release_free_memory();
                }
            })?;
        Ok(Trimmer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Resident anonymous memory of this process, in KiB.
    fn rss_anon_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("RssAnon in /proc/self/status")
    }

    /// Frees 48 picture-sized blocks inside an arena, pinned there by a
    /// block allocated after them, as a decoder thread would.
    fn leave_freed_pictures_resident() {
        const PICTURE: usize = 3 << 20;
        // The first large free raises the mmap threshold above PICTURE: the
        // pictures after it come from the arena, as they do in the daemon.
        drop(std::hint::black_box(vec![1u8; PICTURE]));
        let pictures: Vec<Vec<u8>> = (0..48).map(|i| vec![i as u8 | 1; PICTURE]).collect();
        let pin = std::hint::black_box(vec![1u8; 4096]);
        drop(pictures);
        std::mem::forget(pin);
    }

    #[test]
    fn trimming_returns_freed_pictures_to_the_system() {
        std::thread::spawn(leave_freed_pictures_resident)
            .join()
            .unwrap();
        let before = rss_anon_kib();
        assert!(release_free_memory(), "nothing was handed back");
        let after = rss_anon_kib();
        // 48 × 3 MiB = 144 MiB were freed; most of it must leave.
        assert!(
            before.saturating_sub(after) > 100 * 1024,
            "RssAnon {before} -> {after} KiB"
        );
    }

    #[test]
    fn the_trimmer_trims_and_stops_when_dropped() {
        let base = rss_anon_kib();
        let trimmer = Trimmer::start(Duration::from_millis(20)).unwrap();
        std::thread::spawn(leave_freed_pictures_resident)
            .join()
            .unwrap();
        // Untrimmed, 144 MiB would stay resident (the test above).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rss_anon_kib() > base + 40 * 1024 {
            assert!(std::time::Instant::now() < deadline, "never trimmed");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drop joins the thread: this returns only if it stopped.
        drop(trimmer);
    }
}
