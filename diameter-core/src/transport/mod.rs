//! The TCP and TLS transport (tokio): length-prefixed framing with
//! [`crate::message::frame_len`] and one reader and one writer task per connection. The
//! only module that touches sockets.
//!
//! The writer batches: whatever is queued when it wakes goes out in one write (one system
//! call, vectored when there are several buffers), up to [`WRITE_BATCH`] bytes. A burst
//! of messages is queued as a few buffers ([`outgoing::Burst`]): small messages copied
//! back to back, large bodies as they were encoded or received, never copied.
//!
//! Bounds against a peer that does not read or reads too slowly: the write queue is
//! bounded in bytes ([`WriteQueue`]); a write that makes no progress within the write
//! timeout ends the writer, resets the socket and stops the reader, and the owner is
//! told the connection closed. A message that starts and does not complete within the
//! message timeout closes the connection too.
//!
//! A message that frames but does not decode is answered with the right Result-Code and
//! the connection stays up; a stream that cannot be framed (bad version or length) is
//! answered if its header can be read, then closed.

use crate::answer::{error_answer, Origin};
use crate::header::{Header, HEADER_LEN};
use crate::message::{frame_len, Limits, RawMessage};
use crate::peer::{Capabilities, ConnId};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) mod direct;
pub(crate) mod outgoing;
#[cfg(feature = "tls")]
pub(crate) mod tls;

use direct::{DirectSocket, Written};
use outgoing::{Burst, Chunks};

/// The most bytes the writer gathers into one write.
pub(crate) const WRITE_BATCH: usize = 64 * 1024;

/// Free space the reader keeps in its buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Messages handed over at most in one [`ConnEvent::Messages`].
pub(crate) const READ_BATCH: usize = 32;
/// A batch takes no further message once it holds this many bytes, so a queued event
/// holds at most one maximum-size message and this much besides.
pub(crate) const READ_BATCH_BYTES: usize = 16 * 1024;

/// What a connection's reader reports.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// A decoded message.
    Message(RawMessage),
    /// Decoded messages that came in one read, in order (at most [`READ_BATCH`] of them,
    /// or as many as fill [`READ_BATCH_BYTES`]): one hand-over for the lot.
    Messages(Vec<RawMessage>),
    /// The connection closed or failed.
    Closed,
}

/// Why a message could not be queued: either way the connection is done for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// The bytes already queued plus this message exceed the connection's bound: the
    /// peer does not read.
    Full,
    /// The writer has ended.
    Closed,
}

/// The write queue of a connection, bounded in bytes (not messages): a peer that does
/// not read can hold at most `max` bytes of this node's memory.
#[derive(Clone, Debug)]
pub(crate) struct WriteQueue {
    tx: mpsc::UnboundedSender<Bytes>,
    counts: QueueCounts,
    /// The socket, for direct writes (a plain TCP connection).
    direct: Option<Arc<DirectSocket>>,
}

/// The byte counts and bound of a write queue.
#[derive(Clone, Debug)]
struct QueueCounts {
    /// Bytes queued on this connection and not yet written.
    queued: Arc<AtomicUsize>,
    /// Bytes queued on every connection of the node.
    total: Arc<AtomicUsize>,
    max: usize,
}

impl QueueCounts {
    /// Counts of a queue of its own, with no bound.
    #[cfg(test)]
    fn unbounded() -> Self {
        QueueCounts {
            queued: Arc::default(),
            total: Arc::default(),
            max: usize::MAX,
        }
    }

    /// Counts `n` bytes more as queued, past the bound or not (what a direct write left
    /// for the writer).
    fn add(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::AcqRel);
        self.total.fetch_add(n, Ordering::AcqRel);
    }

    /// Counts `n` bytes less: written, or dropped with their connection.
    fn remove(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes queued on this connection and not yet written.
    fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Queues a burst on `tx` (see [`WriteQueue::try_send_all`]).
    fn send(
        &self,
        tx: &mpsc::UnboundedSender<Bytes>,
        n: usize,
        chunks: impl Iterator<Item = Bytes>,
    ) -> Result<(), QueueError> {
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.max {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(QueueError::Full);
        }
        self.total.fetch_add(n, Ordering::AcqRel);
        let mut sent = 0;
        for b in chunks {
            let len = b.len();
            if tx.send(b).is_err() {
                // The writer is gone: it releases what it was sent, this the rest.
                self.remove(n - sent);
                return Err(QueueError::Closed);
            }
            sent += len;
        }
        Ok(())
    }
}

impl WriteQueue {
    /// Queues one buffer.
    pub(crate) fn try_send(&self, b: Bytes) -> Result<(), QueueError> {
        self.try_send_all(b.len(), std::iter::once(b))
    }

    /// Queues a burst (see [`outgoing::Burst`]): `len` bytes in buffers written in order.
    /// A burst always fits an empty queue, so a single message larger than the bound still
    /// goes out.
    pub(crate) fn try_send_all(
        &self,
        n: usize,
        chunks: impl Iterator<Item = Bytes>,
    ) -> Result<(), QueueError> {
        self.counts.send(&self.tx, n, chunks)
    }

    /// A handle that sends on this queue without keeping its writer running.
    pub(crate) fn sink(&self) -> Sink {
        Sink {
            tx: self.tx.downgrade(),
            counts: self.counts.clone(),
            direct: self.direct.clone(),
        }
    }

    /// Bytes queued and not yet written.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.counts.queued()
    }
}

/// A write queue whose writer is the returned receiver, with `direct` as its socket.
#[cfg(test)]
pub(crate) fn test_queue(
    direct: Option<Arc<DirectSocket>>,
) -> (WriteQueue, mpsc::UnboundedReceiver<Bytes>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let counts = QueueCounts::unbounded();
    (WriteQueue { tx, counts, direct }, rx)
}

/// A connection's write queue as seen from another thread: it does not keep the writer
/// running (the connection closes when its owner lets go), and on a plain TCP connection
/// it can write from the calling thread ([`direct`]).
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    tx: mpsc::WeakUnboundedSender<Bytes>,
    counts: QueueCounts,
    direct: Option<Arc<DirectSocket>>,
}

impl Sink {
    /// Whether it can write from the calling thread.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Sends a burst: with `now`, written from this thread at once if the writer is idle
    /// with nothing queued ([`direct`]); otherwise queued for the writer.
    pub(crate) fn send(&self, burst: Burst, now: bool) -> Result<(), QueueError> {
        let Some(tx) = self.tx.upgrade() else {
            return Err(QueueError::Closed);
        };
        let n = burst.len();
        if let Some(d) = self.direct.as_ref().filter(|_| now) {
            let mut chunks: Chunks = burst.into_chunks().collect();
            return match d.write(&mut chunks, &self.counts) {
                Written::All => Ok(()),
                // Wakes the writer for the rest (an empty buffer writes nothing).
                Written::Carried => tx.send(Bytes::new()).map_err(|_| QueueError::Closed),
                Written::NotNow => self.counts.send(&tx, n, chunks.into_iter()),
            };
        }
        self.counts.send(&tx, n, burst.into_chunks())
    }
}

/// The owner's end of a connection: the write queue and the reader task. Dropping it
/// closes the connection gracefully (what is queued still goes out, each write within
/// the write timeout); [`ConnHandle::kill`] closes it at once.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub(crate) id: ConnId,
    pub(crate) queue: WriteQueue,
    kill: Arc<Notify>,
    reader: Option<JoinHandle<()>>,
}

impl ConnHandle {
    /// Closes the connection now: the writer drops what is queued and ends, the socket
    /// is reset, the reader ends.
    pub(crate) fn kill(self) {
        self.kill.notify_one();
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            r.abort();
        }
    }
}

/// A write half that can be closed abortively: what the kernel still holds to send is
/// discarded and the peer gets a reset, so a peer that does not read cannot keep kernel
/// buffers either.
pub(crate) trait HardClose {
    /// Arranges for the connection to be reset when it is dropped.
    fn hard_close(&self) {}

    /// The socket, for direct writes from other threads: a plain TCP socket only.
    fn direct(&self) -> Option<Arc<DirectSocket>> {
        None
    }
}

impl HardClose for tokio::net::tcp::OwnedWriteHalf {
    fn hard_close(&self) {
        let _ = socket2::SockRef::from(self.as_ref()).set_linger(Some(Duration::ZERO));
    }

    #[cfg(unix)]
    fn direct(&self) -> Option<Arc<DirectSocket>> {
        use std::os::fd::AsRawFd;
        Some(DirectSocket::new(self.as_ref().as_raw_fd()))
    }
}

/// TLS streams: the TCP socket underneath is not reachable through the split half; the
/// socket's TCP_USER_TIMEOUT bounds what the kernel keeps.
impl<T> HardClose for tokio::io::WriteHalf<T> {}

/// Why the next message could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// End of stream or an I/O error.
    Closed,
    /// A message started and did not complete within the message timeout.
    TimedOut,
    /// The stream cannot be framed; the answer (if the header was readable) is included.
    Unframeable(Option<RawMessage>),
}

/// Reads one framed message. Messages that frame but fail to decode are answered on
/// `answers` (when they are requests) and skipped. A message whose first bytes arrived
/// more than `message_timeout` ago and is still incomplete fails with
/// [`ReadError::TimedOut`] (a peer dripping bytes cannot hold the connection).
///
/// Requests that `header_only` names have only their header checked here: a typed
/// handler decodes them in full, or an agent's routing walk checks them, answering a bad
/// AVP as this check would (one walk per message). Every other message has each
/// top-level AVP header checked too ([`RawMessage::decode`]).
pub(crate) async fn read_message<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    limits: &Limits,
    local: &Capabilities,
    answers: Option<&WriteQueue>,
    message_timeout: Option<Duration>,
    header_only: &HeaderOnly,
) -> Result<RawMessage, ReadError> {
    // When the message being read was first seen incomplete: the clock is read only
    // when a read has to wait for the rest of a message (not once per message).
    let mut started = None;
    loop {
        if let Some(m) = take_message(buf, limits, local, answers, header_only)? {
            return Ok(m);
        }
        if started.is_none() && !buf.is_empty() {
            started = Some(Instant::now());
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let read = rd.read_buf(buf);
        let n = match (started, message_timeout) {
            (Some(t0), Some(limit)) => tokio::time::timeout_at(t0 + limit, read)
                .await
                .map_err(|_| ReadError::TimedOut)?,
            _ => read.await,
        }
        .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
    }
}

/// The next complete message already in `buf`, without reading (`None`: it needs more
/// bytes). Messages that frame but fail to decode are answered and skipped, as in
/// [`read_message`]; a stream that cannot be framed is an error, and `buf` is left as
/// it was.
pub(crate) fn take_message(
    buf: &mut BytesMut,
    limits: &Limits,
    local: &Capabilities,
    answers: Option<&WriteQueue>,
    header_only: &HeaderOnly,
) -> Result<Option<RawMessage>, ReadError> {
    let origin = Origin {
        host: &local.origin_host,
        realm: &local.origin_realm,
    };
    loop {
        match frame_len(buf, limits) {
            Ok(Some(n)) if buf.len() >= n => {
                let bytes = buf.split_to(n).freeze();
                match decode_framed(bytes.clone(), limits, header_only) {
                    Ok(m) => return Ok(Some(m)),
                    Err(e) => {
                        if let (Some(req), Some(tx)) = (as_request(&bytes), answers) {
                            let _ = tx.try_send(error_answer(&req, &origin, &e).to_bytes());
                        }
                    }
                }
            }
            Ok(_) => return Ok(None),
            Err(e) => {
                let answer = as_request(buf).map(|req| error_answer(&req, &origin, &e));
                return Err(ReadError::Unframeable(answer));
            }
        }
    }
}

/// Which received requests framing checks the header of only, leaving their AVP headers
/// to the one walk that reads them.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeaderOnly {
    /// Every request but the base protocol's peer messages (CER, DWR, DPR): an agent
    /// checks each in the walk that routes it (`AgentConfig::decide_checked`).
    pub(crate) requests: bool,
    /// These (Application-Id, Command-Code): a typed handler decodes them in full.
    pub(crate) listed: Arc<[(u32, u32)]>,
}

impl HeaderOnly {
    fn skips(&self, h: &Header) -> bool {
        use crate::base::command::{CAPABILITIES_EXCHANGE, DEVICE_WATCHDOG, DISCONNECT_PEER};
        let peer_message = h.application_id == 0
            && matches!(
                h.command_code,
                CAPABILITIES_EXCHANGE | DEVICE_WATCHDOG | DISCONNECT_PEER
            );
        h.is_request()
            && ((self.requests && !peer_message)
                || self.listed.contains(&(h.application_id, h.command_code)))
    }
}

/// Checks a framed message: the header, and the top-level AVP headers unless
/// `header_only` skips it (see [`read_message`]).
fn decode_framed(
    bytes: Bytes,
    limits: &Limits,
    header_only: &HeaderOnly,
) -> Result<RawMessage, crate::error::DecodeError> {
    let msg = RawMessage::decode_header(bytes, limits)?;
    if !header_only.skips(&msg.header) {
        msg.check_avps(limits)?;
    }
    Ok(msg)
}

/// The header and readable body of a request that failed to decode, for answering it.
fn as_request(bytes: &[u8]) -> Option<RawMessage> {
    let mut header = Header::parse_unchecked(bytes)?;
    if !header.is_request() {
        return None;
    }
    header.flags &= !crate::header::CommandFlags::ERROR;
    let end = (header.length as usize).min(bytes.len()).max(HEADER_LEN);
    Some(RawMessage {
        header,
        body: Bytes::copy_from_slice(&bytes[HEADER_LEN..end]),
    })
}

/// What every connection of a node shares.
pub(crate) struct ConnOptions {
    /// Message limits.
    pub(crate) limits: Limits,
    /// The node's identity, for answering undecodable requests.
    pub(crate) local: Arc<Capabilities>,
    /// Bytes queued for writing at most (see [`WriteQueue`]).
    pub(crate) queue_bytes: usize,
    /// The node-wide count of queued bytes.
    pub(crate) queued_total: Arc<AtomicUsize>,
    /// A write that makes no progress for this long closes the connection.
    pub(crate) write_timeout: Duration,
    /// A message started and not complete after this long closes the connection.
    pub(crate) message_timeout: Duration,
    /// Over TLS: a check of the Origin-Host of a received CEA against the peer's
    /// certificate; a mismatch closes the connection.
    pub(crate) identity: Option<IdentityCheck>,
    /// Requests whose AVP headers the walk that reads them checks: framing checks only
    /// their header (see [`read_message`]).
    pub(crate) header_only: HeaderOnly,
}

/// Checks that a DiameterIdentity is one the peer's certificate was issued for.
pub(crate) type IdentityCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Held for as long as a connection's reader or writer runs (a connection slot).
pub(crate) type ConnGuard = Box<dyn Send + Sync>;

/// Starts the reader and writer tasks of a connection. Events go to `events` tagged with
/// `id`; `wrap` turns them into the owner's message type. `buf` holds bytes already read.
/// `guard` is released when both tasks have ended (the socket is closed then).
pub(crate) fn spawn_connection<M, R, W>(
    id: ConnId,
    (rd, wr): (R, W),
    buf: BytesMut,
    opts: ConnOptions,
    events: mpsc::Sender<M>,
    wrap: fn(ConnId, ConnEvent) -> M,
    guard: Option<ConnGuard>,
) -> ConnHandle
where
    M: Send + 'static,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + HardClose + Unpin + Send + 'static,
{
    let ConnOptions {
        limits,
        local,
        queue_bytes,
        queued_total,
        write_timeout,
        message_timeout,
        identity,
        header_only,
    } = opts;
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let direct = wr.direct();
    let queue = WriteQueue {
        tx,
        counts: QueueCounts {
            queued: Arc::default(),
            total: queued_total,
            max: queue_bytes.max(1),
        },
        direct: direct.clone(),
    };
    let guard: Arc<Option<ConnGuard>> = Arc::new(guard);
    let answers = queue.clone();
    let reader_guard = guard.clone();
    let reader_events = events.clone();
    let reader = tokio::spawn(async move {
        let _guard = reader_guard;
        let events = reader_events;
        let (mut rd, mut buf) = (rd, buf);
        let timeout = Some(message_timeout);
        loop {
            let read = read_message(
                &mut rd,
                &mut buf,
                &limits,
                &local,
                Some(&answers),
                timeout,
                &header_only,
            );
            match read.await {
                Ok(m) => {
                    // What else this read brought in goes over with it. An error is left
                    // in the buffer for the next read to report.
                    let event = gather(m, || {
                        take_message(&mut buf, &limits, &local, Some(&answers), &header_only)
                            .ok()
                            .flatten()
                    });
                    if let Some(check) = &identity {
                        if !event.messages().all(|m| identity_ok(check, m)) {
                            tracing::warn!("CEA Origin-Host does not match the peer certificate");
                            drop(answers);
                            let _ = events.send(wrap(id, ConnEvent::Closed)).await;
                            return;
                        }
                    }
                    if events.send(wrap(id, event)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    match e {
                        ReadError::Unframeable(Some(answer)) => {
                            let _ = answers.try_send(answer.to_bytes());
                        }
                        ReadError::TimedOut => {
                            tracing::info!("message incomplete after the message timeout, closing");
                        }
                        _ => {}
                    }
                    drop(answers);
                    let _ = events.send(wrap(id, ConnEvent::Closed)).await;
                    return;
                }
            }
        }
    });
    let kill = Arc::new(Notify::new());
    let writer = Writer {
        counts: queue.counts.clone(),
        direct,
        timeout: write_timeout,
        kill: kill.clone(),
        reader: reader.abort_handle(),
        held: 0,
    };
    tokio::spawn(async move {
        let _guard = guard;
        if writer.run(wr, rx).await == WriterEnd::Failed {
            // The owner learns it here: the reader was stopped with the socket.
            let _ = events.send(wrap(id, ConnEvent::Closed)).await;
        }
    });
    ConnHandle {
        id,
        queue,
        kill,
        reader: Some(reader),
    }
}

/// One hand-over for `first` and the messages `next` still has, up to [`READ_BATCH`]
/// messages or [`READ_BATCH_BYTES`] (a lone message needs no `Vec`).
fn gather(first: RawMessage, mut next: impl FnMut() -> Option<RawMessage>) -> ConnEvent {
    let mut bytes = first.body.len();
    let second = match bytes < READ_BATCH_BYTES {
        true => next(),
        false => None,
    };
    let Some(second) = second else {
        return ConnEvent::Message(first);
    };
    bytes += second.body.len();
    let mut batch = Vec::with_capacity(8);
    batch.extend([first, second]);
    while bytes < READ_BATCH_BYTES && batch.len() < READ_BATCH {
        let Some(m) = next() else {
            break;
        };
        bytes += m.body.len();
        batch.push(m);
    }
    ConnEvent::Messages(batch)
}

impl ConnEvent {
    /// The messages it carries.
    fn messages(&self) -> impl Iterator<Item = &RawMessage> {
        let (one, many): (Option<&RawMessage>, &[RawMessage]) = match self {
            ConnEvent::Message(m) => (Some(m), &[]),
            ConnEvent::Messages(b) => (None, b),
            ConnEvent::Closed => (None, &[]),
        };
        one.into_iter().chain(many)
    }
}

/// Whether a received capabilities exchange message names an identity the
/// certificate was issued for; other messages pass.
fn identity_ok(check: &IdentityCheck, m: &RawMessage) -> bool {
    if m.header.command_code != crate::base::command::CAPABILITIES_EXCHANGE {
        return true;
    }
    crate::fields::origin_host(m).is_some_and(|h| check(&h))
}

#[derive(Debug, PartialEq, Eq)]
enum WriterEnd {
    /// The owner let go and everything queued was written.
    Done,
    /// The owner killed the connection.
    Killed,
    /// A write failed or made no progress in time.
    Failed,
}

struct Writer {
    /// The queue's byte counts, released as bytes are written.
    counts: QueueCounts,
    /// The socket as direct writers share it (see [`direct`]).
    direct: Option<Arc<DirectSocket>>,
    timeout: Duration,
    kill: Arc<Notify>,
    reader: tokio::task::AbortHandle,
    /// Bytes taken from the queue and not yet written.
    held: usize,
}

impl Writer {
    async fn run<W: AsyncWrite + HardClose + Unpin>(
        mut self,
        wr: W,
        mut rx: mpsc::UnboundedReceiver<Bytes>,
    ) -> WriterEnd {
        // However this ends (the task may be dropped), direct writes stop before the
        // write half closes the socket.
        let mut wr = direct::Closing::new(wr, self.direct.clone());
        let kill = self.kill.clone();
        let end = tokio::select! {
            biased;
            _ = kill.notified() => WriterEnd::Killed,
            end = self.pump(wr.half(), &mut rx) => end,
        };
        self.held += wr.close();
        if end != WriterEnd::Done {
            // Whatever is left is thrown away, the socket reset and the reader stopped:
            // nothing of this connection stays alive.
            wr.half().hard_close();
            self.reader.abort();
            if end == WriterEnd::Failed {
                tracing::info!(
                    "write made no progress within the write timeout or failed, closing"
                );
            }
        }
        rx.close();
        while let Ok(b) = rx.try_recv() {
            self.held += b.len();
        }
        self.release();
        drop(wr);
        end
    }

    fn release(&mut self) {
        self.counts.remove(std::mem::take(&mut self.held));
    }

    /// Writes until the queue is closed and empty; every write must make progress
    /// within the timeout.
    async fn pump<W: AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
        rx: &mut mpsc::UnboundedReceiver<Bytes>,
    ) -> WriterEnd {
        let mut pending = Chunks::new();
        let mut batch = BytesMut::new();
        while let Some(first) = rx.recv().await {
            let mut bytes = first.len();
            self.held += bytes;
            pending.push(first);
            // Gather what else is queued. When nothing else is queued yet, let the tasks
            // that are ready run first (answers of one group commit, a burst of requests):
            // they often queue more, and a burst goes out in one write instead of one
            // system call per message.
            let mut next = rx.try_recv().ok();
            if next.is_none() {
                tokio::task::yield_now().await;
                next = rx.try_recv().ok();
            }
            while let Some(b) = next.take() {
                self.held += b.len();
                bytes += b.len();
                pending.push(b);
                if bytes < WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // What a direct write left over goes first.
            if let Some(d) = &self.direct {
                let carry = d.start_write();
                self.held += carry.iter().map(|c| c.len()).sum::<usize>();
                pending.splice(0..0, carry);
                pending.retain(|c| !c.is_empty());
            }
            // One buffer: a plain write (measured cheaper than a vectored one).
            let ok = if pending.is_empty() {
                true
            } else if pending.len() == 1 {
                let one = pending.pop().unwrap_or_default();
                write_all(wr, &one, self.timeout).await
            } else if wr.is_write_vectored() {
                write_all_vectored(wr, &mut pending, self.timeout).await
            } else {
                // One buffer per write (a stream without vectored writes): gathered
                // into one, so that a burst is still one write.
                batch.clear();
                for c in pending.drain(..) {
                    batch.extend_from_slice(&c);
                }
                write_all(wr, &batch, self.timeout).await
            };
            if !ok {
                return WriterEnd::Failed;
            }
            if let Some(d) = &self.direct {
                d.end_write();
            }
            self.release();
            match tokio::time::timeout(self.timeout, wr.flush()).await {
                Ok(Ok(())) => {}
                _ => return WriterEnd::Failed,
            }
        }
        let _ = tokio::time::timeout(self.timeout, wr.shutdown()).await;
        WriterEnd::Done
    }
}

/// Writes all of `data`; false when a write fails or makes no progress for `timeout`.
async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, mut data: &[u8], timeout: Duration) -> bool {
    while !data.is_empty() {
        match tokio::time::timeout(timeout, wr.write(data)).await {
            Ok(Ok(n)) if n > 0 => data = &data[n..],
            _ => return false,
        }
    }
    true
}

/// Writes all of `chunks` with vectored writes, emptying it; false when a write fails or
/// makes no progress for `timeout`.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    wr: &mut W,
    chunks: &mut Chunks,
    timeout: Duration,
) -> bool {
    while !chunks.is_empty() {
        let written = {
            let mut iov = [std::io::IoSlice::new(&[]); outgoing::MAX_IOV];
            let n = outgoing::slices(chunks, &mut iov);
            tokio::time::timeout(timeout, wr.write_vectored(&iov[..n])).await
        };
        match written {
            Ok(Ok(n)) if n > 0 => outgoing::advance(chunks, n),
            _ => return false,
        }
    }
    true
}

/// Socket options of every TCP connection of a node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SocketOptions {
    /// TCP_USER_TIMEOUT (Linux): sent data unacknowledged this long resets the connection.
    pub(crate) user_timeout: Duration,
    /// TCP keepalive idle time (probes follow at a third of it).
    pub(crate) keepalive: Option<Duration>,
}

/// Sets TCP_NODELAY, keepalive and (on Linux) TCP_USER_TIMEOUT.
pub(crate) fn tune(stream: &TcpStream, opts: SocketOptions) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    if let Some(idle) = opts.keepalive {
        let ka = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval((idle / 3).max(Duration::from_secs(1)));
        let _ = sock.set_tcp_keepalive(&ka);
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    if !opts.user_timeout.is_zero() {
        let _ = sock.set_tcp_user_timeout(Some(opts.user_timeout));
    }
}

/// Connects over TCP (IPv4 or IPv6) with a time limit.
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    opts: SocketOptions,
) -> std::io::Result<TcpStream> {
    let s = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    tune(&s, opts);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(queue_bytes: usize, write_timeout: Duration, total: Arc<AtomicUsize>) -> ConnOptions {
        ConnOptions {
            limits: Limits::default(),
            local: Arc::new(Capabilities::default()),
            queue_bytes,
            queued_total: total,
            write_timeout,
            message_timeout: Duration::from_secs(30),
            identity: None,
            header_only: HeaderOnly::default(),
        }
    }

    /// A request of (application 4, command 272) whose second AVP claims more bytes than
    /// the message holds; as an answer when `request` is false.
    fn broken(request: bool) -> Bytes {
        let mut b = BytesMut::new();
        let flags = if request { 0xc0 } else { 0x40 };
        Header::new(272, 4, flags, 1, 2).write(&mut b);
        crate::avp::RawAvp::new(263, 0x40, 0, Bytes::from_static(b"a;1")).encode(&mut b);
        b.extend_from_slice(&[0, 0, 1, 8, 0x40, 0, 0, 64]); // Origin-Host, length 64
        let len = b.len() as u32;
        b[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
        b.freeze()
    }

    #[test]
    fn framing_checks_only_the_header_of_requests_a_typed_handler_decodes() {
        let limits = Limits::default();
        let listed = |keys: &[(u32, u32)]| HeaderOnly {
            requests: false,
            listed: keys.into(),
        };
        let e = decode_framed(broken(true), &limits, &listed(&[])).unwrap_err();
        assert_eq!(e.result_code(), 5014);
        assert!(decode_framed(broken(true), &limits, &listed(&[(4, 272)])).is_ok());
        // Another command of the application, and answers, are checked in full.
        assert!(decode_framed(broken(true), &limits, &listed(&[(4, 271)])).is_err());
        assert!(decode_framed(broken(false), &limits, &listed(&[(4, 272)])).is_err());
        // The header is always checked.
        let mut bad_version = BytesMut::from(&broken(true)[..]);
        bad_version[0] = 2;
        assert!(decode_framed(bad_version.freeze(), &limits, &listed(&[(4, 272)])).is_err());
    }

    #[test]
    fn an_agent_frames_application_requests_with_their_header_checked_only() {
        let limits = Limits::default();
        let agent = HeaderOnly {
            requests: true,
            listed: Arc::new([]),
        };
        assert!(decode_framed(broken(true), &limits, &agent).is_ok());
        // Answers, and the peer messages the state machine reads, are checked in full.
        assert!(decode_framed(broken(false), &limits, &agent).is_err());
        for command in [257u32, 280, 282] {
            let mut cer = BytesMut::from(&broken(true)[..]);
            cer[5..8].copy_from_slice(&command.to_be_bytes()[1..]);
            cer[8..12].copy_from_slice(&[0; 4]);
            let e = decode_framed(cer.freeze(), &limits, &agent).unwrap_err();
            assert_eq!(e.result_code(), 5014, "command {command}");
        }
    }

    #[test]
    fn a_batch_stops_at_its_count_or_its_bytes_and_a_lone_message_needs_no_vec() {
        let msg = |len: usize| RawMessage {
            header: Header::new(272, 4, 0x80, 1, 1),
            body: Bytes::from(vec![0u8; len]),
        };
        let count = |e: &ConnEvent| e.messages().count();
        let mut none = std::iter::empty();
        assert!(matches!(
            gather(msg(8), || none.next()),
            ConnEvent::Message(_)
        ));
        let mut many = std::iter::repeat_with(|| msg(8));
        let full = gather(msg(8), || many.next());
        assert!(matches!(full, ConnEvent::Messages(_)));
        assert_eq!(count(&full), READ_BATCH);
        // Past the bytes, no further message is taken.
        let mut big = std::iter::repeat_with(|| msg(READ_BATCH_BYTES / 2));
        assert_eq!(count(&gather(msg(8), || big.next())), 3);
        let mut left = std::iter::once(msg(8));
        assert!(matches!(
            gather(msg(READ_BATCH_BYTES), || left.next()),
            ConnEvent::Message(_)
        ));
        assert_eq!(left.count(), 1, "a full first message takes no other");
    }

    #[tokio::test]
    async fn one_read_hands_over_its_messages_at_once_and_answers_a_bad_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let (tx, mut rx) = mpsc::channel::<ConnEvent>(8);
        let total = Arc::new(AtomicUsize::new(0));
        let _conn = spawn_connection(
            ConnId(1),
            tokio::io::split(ours),
            BytesMut::new(),
            opts(1 << 20, Duration::from_secs(60), total),
            tx,
            |_, e| e,
            None,
        );
        let good = |e2e| {
            let h = Header::new(272, 4, 0x80, e2e, e2e);
            let avp = crate::avp::RawAvp::new(263, 0x40, 0, Bytes::from_static(b"a;1"));
            RawMessage::from_avps(h, &[avp]).to_bytes()
        };
        let mut wire = BytesMut::new();
        for part in [good(1), good(2), broken(true), good(3)] {
            wire.extend_from_slice(&part);
        }
        theirs.write_all(&wire).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        let Ok(Some(ConnEvent::Messages(batch))) = got else {
            panic!("expected one batch, got {got:?}");
        };
        let ids: Vec<u32> = batch.iter().map(|m| m.header.end_to_end).collect();
        assert_eq!(ids, [1, 2, 3]);
        // The undecodable request in between was answered 5014 (a permanent failure).
        let mut head = [0u8; 20];
        theirs.read_exact(&mut head).await.unwrap();
        let h = Header::parse_unchecked(&head).unwrap();
        let mut body = vec![0u8; h.length as usize - 20];
        theirs.read_exact(&mut body).await.unwrap();
        let answer = RawMessage {
            header: h,
            body: body.into(),
        };
        assert!(!answer.header.is_request());
        assert_eq!(answer.header.end_to_end, 2);
        assert_eq!(crate::fields::result_code(&answer), Some(5014));
    }

    /// A peer that never reads: its end of a small in-memory pipe is kept and ignored.
    fn stalled() -> (
        (
            tokio::io::ReadHalf<tokio::io::DuplexStream>,
            tokio::io::WriteHalf<tokio::io::DuplexStream>,
        ),
        tokio::io::DuplexStream,
    ) {
        let (ours, theirs) = tokio::io::duplex(256);
        (tokio::io::split(ours), theirs)
    }

    /// A connection over `halves` with a write queue of `queue_bytes`, counted in `total`,
    /// and the receiver of its events.
    fn connection<R, W>(
        halves: (R, W),
        queue_bytes: usize,
        write_timeout: Duration,
        total: &Arc<AtomicUsize>,
    ) -> (ConnHandle, mpsc::Receiver<ConnEvent>)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + HardClose + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<ConnEvent>(8);
        let options = opts(queue_bytes, write_timeout, total.clone());
        let conn = spawn_connection(
            ConnId(1),
            halves,
            BytesMut::new(),
            options,
            tx,
            |_, e| e,
            None,
        );
        (conn, rx)
    }

    async fn settle(total: &AtomicUsize) {
        for _ in 0..200 {
            if total.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn queue_is_bounded_in_bytes_and_kill_frees_it() {
        let total = Arc::new(AtomicUsize::new(0));
        let (halves, _peer) = stalled();
        let (conn, _rx) = connection(halves, 10_000, Duration::from_secs(60), &total);
        let msg = Bytes::from(vec![0u8; 1000]);
        let mut sent = 0;
        let full = loop {
            match conn.queue.try_send(msg.clone()) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100, "never full");
        };
        assert_eq!(full, QueueError::Full);
        assert!(conn.queue.queued() <= 10_000);
        assert!(total.load(Ordering::Acquire) <= 10_000);
        let queue = conn.queue.clone();
        conn.kill();
        settle(&total).await;
        assert_eq!(total.load(Ordering::Acquire), 0);
        assert_eq!(queue.try_send(msg), Err(QueueError::Closed));
    }

    /// Bursts of small and large messages queued at once, as the peer task queues them.
    fn bursts() -> (Vec<Vec<Bytes>>, Vec<u8>) {
        let mut all = Vec::new();
        let mut bursts = Vec::new();
        for round in 0..40u32 {
            let mut burst = outgoing::Burst::default();
            for (i, size) in [8usize, 600, 0, 3000, 100].into_iter().enumerate() {
                let body = Bytes::from(vec![(round as u8).wrapping_add(i as u8); size]);
                let msg = RawMessage {
                    header: Header::new(272, 4, 0, round, i as u32),
                    body,
                };
                all.extend_from_slice(&msg.to_bytes());
                burst.push(msg);
            }
            bursts.push(burst.into_chunks().collect());
        }
        (bursts, all)
    }

    /// Queues [`bursts`] on a connection over `halves` and reads them at `peer`.
    async fn written<R, W, P>(halves: (R, W), mut peer: P)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + HardClose + Unpin + Send + 'static,
        P: AsyncRead + Unpin,
    {
        let total = Arc::new(AtomicUsize::new(0));
        let (conn, _rx) = connection(halves, 1 << 20, Duration::from_secs(5), &total);
        let (bursts, expected) = bursts();
        for b in bursts {
            let n = b.iter().map(Bytes::len).sum();
            conn.queue.try_send_all(n, b.into_iter()).unwrap();
        }
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut got))
            .await
            .expect("written in time")
            .unwrap();
        assert!(
            got == expected,
            "the bytes written are the messages, in order"
        );
        settle(&total).await;
        assert_eq!(total.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn bursts_go_out_whole_and_in_order_with_and_without_vectored_writes() {
        // TCP writes vectored; a duplex stream does not (its bursts are gathered).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (theirs, _) = listener.accept().await.unwrap();
        assert!(ours.is_write_vectored());
        written(ours.into_split(), theirs).await;
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        written(tokio::io::split(ours), theirs).await;
    }

    #[tokio::test]
    async fn write_without_progress_closes_the_connection() {
        let total = Arc::new(AtomicUsize::new(0));
        let (halves, _peer) = stalled();
        let (conn, mut rx) = connection(halves, 1 << 20, Duration::from_millis(100), &total);
        conn.queue.try_send(Bytes::from(vec![0u8; 4096])).unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("closed in time");
        assert!(matches!(ev, Some(ConnEvent::Closed)));
        settle(&total).await;
        assert_eq!(total.load(Ordering::Acquire), 0);
        assert_eq!(
            conn.queue.try_send(Bytes::from_static(b"x")),
            Err(QueueError::Closed)
        );
    }

    #[tokio::test]
    async fn a_dripped_message_times_out() {
        let (mut ours, mut theirs) = tokio::io::duplex(1024);
        let caps = Capabilities::default();
        let drip = tokio::spawn(async move {
            // A header announcing 64 bytes, then one byte at a time.
            let mut h = vec![1u8, 0, 0, 64, 0x80, 0, 1, 16, 0, 0, 0, 0];
            h.extend_from_slice(&[0; 8]);
            theirs.write_all(&h).await.unwrap();
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if theirs.write_all(&[0]).await.is_err() {
                    return;
                }
            }
        });
        let mut buf = BytesMut::new();
        let started = Instant::now();
        let r = read_message(
            &mut ours,
            &mut buf,
            &Limits::default(),
            &caps,
            None,
            Some(Duration::from_millis(200)),
            &HeaderOnly::default(),
        )
        .await;
        assert!(matches!(r, Err(ReadError::TimedOut)), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(700));
        drip.abort();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn sockets_get_user_timeout_and_keepalive() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let opts = SocketOptions {
            user_timeout: Duration::from_secs(7),
            keepalive: Some(Duration::from_secs(21)),
        };
        let s = connect(l.local_addr().unwrap(), Duration::from_secs(5), opts)
            .await
            .unwrap();
        let sock = socket2::SockRef::from(&s);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(7))
        );
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(21));
        assert!(s.nodelay().unwrap());
    }
}
