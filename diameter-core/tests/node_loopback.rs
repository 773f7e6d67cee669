//! Nodes talking over loopback TCP: capabilities exchange, requests, watchdog, DPR,
//! relaying, failover, a silent peer and held answers. Every wait is bounded.

use diameter_core::base::{avp, DisconnectCause};
use diameter_core::fields::{result_code, route_records, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{Node, NodeBuilder, NodeEvent, NodeLimits, PeerConfig, RequestError};
use diameter_core::peer::{DownReason, PeerSettings};
use diameter_core::routing::{Route, RouteAction};
use diameter_core::RawMessage;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);

fn fast() -> PeerSettings {
    PeerSettings {
        tw: Duration::from_millis(300),
        tw_jitter: Duration::from_millis(20),
        tc: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        cea_timeout: Duration::from_secs(2),
        dpa_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

fn request(realm: &str, session: &str) -> RawMessage {
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
            str_avp(avp::SESSION_ID, session),
            str_avp(avp::ORIGIN_HOST, "client.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, realm),
        ],
    )
}

/// An answer echoing the Session-Id, with Result-Code 2001 and Origin-Host `host`.
fn echo(host: &'static str) -> impl Fn(RawMessage) -> std::future::Ready<RawMessage> + Clone {
    move |req: RawMessage| {
        let mut avps = vec![];
        avps.extend(req.find(avp::SESSION_ID, 0));
        avps.push(u32_avp(avp::RESULT_CODE, 2001));
        avps.push(str_avp(avp::ORIGIN_HOST, host));
        avps.push(str_avp(avp::ORIGIN_REALM, "b.net"));
        let h = Header::new(
            req.header.command_code,
            req.header.application_id,
            CommandFlags::PROXIABLE,
            0,
            0,
        );
        std::future::ready(RawMessage::from_avps(h, &avps))
    }
}

async fn server(host: &'static str, addr: &str) -> Node {
    Node::builder()
        .origin_host(host)
        .origin_realm("b.net")
        .auth_application(APP)
        .listen(addr.parse().unwrap())
        .responder_settings(fast())
        .handler(APP, CCR, echo(host))
        .build()
        .await
        .unwrap()
}

/// `server.b.net` on 127.0.0.1, port 0, with `io_threads` I/O threads: the handler and
/// hooks are the caller's.
fn threaded_server(io_threads: usize) -> NodeBuilder {
    Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .io_threads(io_threads)
}

async fn client(peers: &[(&str, SocketAddr)]) -> Node {
    let mut b = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP);
    for (h, a) in peers {
        b = b.peer(PeerConfig::new(*h, *a).settings(fast()));
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn cer_request_watchdog_and_dpr_over_ipv4() {
    let srv = server("server.b.net", "127.0.0.1:0").await;
    let cli = client(&[("server.b.net", srv.local_addrs()[0])]).await;
    assert!(cli.wait_peer("server.b.net", LIMIT).await, "CER/CEA");
    assert!(srv.wait_peer("client.a.net", LIMIT).await);

    let ans = cli.request(request("b.net", "s;1")).await.unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    assert_eq!(
        ans.find(avp::SESSION_ID, 0).map(|a| a.data),
        Some("s;1".into())
    );

    // Several watchdog intervals pass; the connection stays up (DWR/DWA).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(cli.is_peer_available("server.b.net"));
    assert_eq!(
        result_code(&cli.request(request("b.net", "s;2")).await.unwrap()),
        Some(2001)
    );

    // DPR/DPA: both sides go down, the client does not reconnect.
    let mut events = srv.subscribe();
    cli.stop(DisconnectCause::DoNotWantToTalkToYou).await;
    let down = timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerDown { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        down,
        DownReason::PeerDisconnected(DisconnectCause::DoNotWantToTalkToYou)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!cli.is_peer_available("server.b.net"));
}

#[tokio::test]
async fn ipv6_and_protocol_errors_keep_the_connection() {
    let Ok(srv) = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .auth_application(5)
        .listen("[::1]:0".parse().unwrap())
        .handler(APP, CCR, echo("server.b.net"))
        .build()
        .await
    else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let cli = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .auth_application(5)
        .auth_application(6)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(cli.wait_peer("server.b.net", LIMIT).await);
    // Unknown command of a known application: 3001 with the E bit.
    let mut r = request("b.net", "s;3001");
    r.header.command_code = 999;
    let err = cli.request(r).await.unwrap();
    assert!(err.header.is_error());
    assert_eq!(result_code(&err), Some(3001));
    // Application both advertise but no handler: 3007.
    let mut r = request("b.net", "s;3007");
    r.header.application_id = 5;
    assert_eq!(result_code(&cli.request(r).await.unwrap()), Some(3007));
    // Application the server never advertised: the client refuses to send it.
    let mut r = request("b.net", "s;6");
    r.header.application_id = 6;
    assert!(matches!(
        cli.request(r).await,
        Err(RequestError::NoRoute(_))
    ));
    // Still up.
    assert_eq!(
        result_code(&cli.request(request("b.net", "s;ok")).await.unwrap()),
        Some(2001)
    );
}

#[tokio::test]
async fn relay_forwards_with_route_record_and_loops_are_3005() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .handler(APP, CCR, move |req: RawMessage| {
            seen2.lock().unwrap().push(route_records(&req));
            echo("server.b.net")(req)
        })
        .build()
        .await
        .unwrap();
    let relay = Node::builder()
        .origin_host("relay.a.net")
        .origin_realm("a.net")
        .auth_application(diameter_core::base::app::RELAY)
        .listen("127.0.0.1:0".parse().unwrap())
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .route(Route::realm(
            "b.net",
            RouteAction::Relay,
            vec!["server.b.net".into()],
        ))
        .build()
        .await
        .unwrap();
    let cli = client(&[("relay.a.net", relay.local_addrs()[0])]).await;
    assert!(cli.wait_peer("relay.a.net", LIMIT).await);
    assert!(relay.wait_peer("server.b.net", LIMIT).await);

    let ans = cli.request(request("b.net", "s;relayed")).await.unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    assert_eq!(
        ans.find(avp::ORIGIN_HOST, 0).map(|a| a.data),
        Some("server.b.net".into())
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![vec!["client.a.net".to_string()]],
        "Route-Record added by the relay"
    );

    // A retransmission (T flag) is relayed too, and its answer is not cached here: the
    // server detects duplicates (RFC 6733 Appendix C).
    let mut again = request("b.net", "s;relayed");
    again.header.flags |= CommandFlags::RETRANSMIT;
    assert_eq!(result_code(&cli.request(again).await.unwrap()), Some(2001));
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(relay.resource_usage().duplicate_cache_entries, 0);
    seen.lock().unwrap().pop();

    // A realm nobody serves: 3003 from the relay.
    let ans = cli.request(request("nowhere.net", "s;x")).await.unwrap();
    assert_eq!(result_code(&ans), Some(3003));
    assert!(ans.header.is_error());

    // Our own Route-Record already present: loop, 3005.
    let mut looped = request("b.net", "s;loop");
    looped.push(&str_avp(avp::ROUTE_RECORD, "relay.a.net"));
    assert_eq!(result_code(&cli.request(looped).await.unwrap()), Some(3005));

    // In any case of letters too.
    let mut looped = request("b.net", "s;loop2");
    looped.push(&str_avp(avp::ROUTE_RECORD, "Relay.A.net"));
    assert_eq!(result_code(&cli.request(looped).await.unwrap()), Some(3005));

    // A bad AVP header: framing left it to the relay's routing walk, which answers it
    // (5014, the AVP as Failed-AVP), first transmission or retransmission alike.
    for retransmit in [false, true] {
        let mut bad = request("b.net", "s;bad");
        let mut body = bytes::BytesMut::from(&bad.body[..]);
        body.extend_from_slice(&[0, 0, 1, 0x07, 0x40, 0, 0, 64, 0, 0, 0, 0]); // claims 64 bytes
        bad.body = body.freeze();
        bad.header.length += 12;
        if retransmit {
            bad.header.flags |= CommandFlags::RETRANSMIT;
        }
        let ans = cli.request(bad).await.unwrap();
        assert_eq!(result_code(&ans), Some(5014), "retransmit {retransmit}");
        assert_eq!(
            ans.find(avp::ORIGIN_HOST, 0).map(|a| a.data),
            Some("relay.a.net".into())
        );
        let failed = ans.find(avp::FAILED_AVP, 0).expect("Failed-AVP");
        assert_eq!(&failed.data[..4], &[0, 0, 1, 0x07], "the bad AVP");
    }

    // Not proxiable: 3002.
    let mut np = request("b.net", "s;np");
    np.header.flags &= !CommandFlags::PROXIABLE;
    assert_eq!(result_code(&cli.request(np).await.unwrap()), Some(3002));
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing else reached the server"
    );
}

#[tokio::test]
async fn failover_after_a_server_dies_loses_no_request() {
    let retransmitted = Arc::new(AtomicUsize::new(0));
    let mk = |host: &'static str, rt: Arc<AtomicUsize>| async move {
        Node::builder()
            .origin_host(host)
            .origin_realm("b.net")
            .auth_application(APP)
            .listen("127.0.0.1:0".parse().unwrap())
            .responder_settings(fast())
            .handler(APP, CCR, move |req: RawMessage| {
                if req.header.is_retransmit() {
                    rt.fetch_add(1, Ordering::Relaxed);
                }
                let answer = echo(host)(req);
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    answer.await
                }
            })
            .build()
            .await
            .unwrap()
    };
    let s1 = mk("s1.b.net", retransmitted.clone()).await;
    let s2 = mk("s2.b.net", retransmitted.clone()).await;
    let cli = client(&[
        ("s1.b.net", s1.local_addrs()[0]),
        ("s2.b.net", s2.local_addrs()[0]),
    ])
    .await;
    assert!(cli.wait_peer("s1.b.net", LIMIT).await && cli.wait_peer("s2.b.net", LIMIT).await);
    let mut events = cli.subscribe();

    let total = 200;
    let mut tasks = Vec::new();
    for i in 0..total {
        let cli = cli.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i as u64 * 2)).await;
            cli.request(request("b.net", &format!("s;{i}"))).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    s1.abort();
    let mut ok = 0;
    for t in tasks {
        let r = timeout(LIMIT, t).await.unwrap().unwrap();
        match r {
            Ok(a) if result_code(&a) == Some(2001) => ok += 1,
            other => panic!("request lost: {other:?}"),
        }
    }
    assert_eq!(ok, total);
    let mut failovers = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, NodeEvent::Failover { .. }) {
            failovers += 1;
        }
    }
    assert!(
        failovers > 0,
        "some requests were pending on the dead server"
    );
    assert_eq!(
        retransmitted.load(Ordering::Relaxed),
        failovers,
        "each failed-over request carried the T flag"
    );
    assert!(!cli.is_peer_available("s1.b.net"));
}

/// The relay's own failover: requests it relayed to a server that dies go to the other
/// server with the T flag, and every client request gets its answer.
#[tokio::test]
async fn relay_fails_over_when_a_server_dies() {
    let retransmitted = Arc::new(AtomicUsize::new(0));
    let mk = |host: &'static str, rt: Arc<AtomicUsize>| async move {
        Node::builder()
            .origin_host(host)
            .origin_realm("b.net")
            .auth_application(APP)
            .listen("127.0.0.1:0".parse().unwrap())
            .responder_settings(fast())
            .handler(APP, CCR, move |req: RawMessage| {
                if req.header.is_retransmit() {
                    rt.fetch_add(1, Ordering::Relaxed);
                }
                let answer = echo(host)(req);
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    answer.await
                }
            })
            .build()
            .await
            .unwrap()
    };
    let s1 = mk("s1.b.net", retransmitted.clone()).await;
    let s2 = mk("s2.b.net", retransmitted.clone()).await;
    let relay = Node::builder()
        .origin_host("relay.a.net")
        .origin_realm("a.net")
        .auth_application(diameter_core::base::app::RELAY)
        .listen("127.0.0.1:0".parse().unwrap())
        .peer(PeerConfig::new("s1.b.net", s1.local_addrs()[0]).settings(fast()))
        .peer(PeerConfig::new("s2.b.net", s2.local_addrs()[0]).settings(fast()))
        .route(Route::realm(
            "b.net",
            RouteAction::Relay,
            vec!["s1.b.net".into(), "s2.b.net".into()],
        ))
        .build()
        .await
        .unwrap();
    let cli = client(&[("relay.a.net", relay.local_addrs()[0])]).await;
    assert!(cli.wait_peer("relay.a.net", LIMIT).await);
    assert!(relay.wait_peer("s1.b.net", LIMIT).await && relay.wait_peer("s2.b.net", LIMIT).await);
    let mut events = relay.subscribe();

    let total = 200;
    let mut tasks = Vec::new();
    for i in 0..total {
        let cli = cli.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i as u64 * 2)).await;
            cli.request(request("b.net", &format!("s;{i}"))).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    s1.abort();
    for t in tasks {
        match timeout(LIMIT, t).await.unwrap().unwrap() {
            Ok(a) if result_code(&a) == Some(2001) => {}
            other => panic!("request lost: {other:?}"),
        }
    }
    let mut failovers = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, NodeEvent::Failover { .. }) {
            failovers += 1;
        }
    }
    assert!(
        failovers > 0,
        "some relayed requests were pending on the dead server"
    );
    assert_eq!(
        retransmitted.load(Ordering::Relaxed),
        failovers,
        "each failed-over request carried the T flag"
    );
    let usage = relay.resource_usage();
    assert_eq!(
        usage.duplicate_cache_entries, 0,
        "the server detects duplicates, not the relay"
    );
}

#[tokio::test]
async fn silent_peer_is_suspect_within_two_tw() {
    use diameter_core::peer::capabilities::{cea, Capabilities};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A fake peer: answers the CER, then reads and ignores everything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        let Ok(n) = s.read(&mut buf).await else {
            return;
        };
        let Ok(cer) = RawMessage::decode(buf[..n].to_vec().into(), &Default::default()) else {
            return;
        };
        let me = Capabilities {
            origin_host: "mute.b.net".into(),
            origin_realm: "b.net".into(),
            host_ip_addresses: vec![addr.ip()],
            product_name: "mute".into(),
            auth_applications: vec![APP],
            ..Default::default()
        };
        let _ = s
            .write_all(&cea(&me, &cer.header, 2001, None, None).to_bytes())
            .await;
        for _ in 0..1000 {
            if matches!(s.read(&mut buf).await, Ok(0) | Err(_)) {
                return;
            }
        }
    });
    let cli = client(&[("mute.b.net", addr)]).await;
    let mut events = cli.subscribe();
    assert!(cli.wait_peer("mute.b.net", LIMIT).await);
    let start = tokio::time::Instant::now();
    let tw = fast().tw + fast().tw_jitter;
    timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerSuspect { .. }) = events.recv().await {
                return;
            }
        }
    })
    .await
    .unwrap();
    let took = start.elapsed();
    assert!(
        took <= 2 * tw + Duration::from_millis(150),
        "suspect after {took:?}"
    );
    assert!(!cli.is_peer_available("mute.b.net"));
    // And DOWN one Tw later.
    timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerDown {
                reason: DownReason::Watchdog,
                ..
            }) = events.recv().await
            {
                return;
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unknown_peer_gets_3010_and_limits_apply() {
    use diameter_core::peer::AcceptPolicy;
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .accept_policy(AcceptPolicy::AllowList(vec!["friend.a.net".into()]))
        .limits({
            let mut nl = NodeLimits::default();
            nl.max_pending_per_peer = 4;
            nl
        })
        .build()
        .await
        .unwrap();
    let cli = client(&[("server.b.net", srv.local_addrs()[0])]).await;
    let mut events = cli.subscribe();
    let reason = timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerDown { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reason, DownReason::CapabilitiesRejected(3010));
}

#[tokio::test]
async fn io_threads_serve_each_connection_on_one_thread_of_their_own() {
    // The handler notes the thread it runs on.
    let threads = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let seen = threads.clone();
    let answer = echo("server.b.net");
    let srv = threaded_server(2)
        .handler(APP, CCR, move |req: RawMessage| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            seen.lock().unwrap().insert(name);
            answer(req)
        })
        .build()
        .await
        .unwrap();
    // Two clients, one of them dialling from its own I/O thread.
    let one = client(&[("server.b.net", srv.local_addrs()[0])]).await;
    let two = Node::builder()
        .origin_host("client2.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .io_threads(1)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    for (i, cli) in [&one, &two].into_iter().enumerate() {
        assert!(cli.wait_peer("server.b.net", LIMIT).await, "CER/CEA");
        for n in 0..20 {
            let ans = cli.request(request("b.net", &format!("s;{i};{n}"))).await;
            assert_eq!(result_code(&ans.unwrap()), Some(2001));
        }
    }
    // One connection per I/O thread, taken in turn.
    let names: Vec<String> = threads.lock().unwrap().iter().cloned().collect();
    assert_eq!(names, ["diameter-io-0", "diameter-io-1"]);
    // Aborted: the server's threads end and its connections drop.
    srv.abort();
    let down = async {
        while one.is_peer_available("server.b.net") || two.is_peer_available("server.b.net") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(LIMIT, down).await.expect("connections dropped");
}

#[tokio::test]
async fn an_io_thread_that_has_handled_all_it_read_calls_the_idle_hook() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let handled = Arc::new(AtomicUsize::new(0));
    // Per call of the hook: its thread and how many requests were handled by then.
    let calls = Arc::new(std::sync::Mutex::new(Vec::<(String, usize)>::new()));
    let (count, seen) = (handled.clone(), calls.clone());
    let answer = echo("server.b.net");
    let counted = handled.clone();
    let srv = threaded_server(1)
        .on_io_idle(move || {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            seen.lock()
                .unwrap()
                .push((name, count.load(Ordering::SeqCst)));
        })
        .handler(APP, CCR, move |req: RawMessage| {
            counted.fetch_add(1, Ordering::SeqCst);
            answer(req)
        })
        .build()
        .await
        .unwrap();
    let cli = client(&[("server.b.net", srv.local_addrs()[0])]).await;
    assert!(cli.wait_peer("server.b.net", LIMIT).await, "CER/CEA");
    for n in 0..20 {
        let ans = cli.request(request("b.net", &format!("s;{n}"))).await;
        assert_eq!(result_code(&ans.unwrap()), Some(2001));
    }
    // Its thread goes idle after the last request too.
    let last = async {
        while calls.lock().unwrap().last().map(|c| c.1) != Some(20) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(LIMIT, last)
        .await
        .expect("the hook called after the last request");
    let calls = calls.lock().unwrap();
    assert!(
        calls.iter().all(|(name, _)| name == "diameter-io-0"),
        "{calls:?}"
    );
    assert_eq!(handled.load(Ordering::SeqCst), 20);
}

/// A request the peer never answers ends with `RequestError::Timeout` at its own deadline:
/// the peer's agent holds the deadline of each pending request (the node agent's coarser
/// tick is only the bound for a peer that never reports).
#[tokio::test]
async fn an_unanswered_request_times_out_at_its_deadline() {
    let srv = Node::builder()
        .origin_host("slow.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .handler(APP, CCR, |req: RawMessage| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            req
        })
        .build()
        .await
        .unwrap();
    let cli = client(&[("slow.b.net", srv.local_addrs()[0])]).await;
    assert!(cli.wait_peer("slow.b.net", LIMIT).await);
    let wait = Duration::from_millis(300);
    let start = tokio::time::Instant::now();
    let r = timeout(
        LIMIT,
        cli.request_with_timeout(request("b.net", "s;slow"), wait),
    )
    .await
    .unwrap();
    let took = start.elapsed();
    assert!(matches!(r, Err(RequestError::Timeout)), "{r:?}");
    assert!(took >= wait, "ended after {took:?}, before its deadline");
    assert!(
        took < wait + Duration::from_millis(600),
        "ended after {took:?}"
    );
    // The connection stays up for the next request.
    assert!(cli.is_peer_available("slow.b.net"));
}

/// A handler sees the peer its request came from (lowercase, as admitted) through
/// `request_peer()` when it answers at once, and in a handler that waits, both before and
/// after the wait: the node enters the request's scope for the first poll, which runs on
/// the peer's own task, and for every later poll, in the task the handler goes on in.
#[tokio::test]
async fn handlers_see_their_peer_before_and_after_a_wait() {
    use diameter_core::node::request_peer;
    const USER_NAME: u32 = 1;
    let seen = |req: &RawMessage, peers: &[Option<Arc<str>>]| {
        let mut avps = vec![];
        avps.extend(req.find(avp::SESSION_ID, 0));
        avps.push(u32_avp(avp::RESULT_CODE, 2001));
        avps.push(str_avp(avp::ORIGIN_HOST, "srv.b.net"));
        avps.push(str_avp(avp::ORIGIN_REALM, "b.net"));
        for p in peers {
            avps.push(str_avp(USER_NAME, p.as_deref().unwrap_or("none")));
        }
        let h = Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0);
        RawMessage::from_avps(h, &avps)
    };
    let srv = Node::builder()
        .origin_host("srv.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .handler(APP, CCR, move |req: RawMessage| async move {
            let before = request_peer();
            // A session ending in "wait" makes the handler wait before answering.
            if req
                .find(avp::SESSION_ID, 0)
                .is_some_and(|s| s.data.ends_with(b"wait"))
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen(&req, &[before, request_peer()])
        })
        .build()
        .await
        .unwrap();
    let cli = Node::builder()
        .origin_host("Client.A.Net")
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(PeerConfig::new("srv.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(cli.wait_peer("srv.b.net", LIMIT).await);
    for session in ["s;now", "s;wait"] {
        let answer = timeout(LIMIT, cli.request(request("b.net", session)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(result_code(&answer), Some(2001), "{session}");
        let peers: Vec<String> = answer
            .avps()
            .map_while(Result::ok)
            .filter(|a| a.code == USER_NAME)
            .map(|a| String::from_utf8(a.data().to_vec()).unwrap())
            .collect();
        assert_eq!(peers, ["client.a.net", "client.a.net"], "{session}");
    }
    // Outside a handler there is no request, so no peer.
    assert_eq!(request_peer(), None);
}

/// Held answers ([`AnswerBuf::hold_until`]): released inside [`release_from_here`] from a
/// thread of the releaser's own, they leave from that thread, even while the node's only
/// I/O thread is busy.
///
/// [`AnswerBuf::hold_until`]: diameter_core::node::AnswerBuf::hold_until
/// [`release_from_here`]: diameter_core::node::release_from_here
mod held {
    use bytes::BytesMut;
    use diameter_core::avp::{put_fixed, AvpFlags, AvpIter};
    use diameter_core::base::avp;
    use diameter_core::error::DecodeError;
    use diameter_core::fields::{result_code, session_id, str_avp};
    use diameter_core::node::{
        release_from_here, AnswerBuf, Handler, HandlerFuture, Node, PeerConfig, Release, Routed,
    };
    use diameter_core::peer::PeerSettings;
    use diameter_core::routing::LocalNode;
    use diameter_core::traits::{AvpGroup, Command, DecodeCtx};
    use diameter_core::RawMessage;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    use std::time::{Duration, Instant};
    use tokio::time::timeout;

    use super::{request, APP, CCR, LIMIT};

    /// How long the `block` request holds the server's I/O thread.
    const BLOCK: Duration = Duration::from_secs(2);

    /// An answer: Session-Id, Result-Code 2001, Origin-Host and Origin-Realm.
    #[derive(Default)]
    struct Cca(String);

    impl AvpGroup for Cca {
        fn decode_into(&mut self, _: AvpIter<'_>, _: &mut DecodeCtx) -> Result<(), DecodeError> {
            Ok(())
        }

        fn encode_avps(&self, out: &mut BytesMut) {
            str_avp(avp::SESSION_ID, &self.0).encode(out);
            put_fixed(
                out,
                avp::RESULT_CODE,
                AvpFlags::MANDATORY,
                0,
                &2001u32.to_be_bytes(),
            );
            str_avp(avp::ORIGIN_HOST, "server.b.net").encode(out);
            str_avp(avp::ORIGIN_REALM, "b.net").encode(out);
        }
    }

    impl Command for Cca {
        const CODE: u32 = CCR;
        const APPLICATION_ID: u32 = APP;
        const REQUEST: bool = false;
        const PROXIABLE: bool = true;
        const SHORT_NAME: &'static str = "CCA";
    }

    /// Opens once; the releases waiting for it are woken inside `release_from_here`.
    #[derive(Default)]
    struct Gate {
        open: AtomicBool,
        wakers: Mutex<Vec<Waker>>,
    }

    impl Gate {
        fn release(self: &Arc<Self>) -> Release {
            let gate = self.clone();
            Box::pin(std::future::poll_fn(move |cx| {
                if gate.open.load(Ordering::SeqCst) {
                    return Poll::Ready(true);
                }
                gate.wakers.lock().unwrap().push(cx.waker().clone());
                match gate.open.load(Ordering::SeqCst) {
                    true => Poll::Ready(true),
                    false => Poll::Pending,
                }
            }))
        }

        fn open(&self) {
            self.open.store(true, Ordering::SeqCst);
            let wakers = std::mem::take(&mut *self.wakers.lock().unwrap());
            release_from_here(|| wakers.into_iter().for_each(Waker::wake));
        }
    }

    /// Answers at once, holding each answer until the gate opens; a request whose Session-Id
    /// starts with `block` holds the I/O thread for [`BLOCK`] instead and is answered unheld.
    struct HeldHandler {
        gate: Arc<Gate>,
        handled: Arc<AtomicUsize>,
        blocking: Arc<AtomicBool>,
        unblocked: Arc<Mutex<Option<Instant>>>,
    }

    impl Handler for HeldHandler {
        fn call(&self, request: RawMessage) -> HandlerFuture {
            let answer = Cca(session_id(&request).unwrap_or_default());
            let h = request.header;
            Box::pin(
                async move { Ok(answer.to_message(h.application_id, h.hop_by_hop, h.end_to_end)) },
            )
        }

        fn call_routed(
            &self,
            request: RawMessage,
            _local: &LocalNode<'_>,
            out: &mut AnswerBuf<'_>,
        ) -> Routed {
            let session = session_id(&request).unwrap_or_default();
            if session.starts_with("block") {
                self.blocking.store(true, Ordering::SeqCst);
                std::thread::sleep(BLOCK);
                *self.unblocked.lock().unwrap() = Some(Instant::now());
                out.encode(&Cca(session));
            } else {
                out.encode(&Cca(session));
                out.hold_until(self.gate.release());
            }
            self.handled.fetch_add(1, Ordering::SeqCst);
            Routed::Encoded { proxy_info: false }
        }
    }

    #[tokio::test]
    async fn answers_released_from_another_thread_leave_while_the_io_thread_is_busy() {
        let gate = Arc::new(Gate::default());
        let handled = Arc::new(AtomicUsize::new(0));
        let blocking = Arc::new(AtomicBool::new(false));
        let unblocked = Arc::new(Mutex::new(None));
        let srv = super::threaded_server(1)
            .handler(
                APP,
                CCR,
                HeldHandler {
                    gate: gate.clone(),
                    handled: handled.clone(),
                    blocking: blocking.clone(),
                    unblocked: unblocked.clone(),
                },
            )
            .build()
            .await
            .unwrap();
        let cli = Arc::new(
            Node::builder()
                .origin_host("client.a.net")
                .origin_realm("a.net")
                .auth_application(APP)
                .peer(
                    PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(PeerSettings {
                        tc: Duration::from_millis(200),
                        ..PeerSettings::default()
                    }),
                )
                .build()
                .await
                .unwrap(),
        );
        assert!(cli.wait_peer("server.b.net", LIMIT).await, "CER/CEA");

        // Two requests answered and held: nothing arrives before the gate opens.
        let held: Vec<_> = (1..=2)
            .map(|n| {
                let cli = cli.clone();
                tokio::spawn(async move {
                    let answer = cli.request(request("b.net", &format!("held;{n}"))).await;
                    (answer, Instant::now())
                })
            })
            .collect();
        let both = async {
            while handled.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        timeout(LIMIT, both).await.expect("both requests handled");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(held.iter().all(|h| !h.is_finished()), "held until released");

        // The I/O thread is kept busy; the gate opens from a thread of its own meanwhile.
        let blocker = {
            let cli = cli.clone();
            tokio::spawn(async move { cli.request(request("b.net", "block;1")).await })
        };
        let started = async {
            while !blocking.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        timeout(LIMIT, started)
            .await
            .expect("the blocking request handled");
        let opener = gate.clone();
        std::thread::spawn(move || opener.open()).join().unwrap();

        for (n, h) in held.into_iter().enumerate() {
            let (answer, arrived) = timeout(LIMIT, h).await.unwrap().unwrap();
            let answer = answer.expect("answered");
            assert_eq!(result_code(&answer), Some(2001));
            assert_eq!(
                session_id(&answer).as_deref(),
                Some(&*format!("held;{}", n + 1))
            );
            // It left while the I/O thread was still handling the blocking request.
            let unblocked = *unblocked.lock().unwrap();
            assert!(
                unblocked.is_none_or(|t| arrived < t),
                "answer {} arrived after the I/O thread was free again",
                n + 1
            );
        }
        let answer = timeout(LIMIT, blocker).await.unwrap().unwrap().unwrap();
        assert_eq!(result_code(&answer), Some(2001));
        assert!(unblocked.lock().unwrap().is_some());
    }
}
