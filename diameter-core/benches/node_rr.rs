//! Request/answer throughput and latency over loopback: a `Node` server with a raw
//! handler against a baseline responder that answers from a fixed template without
//! decoding (frames by length, patches Hop-by-Hop and End-to-End ids into the template).
//!
//! Each server is driven by two clients: our `Node` client (`Node::request` from one
//! task per outstanding request) and a raw pipelining client (pre-encoded requests, one
//! task per connection), with 1 connection × 1 outstanding request and 4 connections ×
//! 64 outstanding requests. Every case runs for a bounded time (`BENCH_SECS`, default
//! 2 s, after 0.3 s of warm-up) on one 2-worker tokio runtime shared by client and
//! server.
//!
//! `cargo bench -p diameter-core --bench node_rr`

use bytes::{Buf, BytesMut};
use diameter_core::base::avp;
use diameter_core::fields::{str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{Node, NodeLimits, PeerConfig};
use diameter_core::peer::capabilities::{cea, cer};
use diameter_core::peer::Capabilities;
use diameter_core::RawMessage;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const APP: u32 = 4;
const CCR: u32 = 272;
const SERVER: &str = "server.b.net";
const WARMUP: Duration = Duration::from_millis(300);

/// Client names are new in every case: a peer that reconnects under an old name would be
/// in the watchdog's REOPEN state (RFC 3539), waiting for three DWAs.
static NEXT_CLIENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn client_name(kind: &str) -> String {
    let n = NEXT_CLIENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{kind}{n}.a.net")
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn request(origin: &str) -> RawMessage {
    let h = Header::new(
        CCR,
        APP,
        CommandFlags::REQUEST | CommandFlags::PROXIABLE,
        0,
        0,
    );
    RawMessage::from_avps(
        h,
        &[
            str_avp(avp::SESSION_ID, &format!("{origin};1;bench")),
            str_avp(avp::ORIGIN_HOST, origin),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
            u32_avp(avp::AUTH_APPLICATION_ID, APP),
            u32_avp(416, 1), // CC-Request-Type INITIAL_REQUEST
            u32_avp(415, 0), // CC-Request-Number
        ],
    )
}

fn answer_avps(session: Option<diameter_core::RawAvp>) -> Vec<diameter_core::RawAvp> {
    let mut avps = Vec::with_capacity(6);
    avps.extend(session);
    avps.push(u32_avp(avp::RESULT_CODE, 2001));
    avps.push(str_avp(avp::ORIGIN_HOST, SERVER));
    avps.push(str_avp(avp::ORIGIN_REALM, "b.net"));
    avps.push(u32_avp(avp::AUTH_APPLICATION_ID, APP));
    avps.push(u32_avp(416, 1));
    avps.push(u32_avp(415, 0));
    avps
}

/// The raw handler of the `Node` server: echoes the Session-Id with 2001.
async fn handler(req: RawMessage) -> RawMessage {
    let h = Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0);
    RawMessage::from_avps(h, &answer_avps(req.find(avp::SESSION_ID, 0)))
}

fn server_caps() -> Capabilities {
    Capabilities {
        origin_host: SERVER.into(),
        origin_realm: "b.net".into(),
        host_ip_addresses: vec![[127, 0, 0, 1].into()],
        product_name: "baseline".into(),
        auth_applications: vec![APP],
        ..Default::default()
    }
}

fn big_limits() -> NodeLimits {
    let mut limits = NodeLimits::default();
    limits.max_pending_per_peer = 4096;
    limits
}

async fn node_server() -> Result<Node, BoxError> {
    Ok(Node::builder()
        .origin_host(SERVER)
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse()?)
        .limits(big_limits())
        .handler(APP, CCR, handler)
        .build()
        .await?)
}

/// Templates of the baseline responder, answers to every request it may get.
struct Templates {
    cea: Vec<u8>,
    dwa: Vec<u8>,
    dpa: Vec<u8>,
    answer: Vec<u8>,
}

fn templates() -> Templates {
    let caps = server_caps();
    let zero = Header::new(0, 0, 0, 0, 0);
    let cea = cea(&caps, &zero, 2001, None, None).to_bytes().to_vec();
    let simple = |code: u32| {
        let h = Header::new(code, 0, 0, 0, 0);
        RawMessage::from_avps(
            h,
            &[
                u32_avp(avp::RESULT_CODE, 2001),
                str_avp(avp::ORIGIN_HOST, SERVER),
                str_avp(avp::ORIGIN_REALM, "b.net"),
            ],
        )
        .to_bytes()
        .to_vec()
    };
    let h = Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0);
    let session = str_avp(avp::SESSION_ID, "client0.a.net;1;bench");
    let answer = RawMessage::from_avps(h, &answer_avps(Some(session)))
        .to_bytes()
        .to_vec();
    Templates {
        cea,
        dwa: simple(280),
        dpa: simple(282),
        answer,
    }
}

/// The baseline: frames by length, answers every request from a template with its ids
/// patched in, writes all answers of one read at once. No decoding.
async fn baseline_server() -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let t = Arc::new(templates());
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let t = t.clone();
            tokio::spawn(async move {
                let _ = baseline_conn(s, &t).await;
            });
        }
    });
    Ok((addr, task))
}

async fn baseline_conn(mut s: TcpStream, t: &Templates) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = Vec::with_capacity(64 * 1024);
    loop {
        if s.read_buf(&mut rbuf).await? == 0 {
            return Ok(());
        }
        while rbuf.len() >= 20 {
            let len = u32::from_be_bytes([0, rbuf[1], rbuf[2], rbuf[3]]) as usize;
            if len < 20 {
                return Ok(());
            }
            if rbuf.len() < len {
                break;
            }
            let (flags, code) = (rbuf[4], u32::from_be_bytes([0, rbuf[5], rbuf[6], rbuf[7]]));
            if flags & 0x80 != 0 {
                let tpl = match code {
                    257 => &t.cea,
                    280 => &t.dwa,
                    282 => &t.dpa,
                    _ => &t.answer,
                };
                let at = wbuf.len();
                wbuf.extend_from_slice(tpl);
                wbuf[at + 12..at + 20].copy_from_slice(&rbuf[12..20]);
            }
            rbuf.advance(len);
        }
        if !wbuf.is_empty() {
            s.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(64 * 1024);
        }
    }
}

/// What a run measured.
struct Outcome {
    answers: u64,
    secs: f64,
    hist: Histogram<u64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.answers as f64 / self.secs
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// `conns` client nodes, each with `window` tasks sending requests one after another.
async fn node_clients(
    addr: SocketAddr,
    conns: usize,
    window: usize,
    run: Duration,
) -> Result<Outcome, BoxError> {
    let mut nodes = Vec::new();
    for _ in 0..conns {
        let node = Node::builder()
            .origin_host(client_name("client"))
            .origin_realm("a.net")
            .auth_application(APP)
            .limits(big_limits())
            .peer(PeerConfig::new(SERVER, addr))
            .build()
            .await?;
        if !node.wait_peer(SERVER, Duration::from_secs(5)).await {
            return Err("client did not connect".into());
        }
        nodes.push(node);
    }
    let start = Instant::now();
    let (measure_from, end) = (start + WARMUP, start + WARMUP + run);
    let mut tasks = Vec::new();
    for node in &nodes {
        for _ in 0..window {
            let node = node.clone();
            let req = request(&node.capabilities().origin_host);
            tasks.push(tokio::spawn(async move {
                let mut hist = new_hist();
                let mut n = 0u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let mut r = req.clone();
                    r.header.end_to_end = 0;
                    if node.request(r).await.is_err() {
                        continue;
                    }
                    if t0 >= measure_from {
                        n += 1;
                        let _ = hist.record(t0.elapsed().as_micros().max(1) as u64);
                    }
                }
                (n, hist)
            }));
        }
    }
    let mut out = Outcome {
        answers: 0,
        secs: run.as_secs_f64(),
        hist: new_hist(),
    };
    for t in tasks {
        let (n, h) = t.await?;
        out.answers += n;
        out.hist.add(h)?;
    }
    for n in &nodes {
        n.abort();
    }
    Ok(out)
}

/// Raw pipelining clients: CER/CEA, then up to `window` pre-encoded requests in flight
/// per connection, written in batches.
async fn raw_clients(
    addr: SocketAddr,
    conns: usize,
    window: usize,
    run: Duration,
) -> Result<Outcome, BoxError> {
    let mut streams = Vec::new();
    for _ in 0..conns {
        let origin = client_name("raw");
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let caps = Capabilities {
            origin_host: origin.clone(),
            origin_realm: "a.net".into(),
            host_ip_addresses: vec![[127, 0, 0, 1].into()],
            product_name: "raw".into(),
            auth_applications: vec![APP],
            ..Default::default()
        };
        s.write_all(&cer(&caps, 1, 1).to_bytes()).await?;
        let mut buf = BytesMut::new();
        read_frame(&mut s, &mut buf).await?;
        streams.push((s, request(&origin).to_bytes().to_vec()));
    }
    let start = Instant::now();
    let (measure_from, end) = (start + WARMUP, start + WARMUP + run);
    let mut tasks = Vec::new();
    for (s, tpl) in streams {
        tasks.push(tokio::spawn(raw_conn(s, tpl, window, measure_from, end)));
    }
    let mut out = Outcome {
        answers: 0,
        secs: run.as_secs_f64(),
        hist: new_hist(),
    };
    for t in tasks {
        let (n, h) = t.await??;
        out.answers += n;
        out.hist.add(h)?;
    }
    Ok(out)
}

async fn read_frame(s: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<()> {
    loop {
        if buf.len() >= 4 {
            let len = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]) as usize;
            if buf.len() >= len {
                buf.advance(len);
                return Ok(());
            }
        }
        if s.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

async fn raw_conn(
    mut s: TcpStream,
    tpl: Vec<u8>,
    window: usize,
    measure_from: Instant,
    end: Instant,
) -> Result<(u64, Histogram<u64>), BoxError> {
    let mut hist = new_hist();
    let mut sent: HashMap<u32, Instant> = HashMap::with_capacity(window * 2);
    let (mut n, mut next_id) = (0u64, 1u32);
    let mut wbuf = Vec::with_capacity(tpl.len() * window);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let limit = end + Duration::from_secs(5);
    let dwa = templates().dwa;
    loop {
        let now = Instant::now();
        while sent.len() < window && now < end {
            next_id = next_id.wrapping_add(1);
            let at = wbuf.len();
            wbuf.extend_from_slice(&tpl);
            wbuf[at + 12..at + 16].copy_from_slice(&next_id.to_be_bytes());
            wbuf[at + 16..at + 20].copy_from_slice(&next_id.to_be_bytes());
            sent.insert(next_id, now);
        }
        if !wbuf.is_empty() {
            s.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if sent.is_empty() || now > limit {
            return Ok((n, hist));
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(64 * 1024);
        }
        if s.read_buf(&mut rbuf).await? == 0 {
            return Err("server closed".into());
        }
        let now = Instant::now();
        while rbuf.len() >= 20 {
            let len = u32::from_be_bytes([0, rbuf[1], rbuf[2], rbuf[3]]) as usize;
            if len < 20 {
                return Err("bad frame".into());
            }
            if rbuf.len() < len {
                break;
            }
            let is_request = rbuf[4] & 0x80 != 0;
            let hbh = u32::from_be_bytes([rbuf[12], rbuf[13], rbuf[14], rbuf[15]]);
            let mut ids = [0u8; 8];
            ids.copy_from_slice(&rbuf[12..20]);
            rbuf.advance(len);
            if is_request {
                // A DWR: answer it (ids patched into a DWA template).
                let at = wbuf.len();
                wbuf.extend_from_slice(&dwa);
                wbuf[at + 12..at + 20].copy_from_slice(&ids);
                continue;
            }
            if let Some(t0) = sent.remove(&hbh) {
                if t0 >= measure_from {
                    n += 1;
                    let _ = hist.record((now - t0).as_micros().max(1) as u64);
                }
            }
        }
    }
}

fn report(name: &str, o: &Outcome, baseline: Option<&Outcome>) {
    let q = |p: f64| o.hist.value_at_quantile(p) as f64 / 1000.0;
    let ratio = baseline
        .map(|b| format!("{:>6.1}%", 100.0 * o.rate() / b.rate()))
        .unwrap_or_else(|| "   base".into());
    println!(
        "{name:<40} {:>9.0}/s {ratio}  p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  p99.9 {:>7.3} ms",
        o.rate(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999)
    );
}

async fn bench(run: Duration, filter: Option<&str>) -> Result<(), BoxError> {
    let srv = node_server().await?;
    let node_addr = srv.local_addrs()[0];
    let (base_addr, base_task) = baseline_server().await?;
    println!(
        "{:<40} {:>11} {:>7}  latency (request to answer)",
        "case", "answers", "vs base"
    );
    for (conns, window) in [(1usize, 1usize), (4, 64)] {
        for client in ["raw client", "Node client"] {
            let case = format!("{conns}x{window} {client}");
            if filter.is_some_and(|f| !case.contains(f)) {
                continue;
            }
            let run_one = |addr| async move {
                match client {
                    "raw client" => raw_clients(addr, conns, window, run).await,
                    _ => node_clients(addr, conns, window, run).await,
                }
            };
            // BENCH_ONLY=node (or base) runs one side, for profiling.
            let only = std::env::var("BENCH_ONLY").unwrap_or_default();
            let base = if only == "node" {
                None
            } else {
                let base = run_one(base_addr).await?;
                report(&format!("{case} -> baseline responder"), &base, None);
                Some(base)
            };
            if only != "base" {
                let ours = run_one(node_addr).await?;
                report(&format!("{case} -> Node server"), &ours, base.as_ref());
            }
        }
    }
    base_task.abort();
    srv.abort();
    Ok(())
}

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; a further free argument filters cases by name.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let run = Duration::from_secs_f64(secs.clamp(0.2, 30.0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(bench(run, filter.as_deref()))
}
