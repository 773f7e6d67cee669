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
//! Path segments are percent-encoded (a Session-Id contains `;`). The reauth body is
//! optional JSON naming what to re-authorize (RFC 8506 §5.5; default the whole session):
//! `{"rating_group": 100, "service_identifier": 1, "g_s_u_pool_identifier": 7,
//! "cc_sub_session_id": 2}`, any of them. The deregister body is
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
//! # Trust
//!
//! Every request must carry `Authorization: Bearer TOKEN` (else 401). The token is
//! [`AdminConfig::token`]: the CLI reads it from a file, generated at the server's first
//! start into its data directory (see [`token`]), compared in constant time. Requests a
//! browser could send on behalf of a web page are refused: any request with an `Origin`
//! header (browsers send it on every cross-site POST) or a `Sec-Fetch-Site` other than
//! `none` is 403; `OPTIONS` (CORS preflight) is 405; a state-changing request (any method
//! but `GET`) must have `Content-Type: application/json` (else 415), which a page cannot
//! send cross-site without a preflight; no response carries CORS headers. The endpoint
//! binds loopback addresses only unless [`AdminConfig::allow_remote`] is set.
//!
//! Requests are bounded by [`AdminConfig`]: the head, header count and body by
//! [`http::HttpLimits`] (8 KiB, 64 headers, 256 KiB), reading by
//! [`AdminConfig::read_timeout`] (5 s), an action by [`AdminConfig::action_timeout`]
//! (30 s), and [`AdminConfig::max_connections`] (8) at once.

pub mod http;
mod routes;
pub mod token;

pub use routes::parse_reason;

use crate::ocs::OcsHandle;
use crate::sip::SipHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Default of [`AdminConfig::max_connections`]: connections served at once; further ones
/// wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 8;
/// Default of [`AdminConfig::read_timeout`]: time a client has to send its whole request
/// (past it, 408).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Default of [`AdminConfig::action_timeout`]: time an operator action may take (the
/// request to the peer and its answer); past it the endpoint answers 502.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// How the endpoint authenticates and what it bounds.
#[derive(Clone)]
#[non_exhaustive]
pub struct AdminConfig {
    /// The bearer token every request must present ([`token::check`]: at least
    /// [`token::MIN_LEN`] visible characters).
    pub token: String,
    /// Whether a non-loopback address may be bound (default false: [`start`] refuses it).
    /// The token then travels in clear text over plain HTTP.
    pub allow_remote: bool,
    /// Parser limits (default [`http::HttpLimits::default`]).
    pub limits: http::HttpLimits,
    /// Time to read a request (default [`READ_TIMEOUT`]).
    pub read_timeout: Duration,
    /// Time an action may take (default [`ACTION_TIMEOUT`]).
    pub action_timeout: Duration,
    /// Connections served at once (default [`MAX_CONNECTIONS`]).
    pub max_connections: usize,
}

impl AdminConfig {
    /// The defaults with this token.
    pub fn new(token: impl Into<String>) -> Self {
        AdminConfig {
            token: token.into(),
            allow_remote: false,
            limits: http::HttpLimits::default(),
            read_timeout: READ_TIMEOUT,
            action_timeout: ACTION_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &"<redacted>")
            .field("allow_remote", &self.allow_remote)
            .field("limits", &self.limits)
            .field("read_timeout", &self.read_timeout)
            .field("action_timeout", &self.action_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

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

/// Binds `addr` and serves the endpoint for `target` until [`AdminServer::stop`]. Refuses
/// (`PermissionDenied`) a non-loopback address unless [`AdminConfig::allow_remote`], and
/// (`InvalidInput`) a token that [`token::check`] refuses.
pub async fn start(
    addr: SocketAddr,
    target: Target,
    config: AdminConfig,
) -> std::io::Result<AdminServer> {
    token::check(&config.token)
        .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
    if !addr.ip().is_loopback() {
        if !config.allow_remote {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{addr} is not a loopback address"),
            ));
        }
        tracing::warn!(%addr, "admin endpoint on a non-loopback address: the bearer token travels over plain HTTP");
    }
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(serve(listener, target, Arc::new(config), stopped));
    Ok(AdminServer { addr, stop, task })
}

async fn serve(
    listener: TcpListener,
    target: Target,
    config: Arc<AdminConfig>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
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
        let config = config.clone();
        tasks.spawn(async move {
            routes::connection(stream, &target, &config).await;
            drop(permit);
        });
    }
    tasks.shutdown().await;
}
