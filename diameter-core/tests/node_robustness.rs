//! Robustness of the `Node` over loopback: a retransmitted request (T flag) that arrives
//! while the first is still in its handler waits for that answer; peers that connected
//! without configuration leave the peer table when they go down. Every wait is bounded.

use diameter_core::base::{avp, DisconnectCause};
use diameter_core::fields::{find_u32, result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::peer::PeerSettings;
use diameter_core::RawMessage;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);
/// A vendor-less AVP code the handler uses to number its calls.
const CALL: u32 = 415;

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

fn request(e2e: u32, retransmit: bool) -> RawMessage {
    let mut flags = CommandFlags::REQUEST | CommandFlags::PROXIABLE;
    if retransmit {
        flags |= CommandFlags::RETRANSMIT;
    }
    RawMessage::from_avps(
        Header::new(CCR, APP, flags, 0, e2e),
        &[
            str_avp(avp::SESSION_ID, "dup;1"),
            str_avp(avp::ORIGIN_HOST, "client.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
        ],
    )
}

async fn server(calls: Arc<AtomicU32>) -> Node {
    Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .handler(APP, CCR, move |req: RawMessage| {
            let calls = calls.clone();
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(400)).await;
                let avps = [
                    req.find(avp::SESSION_ID, 0).unwrap(),
                    u32_avp(avp::RESULT_CODE, 2001),
                    str_avp(avp::ORIGIN_HOST, "server.b.net"),
                    str_avp(avp::ORIGIN_REALM, "b.net"),
                    u32_avp(CALL, n),
                ];
                RawMessage::from_avps(Header::new(CCR, APP, 0, 0, 0), &avps)
            }
        })
        .build()
        .await
        .unwrap()
}

async fn client(name: &str, srv: &Node) -> Node {
    Node::builder()
        .origin_host(name)
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn retransmission_waits_for_the_handler_in_progress() {
    let calls = Arc::new(AtomicU32::new(0));
    let srv = server(calls.clone()).await;
    let cli = client("client.a.net", &srv).await;
    assert!(cli.wait_peer("server.b.net", LIMIT).await);

    let e2e = cli.next_end_to_end();
    let first = tokio::spawn({
        let cli = cli.clone();
        async move { cli.request(request(e2e, false)).await }
    });
    // The retransmission comes while the first is still in the handler (400 ms).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = cli.request(request(e2e, true)).await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(result_code(&first), Some(2001));
    assert_eq!(result_code(&second), Some(2001));
    assert_eq!(find_u32(&first, CALL), Some(1));
    assert_eq!(
        find_u32(&second, CALL),
        Some(1),
        "the same answer, not a second call"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Afterwards a retransmission is answered from the cache; a new request runs.
    let third = cli.request(request(e2e, true)).await.unwrap();
    assert_eq!(find_u32(&third, CALL), Some(1));
    let other = cli.request(request(e2e + 1, false)).await.unwrap();
    assert_eq!(find_u32(&other, CALL), Some(2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test]
async fn unconfigured_peers_leave_the_table_when_down() {
    let srv = server(Arc::new(AtomicU32::new(0))).await;

    // DPR: the peer goes down and leaves the table.
    let a = client("a.a.net", &srv).await;
    assert!(a.wait_peer("server.b.net", LIMIT).await);
    assert!(srv.wait_peer("a.a.net", LIMIT).await);
    assert_eq!(srv.peers(), vec!["a.a.net".to_string()]);
    a.stop(DisconnectCause::DoNotWantToTalkToYou).await;
    assert!(
        wait_until(LIMIT, || srv.peers().is_empty()).await,
        "{:?}",
        srv.peers()
    );

    // A dropped connection (no DPR) too.
    let b = client("b.a.net", &srv).await;
    assert!(srv.wait_peer("b.a.net", LIMIT).await);
    b.abort();
    assert!(
        wait_until(LIMIT, || srv.peers().is_empty()).await,
        "{:?}",
        srv.peers()
    );

    // A refused CER (no common application) leaves nothing behind either.
    let c = Node::builder()
        .origin_host("c.a.net")
        .origin_realm("a.net")
        .auth_application(99)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.is_peer_available("server.b.net"));
    assert!(
        wait_until(LIMIT, || srv.peers().is_empty()).await,
        "{:?}",
        srv.peers()
    );
    c.abort();

    // The same name may come back, and is a fresh peer.
    let a2 = client("a.a.net", &srv).await;
    assert!(a2.wait_peer("server.b.net", LIMIT).await);
    assert!(srv.wait_peer("a.a.net", LIMIT).await);
    let ans = a2
        .request(request(a2.next_end_to_end(), false))
        .await
        .unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    // Configured peers stay in the client's table while down.
    srv.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a2.peers(), vec!["server.b.net".to_string()]);
}
