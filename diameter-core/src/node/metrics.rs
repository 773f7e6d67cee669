//! Counters of a node in Prometheus text format (exposition format 0.0.4), and a tiny
//! HTTP/1.1 responder serving them on `GET /metrics`.
//!
//! | metric | labels |
//! | --- | --- |
//! | `diameter_requests_total` | `direction` (`in` received, `out` sent), `application`, `command` |
//! | `diameter_answers_total` | `direction`, `command`, `result_code` (`none` without one) |
//! | `diameter_request_duration_seconds` (histogram) | `direction` (`out`: send to answer; `in`: receipt to answer), `command` |
//! | `diameter_peer_state_changes_total` | `peer`, `state` (`up`, `suspect`, `available`, `down`) |
//! | `diameter_peer_up` (gauge) | `peer` |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Upper bounds of the latency buckets, in seconds.
pub(crate) const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Whether a message was received or sent by this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Direction {
    /// Requests received and the answers we sent to them.
    In,
    /// Requests we sent and the answers we received.
    Out,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct State {
    requests: BTreeMap<(Direction, u32, u32), u64>,
    answers: BTreeMap<(Direction, u32, Option<u32>), u64>,
    latency: BTreeMap<(Direction, u32), Histogram>,
    peer_changes: BTreeMap<(String, &'static str), u64>,
    peer_up: BTreeMap<String, bool>,
}

/// The counters of one node.
#[derive(Default)]
pub(crate) struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request of (application, command) received or sent.
    pub(crate) fn request(&self, dir: Direction, application: u32, command: u32) {
        *self
            .state()
            .requests
            .entry((dir, application, command))
            .or_default() += 1;
    }

    /// An answer received or sent, with its Result-Code and (when known) the time since
    /// its request.
    pub(crate) fn answer(
        &self,
        dir: Direction,
        command: u32,
        result_code: Option<u32>,
        latency: Option<Duration>,
    ) {
        let mut s = self.state();
        *s.answers.entry((dir, command, result_code)).or_default() += 1;
        if let Some(l) = latency {
            let secs = l.as_secs_f64();
            let h = s.latency.entry((dir, command)).or_default();
            h.count += 1;
            h.sum += secs;
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                h.counts[i] += 1;
            }
        }
    }

    /// A peer changed state (`up`, `suspect`, `available`, `down`).
    pub(crate) fn peer_state(&self, peer: &str, state: &'static str, up: bool) {
        let mut s = self.state();
        *s.peer_changes
            .entry((peer.to_ascii_lowercase(), state))
            .or_default() += 1;
        s.peer_up.insert(peer.to_ascii_lowercase(), up);
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let s = self.state();
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP diameter_requests_total Diameter requests by direction, application and command.\n");
        out.push_str("# TYPE diameter_requests_total counter\n");
        for ((d, app, cmd), n) in &s.requests {
            let _ = writeln!(
                out,
                "diameter_requests_total{{direction=\"{}\",application=\"{app}\",command=\"{cmd}\"}} {n}",
                d.label()
            );
        }
        out.push_str(
            "# HELP diameter_answers_total Diameter answers by direction, command and Result-Code.\n",
        );
        out.push_str("# TYPE diameter_answers_total counter\n");
        for ((d, cmd, rc), n) in &s.answers {
            let rc = rc.map_or_else(|| "none".to_owned(), |c| c.to_string());
            let _ = writeln!(
                out,
                "diameter_answers_total{{direction=\"{}\",command=\"{cmd}\",result_code=\"{rc}\"}} {n}",
                d.label()
            );
        }
        out.push_str("# HELP diameter_request_duration_seconds Time from request to answer.\n");
        out.push_str("# TYPE diameter_request_duration_seconds histogram\n");
        for ((d, cmd), h) in &s.latency {
            let labels = format!("direction=\"{}\",command=\"{cmd}\"", d.label());
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "diameter_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "diameter_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "diameter_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "diameter_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP diameter_peer_state_changes_total Peer state changes.\n");
        out.push_str("# TYPE diameter_peer_state_changes_total counter\n");
        for ((peer, state), n) in &s.peer_changes {
            let _ = writeln!(
                out,
                "diameter_peer_state_changes_total{{peer=\"{}\",state=\"{state}\"}} {n}",
                escape(peer)
            );
        }
        out.push_str("# HELP diameter_peer_up Whether the peer is open and available.\n");
        out.push_str("# TYPE diameter_peer_up gauge\n");
        for (peer, up) in &s.peer_up {
            let _ = writeln!(
                out,
                "diameter_peer_up{{peer=\"{}\"}} {}",
                escape(peer),
                u8::from(*up)
            );
        }
        out
    }
}

/// Escapes a label value (peer names come from the network).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Scrapes served at once; further connections wait in the accept queue.
const MAX_SCRAPES: usize = 8;
/// The longest request head we read.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` (and `GET /`) on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("metrics accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(HEAD_TIMEOUT, respond(stream, &metrics)).await;
            drop(permit);
        });
    }
}

async fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return write_response(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split(|b| *b == b'?').next().unwrap_or_default());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics" | b"/")) => {
            write_response(&mut stream, "200 OK", &metrics.render()).await
        }
        (Some(b"GET"), _) => write_response(&mut stream, "404 Not Found", "not found\n").await,
        _ => write_response(&mut stream, "405 Method Not Allowed", "").await,
    }
}

async fn write_response(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Binds the metrics endpoint.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
