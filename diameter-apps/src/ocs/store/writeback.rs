//! Keeping the checkpoint's disk and CPU work out of the answers' way: paced write-back
//! (a file made durable in slices instead of one burst) and a lower CPU priority for the
//! checkpoint thread.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn paced_write_back_syncs_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let block = vec![7u8; 256 * 1024];
        for _ in 0..12 {
            (&file).write_all(&block).unwrap();
        }
        sync_paced(&file).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12 * 256 * 1024);
        // A file with nothing dirty is synced at once.
        sync_paced(&file).unwrap();
    }
}
