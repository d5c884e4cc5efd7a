//! Keeping the heap from holding on to frame-sized blocks.
//!
//! glibc serves large allocations with mmap and returns them on free, but
//! after the first such free it raises its mmap threshold (up to 32 MiB) and
//! serves later ones from per-thread arenas, which keep the memory. A box
//! decoding four 1080p streams and running the networks on two threads then
//! holds a few megabytes per frame and per inference in every arena: the
//! daemon peaked at 390–420 MB on the pipeline bench's four cameras, and at
//! 270–280 MB with the threshold pinned at its default, for the same CPU.

/// Pins glibc's mmap threshold at 128 KiB so frame buffers and network
/// scratch go back to the system when freed. Call once, before threads start.
pub fn release_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
