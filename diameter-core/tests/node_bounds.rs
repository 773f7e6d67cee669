//! Resource bounds of a `Node` against hostile peers over loopback: a peer that does not
//! read, connection floods per source, a silent connection, a slow drip, an AVP flood,
//! an oversized answer, a duplicate-cache flood, and a DPR while answers are in flight.
//! Every wait is bounded.

use bytes::{Bytes, BytesMut};
use diameter_core::avp::RawAvp;
use diameter_core::base::{avp, DisconnectCause};
use diameter_core::fields::{find_u32, result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::message::frame_len;
use diameter_core::node::{Node, NodeLimits, PeerConfig};
use diameter_core::peer::capabilities::{cer, Capabilities};
use diameter_core::peer::messages::dpr;
use diameter_core::peer::PeerSettings;
use diameter_core::RawMessage;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);
/// A vendor-less AVP code for test payloads (not mandatory).
const PAYLOAD: u32 = 4242;

fn limits() -> Limits {
    Limits(NodeLimits::default())
}

/// NodeLimits with test-sized timers.
struct Limits(NodeLimits);

impl Limits {
    fn with(mut self, f: impl FnOnce(&mut NodeLimits)) -> Self {
        f(&mut self.0);
        self
    }
}

async fn read_msg(s: &mut TcpStream, buf: &mut BytesMut, limit: Duration) -> Option<RawMessage> {
    let mut big = diameter_core::message::Limits::default();
    big.max_message_len = 1 << 24;
    big.max_avps = u32::MAX;
    timeout(limit, async {
        loop {
            if let Ok(Some(n)) = frame_len(buf, &big) {
                if buf.len() >= n {
                    return RawMessage::decode(buf.split_to(n).freeze(), &big).ok();
                }
            }
            if s.read_buf(buf).await.ok()? == 0 {
                return None;
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Whether the server closed the connection within `limit` (EOF or reset), reading and
/// discarding whatever comes before.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut scratch = vec![0u8; 64 * 1024];
    timeout(limit, async {
        loop {
            match s.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn caps(host: &str) -> Capabilities {
    Capabilities {
        origin_host: host.into(),
        origin_realm: "a.net".into(),
        host_ip_addresses: vec![[127, 0, 0, 1].into()],
        product_name: "raw".into(),
        auth_applications: vec![APP],
        ..Default::default()
    }
}

fn ccr(host: &str, e2e: u32, extra: &[RawAvp]) -> RawMessage {
    let mut avps = vec![
        str_avp(avp::SESSION_ID, &format!("{host};{e2e}")),
        str_avp(avp::ORIGIN_HOST, host),
        str_avp(avp::ORIGIN_REALM, "a.net"),
        str_avp(avp::DESTINATION_REALM, "b.net"),
    ];
    avps.extend_from_slice(extra);
    RawMessage::from_avps(
        Header::new(
            CCR,
            APP,
            CommandFlags::REQUEST | CommandFlags::PROXIABLE,
            e2e,
            e2e,
        ),
        &avps,
    )
}

fn answer_to(req: &RawMessage, extra: &[RawAvp]) -> RawMessage {
    let mut avps: Vec<RawAvp> = req.find(avp::SESSION_ID, 0).into_iter().collect();
    avps.push(u32_avp(avp::RESULT_CODE, 2001));
    avps.push(str_avp(avp::ORIGIN_HOST, "server.b.net"));
    avps.push(str_avp(avp::ORIGIN_REALM, "b.net"));
    avps.extend_from_slice(extra);
    RawMessage::from_avps(Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0), &avps)
}

fn payload(n: usize) -> RawAvp {
    RawAvp::new(PAYLOAD, 0, 0, Bytes::from(vec![0x5a; n]))
}

/// A server on 127.0.0.1 whose handler answers with `answer_bytes` of payload, after
/// `delay`.
async fn server(l: Limits, answer_bytes: usize, delay: Duration, calls: Arc<AtomicU32>) -> Node {
    server_with(l, answer_bytes, delay, calls, |b| b).await
}

async fn server_with(
    l: Limits,
    answer_bytes: usize,
    delay: Duration,
    calls: Arc<AtomicU32>,
    f: impl FnOnce(diameter_core::node::NodeBuilder) -> diameter_core::node::NodeBuilder,
) -> Node {
    let b = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .limits(l.0)
        .handler(APP, CCR, move |req: RawMessage| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let extra: Vec<RawAvp> = (answer_bytes > 0)
                    .then(|| payload(answer_bytes))
                    .into_iter()
                    .collect();
                answer_to(&req, &extra)
            }
        });
    f(b).build().await.unwrap()
}

fn fast() -> PeerSettings {
    PeerSettings {
        tw: Duration::from_secs(1),
        tw_jitter: Duration::from_millis(50),
        tc: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        cea_timeout: Duration::from_secs(2),
        dpa_timeout: Duration::from_secs(3),
        ..Default::default()
    }
}

async fn client(name: &str, srv: &Node) -> Node {
    let c = Node::builder()
        .origin_host(name)
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(c.wait_peer("server.b.net", LIMIT).await);
    c
}

/// A raw connection from `from` (any 127.x address) that has completed CER/CEA as `host`.
async fn raw_peer(addr: SocketAddr, from: [u8; 4], host: &str) -> (TcpStream, BytesMut) {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::from((from, 0))).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    s.write_all(&cer(&caps(host), 1, 1).to_bytes())
        .await
        .unwrap();
    let cea = read_msg(&mut s, &mut buf, LIMIT).await.expect("CEA");
    assert_eq!(result_code(&cea), Some(2001));
    (s, buf)
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test]
async fn a_peer_that_does_not_read_is_closed_and_its_queue_freed() {
    const QUEUE: usize = 512 * 1024;
    let l = limits().with(|l| {
        l.write_queue_bytes = QUEUE;
        l.write_timeout = Duration::from_secs(2);
    });
    let srv = server(l, 16 * 1024, Duration::ZERO, Arc::default()).await;
    let good = client("good.a.net", &srv).await;
    let (mut stuck, _) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "stuck.a.net").await;
    assert!(wait_until(LIMIT, || srv.is_peer_available("stuck.a.net")).await);

    // Requests whose answers (16 KB each, 48 MB in all) are never read, written while
    // the server still reads; the peak of what the server queues is watched meanwhile.
    let sender = tokio::spawn(async move {
        for e in 0..3000u32 {
            let r = ccr("stuck.a.net", 1000 + e, &[]).to_bytes();
            if timeout(Duration::from_secs(2), stuck.write_all(&r))
                .await
                .map_or(true, |w| w.is_err())
            {
                break;
            }
        }
        stuck
    });
    let mut peak = 0;
    let started = Instant::now();
    let closed = loop {
        let u = srv.resource_usage();
        peak = peak.max(u.queued_write_bytes);
        if !srv.is_peer_available("stuck.a.net") && u.inbound_connections == 1 {
            break true;
        }
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(closed, "the non-reading peer was not closed in time");
    // One 64 KiB batch may go past the bound before it is seen full.
    assert!(peak <= QUEUE + 64 * 1024 + 20 * 1024, "queued {peak} bytes");
    assert!(wait_until(LIMIT, || srv.resource_usage().queued_write_bytes == 0).await);
    // The socket really is gone: the raw peer reads a reset or the end of the stream.
    let mut stuck = sender.await.unwrap();
    assert!(closed_within(&mut stuck, LIMIT).await);

    // The well-behaved client on its own connection was served all along.
    for e in 0..20 {
        let a = good.request(ccr("good.a.net", e + 1, &[])).await.unwrap();
        assert_eq!(result_code(&a), Some(2001));
    }
    assert_eq!(srv.resource_usage().inbound_connections, 1);
}

#[tokio::test]
async fn a_write_without_progress_closes_the_connection() {
    // A queue too large to fill: the write timeout is what ends the stalled connection.
    let l = limits().with(|l| {
        l.write_queue_bytes = 256 << 20;
        l.write_timeout = Duration::from_secs(1);
    });
    let srv = server(l, 16 * 1024, Duration::ZERO, Arc::default()).await;
    let (mut stuck, _) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "slow.a.net").await;
    assert!(wait_until(LIMIT, || srv.is_peer_available("slow.a.net")).await);
    let mut all = BytesMut::new();
    for e in 0..2000u32 {
        ccr("slow.a.net", 1000 + e, &[]).encode(&mut all);
    }
    stuck.write_all(&all).await.unwrap();
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || !srv
            .is_peer_available("slow.a.net"))
        .await,
        "still up"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(wait_until(LIMIT, || srv.resource_usage().queued_write_bytes == 0).await);
    assert!(wait_until(LIMIT, || srv.resource_usage().inbound_connections == 0).await);
    assert!(closed_within(&mut stuck, LIMIT).await);
}

#[tokio::test]
async fn connections_per_source_are_limited() {
    let l = limits().with(|l| l.max_connections_per_ip = 3);
    let srv = server(l, 0, Duration::ZERO, Arc::default()).await;
    let addr = srv.local_addrs()[0];
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    assert!(wait_until(LIMIT, || srv.resource_usage().inbound_connections == 3).await);
    // The fourth from the same address is closed at once.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_secs(2)).await);
    // Another source address still gets in, up to a CER.
    let (mut other, mut buf) = raw_peer(addr, [127, 0, 0, 2], "other.a.net").await;
    other
        .write_all(&ccr("other.a.net", 5, &[]).to_bytes())
        .await
        .unwrap();
    let a = read_msg(&mut other, &mut buf, LIMIT).await.unwrap();
    assert_eq!(result_code(&a), Some(2001));
    // Those already in are still open; closing one frees its slot.
    let mut scratch = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(200), held[0].read(&mut scratch))
            .await
            .is_err()
    );
    drop(held.pop());
    assert!(wait_until(LIMIT, || srv.resource_usage().inbound_connections == 3).await);
    let mut again = TcpStream::connect(addr).await.unwrap();
    assert!(
        timeout(Duration::from_millis(200), again.read(&mut scratch))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn reserved_slots_keep_configured_peers_in_during_a_flood() {
    let l = limits().with(|l| {
        l.max_inbound_connections = 6;
        l.reserved_connections = 2;
        l.max_connections_per_ip = 100;
    });
    let srv = server_with(l, 0, Duration::ZERO, Arc::default(), |b| {
        b.reserved_source([127, 0, 0, 9].into())
    })
    .await;
    let addr = srv.local_addrs()[0];
    // An unknown flood takes every slot it can: 4 of 6.
    let mut flood = Vec::new();
    for _ in 0..4 {
        flood.push(TcpStream::connect(addr).await.unwrap());
    }
    assert!(wait_until(LIMIT, || srv.resource_usage().inbound_connections == 4).await);
    let mut refused = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut refused, Duration::from_secs(2)).await);
    // The known peer's address still gets a slot and is served.
    let (mut known, mut buf) = raw_peer(addr, [127, 0, 0, 9], "known.a.net").await;
    known
        .write_all(&ccr("known.a.net", 9, &[]).to_bytes())
        .await
        .unwrap();
    let a = read_msg(&mut known, &mut buf, LIMIT).await.unwrap();
    assert_eq!(result_code(&a), Some(2001));
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_cer_timeout() {
    let l = limits().with(|l| l.cer_timeout = Duration::from_millis(300));
    let srv = server(l, 0, Duration::ZERO, Arc::default()).await;
    let mut s = TcpStream::connect(srv.local_addrs()[0]).await.unwrap();
    let t0 = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
    assert!(t0.elapsed() >= Duration::from_millis(250));
    assert!(wait_until(LIMIT, || srv.resource_usage().inbound_connections == 0).await);
}

#[tokio::test]
async fn a_slow_drip_is_closed_after_the_message_timeout() {
    let l = limits().with(|l| l.message_timeout = Duration::from_millis(600));
    let srv = server(l, 0, Duration::ZERO, Arc::default()).await;
    let (mut s, _) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "drip.a.net").await;
    let msg = ccr("drip.a.net", 7, &[]).to_bytes();
    // The header, then one byte every 100 ms: the message would take seconds.
    s.write_all(&msg[..20]).await.unwrap();
    let t0 = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    let drip = tokio::spawn(async move {
        for b in msg[20..].iter() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
        }
    });
    let mut scratch = [0u8; 256];
    let closed = timeout(Duration::from_secs(5), async {
        loop {
            match rd.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open");
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(wait_until(LIMIT, || !srv.is_peer_available("drip.a.net")).await);
    drip.abort();
}

#[tokio::test]
async fn an_avp_flood_is_answered_5009_and_the_connection_stays() {
    let calls = Arc::new(AtomicU32::new(0));
    let srv = server(limits(), 0, Duration::ZERO, calls.clone()).await;
    let (mut s, mut buf) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "flood.a.net").await;
    // 131,000 empty grouped AVPs (Multiple-Services-Credit-Control): about 1 MB.
    let empty = RawAvp::new(456, 0x40, 0, Bytes::new());
    let flood = vec![empty; 131_000];
    let req = ccr("flood.a.net", 11, &flood);
    s.write_all(&req.to_bytes()).await.unwrap();
    let a = read_msg(&mut s, &mut buf, LIMIT).await.expect("answer");
    assert_eq!(a.header.hop_by_hop, 11);
    assert_eq!(result_code(&a), Some(5009));
    let failed = a.find(avp::FAILED_AVP, 0).expect("Failed-AVP");
    assert!(failed.data.len() < 64);
    assert!(a.to_bytes().len() < 1024, "a small answer");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler never ran");
    // The connection is still usable.
    s.write_all(&ccr("flood.a.net", 12, &[]).to_bytes())
        .await
        .unwrap();
    let a = read_msg(&mut s, &mut buf, LIMIT).await.unwrap();
    assert_eq!(result_code(&a), Some(2001));
}

#[tokio::test]
async fn an_oversized_answer_is_replaced_by_5012() {
    // The handler answers 2 MB; the node's limit is 1 MiB.
    let srv = server(limits(), 2 << 20, Duration::ZERO, Arc::default()).await;
    let (mut s, mut buf) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "big.a.net").await;
    s.write_all(&ccr("big.a.net", 21, &[]).to_bytes())
        .await
        .unwrap();
    let a = read_msg(&mut s, &mut buf, LIMIT).await.expect("answer");
    assert_eq!(a.header.hop_by_hop, 21);
    assert_eq!(result_code(&a), Some(5012));
    assert!(a.to_bytes().len() < 4096);
    assert!(a.find(avp::ERROR_MESSAGE, 0).is_some());
}

#[tokio::test]
async fn the_duplicate_cache_is_bounded_in_bytes() {
    const BOUND: usize = 2 << 20;
    let calls = Arc::new(AtomicU32::new(0));
    let l = limits().with(|l| l.duplicate_cache_bytes = BOUND);
    let srv = server(l, 200_000, Duration::ZERO, calls.clone()).await;
    let cli = client("dup.a.net", &srv).await;
    // 30 requests of 200 KB with distinct keys, each answered with 200 KB.
    let e0 = cli.next_end_to_end();
    for i in 0..30 {
        let a = cli
            .request(ccr("dup.a.net", e0 + i, &[payload(200_000)]))
            .await
            .unwrap();
        assert_eq!(result_code(&a), Some(2001));
        let u = srv.resource_usage();
        assert!(u.duplicate_cache_bytes <= BOUND, "{u:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 30);
    // The newest is still cached: its retransmission does not run the handler.
    let mut again = ccr("dup.a.net", e0 + 29, &[payload(200_000)]);
    again.header.flags |= CommandFlags::RETRANSMIT;
    let a = cli.request(again).await.unwrap();
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(calls.load(Ordering::SeqCst), 30);
    // The oldest was evicted to stay within the bound: it runs again.
    let mut old = ccr("dup.a.net", e0, &[payload(200_000)]);
    old.header.flags |= CommandFlags::RETRANSMIT;
    cli.request(old).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 31);

    // Requests of 1 MB answered small: what stays cached is the small answers only.
    let srv = server(limits(), 0, Duration::ZERO, Arc::default()).await;
    let cli = client("dup2.a.net", &srv).await;
    let e0 = cli.next_end_to_end();
    for i in 0..40 {
        let a = cli
            .request(ccr("dup2.a.net", e0 + i, &[payload(1_000_000)]))
            .await
            .unwrap();
        assert_eq!(result_code(&a), Some(2001));
    }
    let u = srv.resource_usage();
    assert_eq!(u.duplicate_cache_entries, 40);
    assert!(u.duplicate_cache_bytes < 40 * 1024, "{u:?}");
}

#[tokio::test]
async fn dpr_lets_answers_in_flight_go_out_first() {
    let calls = Arc::new(AtomicU32::new(0));
    let srv = server(limits(), 0, Duration::from_millis(500), calls.clone()).await;
    let (mut s, mut buf) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "leave.a.net").await;
    // A request whose handler takes 500 ms, then a DPR while it runs, then a request
    // that comes too late.
    s.write_all(&ccr("leave.a.net", 31, &[]).to_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dpr = dpr(&caps("leave.a.net"), DisconnectCause::Rebooting, 32, 32);
    s.write_all(&dpr.to_bytes()).await.unwrap();
    s.write_all(&ccr("leave.a.net", 33, &[]).to_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(m) = read_msg(&mut s, &mut buf, Duration::from_secs(5)).await {
        seen.push((m.header.command_code, m.header.hop_by_hop, result_code(&m)));
        if m.header.command_code == 282 {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            (CCR, 33, Some(3004)),
            (CCR, 31, Some(2001)),
            (282, 32, Some(2001))
        ],
        "the late request refused, the answer in flight, then the DPA"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(s);
    assert!(wait_until(LIMIT, || srv.resource_usage().inbound_connections == 0).await);
}

#[tokio::test]
async fn a_node_client_stopping_gets_its_answer_in_flight() {
    let srv = server(limits(), 0, Duration::from_millis(400), Arc::default()).await;
    let cli = client("stop.a.net", &srv).await;
    let pending = tokio::spawn({
        let cli = cli.clone();
        async move { cli.request(ccr("stop.a.net", 41, &[])).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    cli.stop_peer("server.b.net", DisconnectCause::Rebooting)
        .await;
    let a = pending
        .await
        .unwrap()
        .expect("the answer in flight arrives");
    assert_eq!(result_code(&a), Some(2001));
    assert_eq!(find_u32(&a, avp::RESULT_CODE), Some(2001));
}

#[tokio::test]
async fn a_handler_that_panics_does_not_hold_up_a_later_dpr() {
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .handler(APP, CCR, |req: RawMessage| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if req.find(PAYLOAD, 0).is_some() {
                panic!("handler bug (expected by the test)");
            }
            answer_to(&req, &[])
        })
        .build()
        .await
        .unwrap();
    let (mut s, mut buf) = raw_peer(srv.local_addrs()[0], [127, 0, 0, 1], "bug.a.net").await;
    s.write_all(&ccr("bug.a.net", 51, &[payload(4)]).to_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dpr = dpr(&caps("bug.a.net"), DisconnectCause::Rebooting, 52, 52);
    s.write_all(&dpr.to_bytes()).await.unwrap();
    // Nothing is in flight any more: the DPA comes at once, not after the drain timeout.
    let dpa = read_msg(&mut s, &mut buf, Duration::from_secs(2))
        .await
        .expect("DPA at once");
    assert_eq!((dpa.header.command_code, dpa.header.hop_by_hop), (282, 52));
}

#[tokio::test]
async fn a_node_stopping_sends_its_answers_in_flight_first() {
    let calls = Arc::new(AtomicU32::new(0));
    let srv = server(limits(), 0, Duration::from_millis(400), calls.clone()).await;
    let cli = client("served.a.net", &srv).await;
    assert!(wait_until(LIMIT, || srv.is_peer_available("served.a.net")).await);
    let pending = tokio::spawn({
        let cli = cli.clone();
        async move { cli.request(ccr("served.a.net", 61, &[])).await }
    });
    assert!(wait_until(LIMIT, || calls.load(Ordering::SeqCst) == 1).await);
    // The server stops (DPR to the client) while the handler runs.
    srv.stop_peer("served.a.net", DisconnectCause::Rebooting)
        .await;
    let a = pending
        .await
        .unwrap()
        .expect("the answer in flight arrives");
    assert_eq!(result_code(&a), Some(2001));
    assert!(wait_until(LIMIT, || !cli.is_peer_available("server.b.net")).await);
}
