//! Writing a plain TCP connection's bytes from the thread that has them while its writer
//! task is idle: answers released by another thread (a journal's sync) leave from there,
//! with no hand-over to the I/O thread in between.
//!
//! Order is kept by one lock per connection. The writer marks itself busy under it while
//! it writes; a direct write happens only while the writer is idle with nothing queued,
//! and what the socket does not take is carried over to the writer, which writes it before
//! anything queued after it. The writer closes the socket only under the lock, so a direct
//! write never reaches a closed (or reused) descriptor.

use super::outgoing::{self, Chunks, MAX_IOV};
use super::QueueCounts;
use std::sync::{Arc, Mutex, MutexGuard};

/// The socket of a plain TCP connection, shared by its writer task and direct writers.
#[derive(Debug)]
pub(crate) struct DirectSocket {
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The writer has not closed the socket.
    open: bool,
    /// The writer is writing: a direct write would interleave.
    busy: bool,
    /// Bytes a direct write left over, for the writer to write first.
    carry: Chunks,
}

/// What a direct write did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// All of it went to the socket.
    All,
    /// Part of it (maybe none) went; the rest is carried over to the writer, which the
    /// caller must wake. The rest's bytes are counted as queued.
    Carried,
    /// Nothing was done: the writer is busy, has bytes queued or closed. The caller queues.
    NotNow,
}

impl DirectSocket {
    /// The socket of a plain TCP stream (`fd` stays open until [`DirectSocket::close`]).
    #[cfg(unix)]
    pub(crate) fn new(fd: std::os::fd::RawFd) -> Arc<Self> {
        Arc::new(DirectSocket {
            fd,
            state: Mutex::new(State {
                open: true,
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `chunks` now if the writer is idle and nothing is queued (`counts`, its
    /// queue's). On [`Written::Carried`] the rest was counted as queued.
    pub(super) fn write(&self, chunks: &mut Chunks, counts: &QueueCounts) -> Written {
        let mut s = self.lock();
        if !s.open || s.busy || !s.carry.is_empty() || counts.queued() > 0 {
            return Written::NotNow;
        }
        self.send(chunks);
        if chunks.is_empty() {
            return Written::All;
        }
        counts.add(chunks.iter().map(|c| c.len()).sum());
        s.carry = std::mem::take(chunks);
        Written::Carried
    }

    /// Sends what the socket takes without blocking; drops it from `chunks`. An error
    /// stops it: the writer meets the error again and closes the connection.
    #[cfg(unix)]
    fn send(&self, chunks: &mut Chunks) {
        // SAFETY: the caller holds the lock and the socket is open: the writer closes the
        // descriptor only after marking it closed under the same lock.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let sock = socket2::SockRef::from(&fd);
        while !chunks.is_empty() {
            let mut iov = [std::io::IoSlice::new(&[]); MAX_IOV];
            let n = outgoing::slices(chunks, &mut iov);
            // The socket is non-blocking (tokio's); socket2 sends with MSG_NOSIGNAL.
            match sock.send_vectored(&iov[..n]) {
                Ok(0) | Err(_) => return,
                Ok(written) => outgoing::advance(chunks, written),
            }
        }
    }

    #[cfg(not(unix))]
    fn send(&self, _chunks: &mut Chunks) {}

    /// The writer starts a write: no direct write until [`DirectSocket::end_write`]. Returns
    /// what a direct write carried over, to write first (its bytes are counted as queued).
    pub(crate) fn start_write(&self) -> Chunks {
        let mut s = self.lock();
        s.busy = true;
        std::mem::take(&mut s.carry)
    }

    /// The writer's write ended.
    pub(crate) fn end_write(&self) {
        self.lock().busy = false;
    }

    /// The writer is about to close the socket: no direct write after this. Returns the
    /// bytes still carried over (counted as queued), for the writer to release.
    pub(crate) fn close(&self) -> usize {
        let mut s = self.lock();
        s.open = false;
        s.busy = true;
        std::mem::take(&mut s.carry).iter().map(|c| c.len()).sum()
    }
}

/// A write half that stops direct writes when dropped, before the half itself goes (and
/// with it, maybe, the socket's descriptor).
pub(crate) struct Closing<W> {
    half: W,
    direct: Option<Arc<DirectSocket>>,
}

impl<W> Closing<W> {
    pub(crate) fn new(half: W, direct: Option<Arc<DirectSocket>>) -> Self {
        Closing { half, direct }
    }

    pub(crate) fn half(&mut self) -> &mut W {
        &mut self.half
    }

    /// Stops direct writes now ([`DirectSocket::close`]); the bytes still carried over.
    pub(crate) fn close(&mut self) -> usize {
        self.direct.take().map_or(0, |d| d.close())
    }
}

impl<W> Drop for Closing<W> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use super::*;
    use bytes::Bytes;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;

    /// A connected pair on loopback: ours (non-blocking, as tokio's) and the peer's.
    pub(crate) fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn writes_only_while_the_writer_is_idle_with_nothing_queued() {
        let (a, mut b) = pair();
        let d = DirectSocket::new(a.as_raw_fd());
        let counts = QueueCounts::unbounded();
        let mut chunks = vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")];
        assert_eq!(d.write(&mut chunks, &counts), Written::All);
        let mut got = [0; 4];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");
        // Writer busy, bytes queued, closed: the caller queues.
        let mut more = vec![Bytes::from_static(b"ef")];
        d.start_write();
        assert_eq!(d.write(&mut more, &counts), Written::NotNow);
        d.end_write();
        counts.queued.store(1, Ordering::SeqCst);
        assert_eq!(d.write(&mut more, &counts), Written::NotNow);
        counts.queued.store(0, Ordering::SeqCst);
        assert_eq!(d.close(), 0);
        assert_eq!(d.write(&mut more, &counts), Written::NotNow);
        assert_eq!(more.len(), 1);
    }

    #[test]
    fn a_dropped_write_half_stops_direct_writes_first() {
        let (a, _peer) = pair();
        let d = DirectSocket::new(a.as_raw_fd());
        let counts = QueueCounts::unbounded();
        // The writer task dropped mid-write, say: its half goes, and so do direct writes.
        drop(Closing::new(a, Some(d.clone())));
        let mut chunks = vec![Bytes::from_static(b"late")];
        assert_eq!(d.write(&mut chunks, &counts), Written::NotNow);
    }

    #[test]
    fn what_the_socket_does_not_take_is_carried_over_to_the_writer_first() {
        let (a, _peer) = pair();
        let d = DirectSocket::new(a.as_raw_fd());
        let counts = QueueCounts::unbounded();
        // Far more than the socket buffers take while the peer does not read.
        let big = Bytes::from(vec![7u8; 64 << 20]);
        let mut chunks = vec![big.clone()];
        assert_eq!(d.write(&mut chunks, &counts), Written::Carried);
        let rest = counts.queued.load(Ordering::SeqCst);
        assert!(rest > 0 && rest < big.len());
        assert_eq!(counts.total.load(Ordering::SeqCst), rest);
        // Carried bytes go before anything else: no direct write meanwhile.
        let mut more = vec![Bytes::from_static(b"x")];
        counts.queued.store(0, Ordering::SeqCst);
        assert_eq!(d.write(&mut more, &counts), Written::NotNow);
        let carry = d.start_write();
        assert_eq!(carry.iter().map(|c| c.len()).sum::<usize>(), rest);
        d.end_write();
    }
}
