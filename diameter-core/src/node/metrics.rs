//! The node's metrics, kept with [`prometheus_client`] and served in the OpenMetrics text
//! format (which Prometheus scrapes), by a tiny HTTP/1.1 responder on `GET /metrics`.
//!
//! | metric | labels |
//! | --- | --- |
//! | `diameter_requests_total` | `direction` (`in` received, `out` sent), `application`, `command` |
//! | `diameter_answers_total` | `direction`, `command`, `result_code` |
//! | `diameter_request_duration_seconds` (histogram) | `direction` (`out`: send to answer; `in`: receipt to answer), `command` |
//! | `diameter_peer_state_changes_total` | `peer`, `state` (`up`, `suspect`, `available`, `down`) |
//! | `diameter_peer_up` (gauge) | `peer` |
//!
//! **Bounded labels.** Codes come from the network, so only known ones are labelled by
//! number ([`Labelling`]): an `application` the node advertises, has handlers or routes for,
//! declared with [`super::NodeBuilder::metrics_applications`], or 0 (the base protocol); a
//! `command` of the base protocol (CER, RAR, ACR, ASR, STR,
//! DWR, DPR), with a handler, or declared with [`super::NodeBuilder::metrics_commands`]
//! (for requests the node only sends). Anything else is `other`. A `result_code` is its
//! number for the base protocol's codes (RFC 6733 §7.1) and those declared with
//! [`super::NodeBuilder::metrics_result_codes`], else its class (`1xxx` to `5xxx`), `other`
//! outside 1000-5999, or `none` without one. A peer's series are deleted when it leaves
//! (a peer that connected to us and whose connection is gone); configured peers keep
//! theirs, with `diameter_peer_up` 0 while down. So the series count is bounded by the
//! configuration and the connected peers, whatever peers send.
//!
//! **No global lock.** The label combinations of requests, answers and latencies are
//! known at build time, so each has a slot in a fixed table that is filled once with the
//! metric's handle (the family's write lock is taken then, once per combination); after
//! that, recording is an index computation and atomic adds. Latency histograms are
//! atomic too ([`Latency`]). Peer state changes, which are rare, go through the family.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Upper bounds of the latency buckets, in seconds.
pub(crate) const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Commands of the base protocol (RFC 6733 §3.1), always labelled by number.
pub(crate) const BASE_COMMANDS: [u32; 7] = [257, 258, 271, 274, 275, 280, 282];

/// The Result-Codes of the base protocol (RFC 6733 §7.1), always labelled by number.
fn base_result_codes() -> impl Iterator<Item = u32> {
    std::iter::once(1001)
        .chain(2001..=2002)
        .chain(3001..=3012)
        .chain(4001..=4003)
        .chain(5001..=5017)
}

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
    fn index(self) -> usize {
        match self {
            Direction::In => 0,
            Direction::Out => 1,
        }
    }
}

/// The codes labelled by number; everything else folds (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Labelling {
    applications: Codes,
    commands: Codes,
    result_codes: Codes,
}

/// Known codes, sorted (a code's label slot is its position), found through a direct table
/// where they are dense: every answer looks up its command and Result-Code, every request
/// its application and command.
#[derive(Clone, Debug, Default)]
struct Codes {
    sorted: Vec<u32>,
    /// The first code of the table.
    low: u32,
    /// Position of code `low + i`, or `u16::MAX` for a code not known.
    direct: Box<[u16]>,
}

impl Codes {
    /// `codes` with a table for `low..low + span`.
    fn new(codes: impl IntoIterator<Item = u32>, low: u32, span: u32) -> Self {
        let mut sorted: Vec<u32> = codes.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        // Positions past `u16` (never in a real dictionary) are left to the search.
        let span = if sorted.len() < usize::from(u16::MAX) {
            span
        } else {
            0
        };
        let mut direct = vec![u16::MAX; span as usize].into_boxed_slice();
        for (i, &c) in sorted.iter().enumerate() {
            if let Some(slot) = direct.get_mut(c.wrapping_sub(low) as usize) {
                *slot = i as u16;
            }
        }
        Codes {
            sorted,
            low,
            direct,
        }
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The label slot of `code`: its position, or the one past the known codes.
    #[inline]
    fn slot(&self, code: u32) -> usize {
        self.find(code).unwrap_or(self.len())
    }

    fn get(&self, i: usize) -> Option<&u32> {
        self.sorted.get(i)
    }

    /// The position of `code`, if known.
    #[inline]
    fn find(&self, code: u32) -> Option<usize> {
        match self.direct.get(code.wrapping_sub(self.low) as usize) {
            Some(&i) => (i != u16::MAX).then_some(usize::from(i)),
            None => self.sorted.binary_search(&code).ok(),
        }
    }
}

/// Result-Code label slots after the known codes: five classes, `other`, `none`.
const RC_EXTRA: usize = 7;

impl Labelling {
    /// Known applications, commands and result codes (base protocol ones are added).
    pub(crate) fn new(
        applications: impl IntoIterator<Item = u32>,
        commands: impl IntoIterator<Item = u32>,
        result_codes: impl IntoIterator<Item = u32>,
    ) -> Self {
        Labelling {
            applications: Codes::new(std::iter::once(0).chain(applications), 0, 64),
            commands: Codes::new(BASE_COMMANDS.into_iter().chain(commands), 256, 256),
            result_codes: Codes::new(base_result_codes().chain(result_codes), 1000, 5000),
        }
    }

    fn application(&self, code: u32) -> usize {
        self.applications.slot(code)
    }
    fn command(&self, code: u32) -> usize {
        self.commands.slot(code)
    }
    fn result_code(&self, code: Option<u32>) -> usize {
        let n = self.result_codes.len();
        match code {
            None => n + 6,
            Some(c) => match self.result_codes.find(c) {
                Some(i) => i,
                None if (1000..6000).contains(&c) => n + (c / 1000 - 1) as usize,
                None => n + 5,
            },
        }
    }
    fn application_label(&self, i: usize) -> String {
        self.applications
            .get(i)
            .map_or_else(|| "other".into(), u32::to_string)
    }
    fn command_label(&self, i: usize) -> String {
        self.commands
            .get(i)
            .map_or_else(|| "other".into(), u32::to_string)
    }
    fn result_code_label(&self, i: usize) -> String {
        let n = self.result_codes.len();
        match self.result_codes.get(i) {
            Some(c) => c.to_string(),
            None => match i - n {
                k @ 0..=4 => format!("{}xxx", k + 1),
                5 => "other".into(),
                _ => "none".into(),
            },
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    direction: &'static str,
    application: String,
    command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    direction: &'static str,
    command: String,
    result_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    direction: &'static str,
    command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerStateLabels {
    peer: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

/// A latency histogram over [`BUCKETS`] recorded with atomic adds only (the histogram of
/// `prometheus_client` takes a mutex per observation).
#[derive(Clone, Debug, Default)]
pub(crate) struct Latency(Arc<LatencyInner>);

#[derive(Debug, Default)]
struct LatencyInner {
    /// Observations per bucket, the last one past the largest bound (+Inf).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&self.0.buckets)
            .map(|(b, n)| (b, n.load(Ordering::Relaxed)))
            .collect();
        // The count is the sum of the buckets, so that +Inf always equals it.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Adds an application's metrics to the node's registry
/// ([`super::NodeBuilder::metrics_registry`]).
pub(crate) type Registrar = Box<dyn FnOnce(&mut Registry) + Send>;

/// The metrics of one node.
pub(crate) struct Metrics {
    registry: Registry,
    labels: Labelling,
    requests: Family<RequestLabels, Counter>,
    answers: Family<AnswerLabels, Counter>,
    latency: Family<LatencyLabels, Latency>,
    peer_changes: Family<PeerStateLabels, Counter>,
    peer_up: Family<PeerLabels, Gauge>,
    /// `[direction][application][command]`, filled on first use.
    request_slots: Box<[OnceLock<Counter>]>,
    /// `[direction][command][result code]`.
    answer_slots: Box<[OnceLock<Counter>]>,
    /// `[direction][command]`.
    latency_slots: Box<[OnceLock<Latency>]>,
}

fn slots<T>(n: usize) -> Box<[OnceLock<T>]> {
    (0..n).map(|_| OnceLock::new()).collect()
}

impl Metrics {
    /// Metrics labelling these codes by number.
    /// `registrars` add the application's own metrics (see
    /// [`super::NodeBuilder::metrics_registry`]).
    pub(crate) fn new(labels: Labelling, registrars: Vec<Registrar>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let answers = Family::<AnswerLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Latency>::default();
        let peer_changes = Family::<PeerStateLabels, Counter>::default();
        let peer_up = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "diameter_requests",
            "Diameter requests by direction, application and command",
            requests.clone(),
        );
        registry.register(
            "diameter_answers",
            "Diameter answers by direction, command and Result-Code",
            answers.clone(),
        );
        registry.register(
            "diameter_request_duration_seconds",
            "Time from request to answer",
            latency.clone(),
        );
        registry.register(
            "diameter_peer_state_changes",
            "Peer state changes",
            peer_changes.clone(),
        );
        registry.register(
            "diameter_peer_up",
            "Whether the peer is open and available",
            peer_up.clone(),
        );
        for register in registrars {
            register(&mut registry);
        }
        let apps = labels.applications.len() + 1;
        let cmds = labels.commands.len() + 1;
        let rcs = labels.result_codes.len() + RC_EXTRA;
        Metrics {
            registry,
            request_slots: slots(2 * apps * cmds),
            answer_slots: slots(2 * cmds * rcs),
            latency_slots: slots(2 * cmds),
            labels,
            requests,
            answers,
            latency,
            peer_changes,
            peer_up,
        }
    }

    /// A request of (application, command) received or sent.
    pub(crate) fn request(&self, dir: Direction, application: u32, command: u32) {
        let (a, c) = (
            self.labels.application(application),
            self.labels.command(command),
        );
        let apps = self.labels.applications.len() + 1;
        let cmds = self.labels.commands.len() + 1;
        let slot = &self.request_slots[(dir.index() * apps + a) * cmds + c];
        slot.get_or_init(|| {
            self.requests.get_or_create_owned(&RequestLabels {
                direction: dir.label(),
                application: self.labels.application_label(a),
                command: self.labels.command_label(c),
            })
        })
        .inc();
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
        let c = self.labels.command(command);
        let r = self.labels.result_code(result_code);
        let cmds = self.labels.commands.len() + 1;
        let rcs = self.labels.result_codes.len() + RC_EXTRA;
        let slot = &self.answer_slots[(dir.index() * cmds + c) * rcs + r];
        slot.get_or_init(|| {
            self.answers.get_or_create_owned(&AnswerLabels {
                direction: dir.label(),
                command: self.labels.command_label(c),
                result_code: self.labels.result_code_label(r),
            })
        })
        .inc();
        if let Some(l) = latency {
            let slot = &self.latency_slots[dir.index() * cmds + c];
            slot.get_or_init(|| {
                self.latency.get_or_create_owned(&LatencyLabels {
                    direction: dir.label(),
                    command: self.labels.command_label(c),
                })
            })
            .observe(l);
        }
    }

    /// A peer changed state (`up`, `suspect`, `available`, `down`).
    pub(crate) fn peer_state(&self, peer: &str, state: &'static str, up: bool) {
        let peer = peer.to_ascii_lowercase();
        self.peer_changes
            .get_or_create(&PeerStateLabels {
                peer: peer.clone(),
                state,
            })
            .inc();
        self.peer_up
            .get_or_create(&PeerLabels { peer })
            .set(i64::from(up));
    }

    /// A peer left the node (it was not configured and its connection is gone): its series
    /// are deleted.
    pub(crate) fn peer_removed(&self, peer: &str) {
        let peer = peer.to_ascii_lowercase();
        for state in ["up", "available", "suspect", "down"] {
            self.peer_changes.remove(&PeerStateLabels {
                peer: peer.clone(),
                state,
            });
        }
        self.peer_up.remove(&PeerLabels { peer });
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!("metrics encoding failed: {e}");
        }
        out
    }
}

/// The content type of [`Metrics::render`].
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\n\
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fold_unknown_codes() {
        let l = Labelling::new([4], [272], [4012]);
        let app = |c| l.application_label(l.application(c));
        let cmd = |c| l.command_label(l.command(c));
        let rc = |c| l.result_code_label(l.result_code(c));
        assert_eq!(
            (app(0), app(4), app(5), app(u32::MAX)),
            ("0".into(), "4".into(), "other".into(), "other".into())
        );
        assert_eq!(
            (cmd(257), cmd(272), cmd(273)),
            ("257".into(), "272".into(), "other".into())
        );
        assert_eq!(rc(Some(2001)), "2001");
        assert_eq!(rc(Some(4012)), "4012");
        assert_eq!(rc(Some(4013)), "4xxx");
        assert_eq!(rc(Some(1999)), "1xxx");
        assert_eq!(rc(Some(5999)), "5xxx");
        assert_eq!(rc(Some(6000)), "other");
        assert_eq!(rc(Some(0)), "other");
        assert_eq!(rc(None), "none");
        // Codes past the direct tables are found by search.
        let wide = Labelling::new([16_777_238], [8_388_620], [6_000_001]);
        assert_eq!(
            wide.application_label(wide.application(16_777_238)),
            "16777238"
        );
        assert_eq!(
            wide.application_label(wide.application(16_777_237)),
            "other"
        );
        assert_eq!(wide.command_label(wide.command(8_388_620)), "8388620");
        assert_eq!(wide.command_label(wide.command(1)), "other");
        assert_eq!(
            wide.result_code_label(wide.result_code(Some(6_000_001))),
            "6000001"
        );
        assert_eq!(wide.result_code_label(wide.result_code(Some(2001))), "2001");
    }

    #[test]
    fn latency_buckets_and_sum() {
        let m = Metrics::new(Labelling::new([], [], []), Vec::new());
        m.answer(
            Direction::Out,
            280,
            Some(2001),
            Some(Duration::from_micros(50)),
        );
        m.answer(
            Direction::Out,
            280,
            Some(2001),
            Some(Duration::from_secs(10)),
        );
        let text = m.render();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            line("diameter_request_duration_seconds_bucket{le=\"0.0001\"").ends_with(" 1"),
            "{text}"
        );
        assert!(
            line("diameter_request_duration_seconds_bucket{le=\"5.0\"").ends_with(" 1"),
            "{text}"
        );
        assert!(
            line("diameter_request_duration_seconds_bucket{le=\"+Inf\"").ends_with(" 2"),
            "{text}"
        );
        assert!(
            line("diameter_request_duration_seconds_count").ends_with(" 2"),
            "{text}"
        );
        assert!(
            line("diameter_request_duration_seconds_sum").ends_with(" 10.00005"),
            "{text}"
        );
    }
}
