//! Paced write-back: makes a file durable in slices instead of one burst.
//!
//! A checkpoint writes megabytes into SQLite's files at once. Synced in one `fsync`, they
//! fill the disk's queue, and every journal `fdatasync` issued meanwhile (the answers'
//! durability) waits behind them: the latency tail of the OCS. Written back a slice at a
//! time, with a pause as long as each slice took, the journal's syncs slip in between, and
//! the final `fdatasync` finds little left to write.

use std::fs::File;
use std::io;
use std::time::Duration;

/// Bytes written back per slice.
const SLICE: u64 = 1 << 20;
/// The longest pause between two slices.
const MAX_PAUSE: Duration = Duration::from_millis(4);

/// Writes `file`'s dirty pages back slice by slice, then `fdatasync`s it.
pub(super) fn sync_paced(file: &File) -> io::Result<()> {
    write_back_paced(file)?;
    file.sync_data()
}

#[cfg(target_os = "linux")]
fn write_back_paced(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = file.metadata()?.len();
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    let mut at = 0;
    while at < len {
        let started = std::time::Instant::now();
        // SAFETY: a plain system call on an open descriptor; no memory is passed.
        let r = unsafe { libc::sync_file_range(file.as_raw_fd(), at as i64, SLICE as i64, flags) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // A clean slice returns at once; a written one leaves the disk as long to others.
        let took = started.elapsed();
        if took > Duration::from_micros(100) {
            std::thread::sleep(took.min(MAX_PAUSE));
        }
        at += SLICE;
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn write_back_paced(_file: &File) -> io::Result<()> {
    Ok(())
}

/// The `nice` value of the thread that writes checkpoints: it yields the CPU to the threads
/// answering requests, and catches up in their gaps.
pub const CHECKPOINT_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`CHECKPOINT_NICE`] (best effort).
#[cfg(target_os = "linux")]
pub(super) fn lower_thread_priority() {
    // SAFETY: plain system calls; on Linux a thread id names one thread for setpriority.
    let r = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, CHECKPOINT_NICE)
    };
    if r != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "ocs: checkpoint priority unchanged");
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn lower_thread_priority() {}

/// Runs `work` (which writes `file`, then syncs it) while another thread starts the
/// write-back of what it has written so far every few milliseconds, so that the final sync
/// finds little left to write.
pub(super) fn writing_back<T>(file: &File, work: impl FnOnce() -> T) -> T {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                start_write_back(file);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        let out = work();
        done.store(true, std::sync::atomic::Ordering::Release);
        out
    })
}

#[cfg(target_os = "linux")]
fn start_write_back(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on an open descriptor; no memory is passed.
    unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
fn start_write_back(_file: &File) {}
