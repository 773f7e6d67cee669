//! Keeping the checkpoint's disk and CPU work out of the answers' way: paced write-back
//! (a file made durable in slices instead of one burst), write-back that follows a large
//! write as it goes, and a lower CPU priority for the checkpoint thread.
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
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Stops the helper when `work` returns or unwinds (else the scope would wait forever).
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                start_write_back(file);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        let _done = Done(&done);
        work()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn paced_and_following_write_back_sync_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let block = vec![7u8; 256 * 1024];
        for _ in 0..12 {
            (&file).write_all(&block).unwrap();
        }
        sync_paced(&file).unwrap();
        let written = writing_back(&file, || {
            for _ in 0..12 {
                (&file).write_all(&block).unwrap();
            }
            file.sync_data().map(|()| 24)
        })
        .unwrap();
        assert_eq!(written, 24);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24 * 256 * 1024);
        // The helper stops when the work unwinds, too.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writing_back(&file, || panic!("work failed"))
        }));
        assert!(unwound.is_err());
    }
}
