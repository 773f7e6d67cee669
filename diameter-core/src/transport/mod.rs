//! The TCP and TLS transport (tokio): length-prefixed framing with
//! [`crate::message::frame_len`] and one reader and one writer task per connection. The
//! only module that touches sockets.
//!
//! The writer batches: whatever is queued when it wakes goes out in one write (one TLS
//! record, one system call), up to [`WRITE_BATCH`] bytes.
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
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[cfg(feature = "tls")]
pub(crate) mod tls;

/// The most bytes the writer gathers into one write.
pub(crate) const WRITE_BATCH: usize = 64 * 1024;

/// Free space the reader keeps in its buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

/// What a connection's reader reports.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// A decoded message.
    Message(RawMessage),
    /// The connection closed or failed.
    Closed,
}

/// The owner's end of a connection: the write queue and the reader task. Dropping it
/// closes the connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub(crate) id: ConnId,
    pub(crate) tx: mpsc::Sender<Bytes>,
    reader: Option<JoinHandle<()>>,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            r.abort();
        }
    }
}

/// Why the next message could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// End of stream or an I/O error.
    Closed,
    /// The stream cannot be framed; the answer (if the header was readable) is included.
    Unframeable(Option<RawMessage>),
}

/// Reads one framed message. Messages that frame but fail to decode are answered on
/// `answers` (when they are requests) and skipped.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    limits: &Limits,
    local: &Capabilities,
    answers: Option<&mpsc::Sender<Bytes>>,
) -> Result<RawMessage, ReadError> {
    let origin = Origin {
        host: &local.origin_host,
        realm: &local.origin_realm,
    };
    loop {
        match frame_len(buf, limits) {
            Ok(Some(n)) if buf.len() >= n => {
                let bytes = buf.split_to(n).freeze();
                match RawMessage::decode(bytes.clone(), limits) {
                    Ok(m) => return Ok(m),
                    Err(e) => {
                        if let (Some(req), Some(tx)) = (as_request(&bytes), answers) {
                            let _ = tx.try_send(error_answer(&req, &origin, &e).to_bytes());
                        }
                    }
                }
            }
            Ok(_) => {
                if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                    buf.reserve(READ_CHUNK);
                }
                let n = rd.read_buf(buf).await.map_err(|_| ReadError::Closed)?;
                if n == 0 {
                    return Err(ReadError::Closed);
                }
            }
            Err(e) => {
                let answer = as_request(buf).map(|req| error_answer(&req, &origin, &e));
                return Err(ReadError::Unframeable(answer));
            }
        }
    }
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
    /// Messages queued for writing.
    pub(crate) queue_len: usize,
    /// Over TLS: a check of the Origin-Host of a received CEA against the peer's
    /// certificate; a mismatch closes the connection.
    pub(crate) identity: Option<IdentityCheck>,
}

/// Checks that a DiameterIdentity is one the peer's certificate was issued for.
pub(crate) type IdentityCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Starts the reader and writer tasks of a connection. Events go to `events` tagged with
/// `id`; `wrap` turns them into the owner's message type. `buf` holds bytes already read.
pub(crate) fn spawn_connection<M, R, W>(
    id: ConnId,
    (rd, wr): (R, W),
    buf: BytesMut,
    opts: ConnOptions,
    events: mpsc::Sender<M>,
    wrap: fn(ConnId, ConnEvent) -> M,
    guard: Option<tokio::sync::OwnedSemaphorePermit>,
) -> ConnHandle
where
    M: Send + 'static,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let ConnOptions {
        limits,
        local,
        queue_len,
        identity,
    } = opts;
    let (tx, rx) = mpsc::channel::<Bytes>(queue_len.max(1));
    tokio::spawn(write_loop(wr, rx));
    let answers = tx.clone();
    let reader = tokio::spawn(async move {
        let _guard = guard;
        let (mut rd, mut buf) = (rd, buf);
        loop {
            match read_message(&mut rd, &mut buf, &limits, &local, Some(&answers)).await {
                Ok(m) => {
                    if let Some(check) = &identity {
                        if !identity_ok(check, &m) {
                            tracing::warn!("CEA Origin-Host does not match the peer certificate");
                            drop(answers);
                            let _ = events.send(wrap(id, ConnEvent::Closed)).await;
                            return;
                        }
                    }
                    if events.send(wrap(id, ConnEvent::Message(m))).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if let ReadError::Unframeable(Some(answer)) = e {
                        let _ = answers.send(answer.to_bytes()).await;
                    }
                    drop(answers);
                    let _ = events.send(wrap(id, ConnEvent::Closed)).await;
                    return;
                }
            }
        }
    });
    ConnHandle {
        id,
        tx,
        reader: Some(reader),
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

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch = BytesMut::new();
    while let Some(first) = rx.recv().await {
        // Gather what else is queued; a lone message is written without a copy.
        let mut next = rx.try_recv().ok();
        if next.is_none() {
            if wr.write_all(&first).await.is_err() {
                return;
            }
        } else {
            batch.clear();
            batch.extend_from_slice(&first);
            while let Some(b) = next.take() {
                batch.extend_from_slice(&b);
                if batch.len() < WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if wr.write_all(&batch).await.is_err() {
                return;
            }
        }
        if wr.flush().await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// Connects over TCP (IPv4 or IPv6) with a time limit.
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<TcpStream> {
    let s = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = s.set_nodelay(true);
    Ok(s)
}
