//! The admin endpoint of `diameter serve ocs|sip --admin ADDR`: operator actions over a
//! small HTTP/1.1 API that make the server send a request to a client and report its answer.
//!
//! | Request | Server | Diameter |
//! |---|---|---|
//! | `POST /ocs/sessions/{session-id}/reauth` | OCS | RAR (AUTHORIZE_ONLY) → RAA |
//! | `POST /ocs/sessions/{session-id}/abort` | OCS | ASR → ASA |
//! | `POST /sip/users/{user}/deregister` | SIP AAA | RTR → RTA, to each serving SIP server |
//! | `POST /sip/users/{user}/profile` | SIP AAA | PPR → PPA, to each serving SIP server |
//! | `GET /` | both | which server this is and its endpoints |
//!
//! Path segments are percent-encoded (a Session-Id contains `;`). The deregister body is
//! optional JSON `{"reason": "PERMANENT_TERMINATION", "text": "...", "aors": ["sip:..."]}`
//! (reason: a SIP-Reason-Code name or number; no aors means all of the user's); the profile
//! body is JSON `{"profile": [{"type": "application/xml", "contents": "..."}],
//! "accounting_servers": ["aaa://..."], "credit_control_servers": ["aaa://..."]}`, where a
//! missing `profile` keeps the stored profile and missing addresses keep the stored ones.
//!
//! Answers are JSON: 200 `{"request": "RAR", "answer": "RAA", "result_code": 2002,
//! "result": "DIAMETER_LIMITED_SUCCESS", ...}` once the peer answered (whatever its
//! Result-Code; the SIP actions also list `answers`, one per SIP server); 404 for an unknown
//! session or user; 409 for a SIP user that no SIP server serves; 502 when the peer did not
//! answer; 400 for a bad request; errors carry `{"error": "..."}`.
//!
//! The endpoint has no authentication: bind it to loopback (the CLI's default for a bare
//! port). Requests are bounded: the head to [`http::MAX_HEAD`] bytes, the body to
//! [`http::MAX_BODY`], reading to [`READ_TIMEOUT`], [`MAX_CONNECTIONS`] at once.

pub mod http;
mod routes;

pub use routes::parse_reason;

use crate::ocs::OcsHandle;
use crate::sip::SipHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connections served at once; further ones wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 8;
/// Time a client has to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time an operator action may take (the request to the peer and its answer); past it the
/// endpoint answers 502.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The server whose operator actions the endpoint exposes.
#[derive(Clone)]
pub enum Target {
    /// The online charging server: `/ocs/...`.
    Ocs(Arc<OcsHandle>),
    /// The SIP AAA server: `/sip/...`.
    Sip(Arc<SipHandle>),
}

/// A running admin endpoint.
pub struct AdminServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends the requests in progress and waits until every reference to
    /// the [`Target`] held by them is dropped.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Binds `addr` and serves the endpoint for `target` until [`AdminServer::stop`].
pub async fn start(addr: SocketAddr, target: Target) -> std::io::Result<AdminServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "admin endpoint on a non-loopback address: it has no authentication");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(serve(listener, target, stopped));
    Ok(AdminServer { addr, stop, task })
}

async fn serve(
    listener: TcpListener,
    target: Target,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        // Reap finished connections so the set stays small.
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut stopped => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("admin accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let target = target.clone();
        tasks.spawn(async move {
            routes::connection(stream, &target).await;
            drop(permit);
        });
    }
    tasks.shutdown().await;
}
