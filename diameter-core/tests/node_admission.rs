//! Who may connect, and what a peer may claim: the loopback default, allow-lists with
//! source networks, CERs that claim a peer already connected or being dialled, and
//! servers that are not agents refusing to forward. Hostile peers are raw TCP sockets on
//! loopback; every wait is bounded.

use diameter_core::base::avp;
use diameter_core::fields::{result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::peer::{capabilities, AcceptPolicy, AllowedPeer, Capabilities, PeerSettings};
use diameter_core::RawMessage;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);

fn fast() -> PeerSettings {
    PeerSettings {
        tw: Duration::from_millis(500),
        tw_jitter: Duration::from_millis(20),
        tc: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        cea_timeout: Duration::from_secs(5),
        dpa_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

fn caps(host: &str, realm: &str) -> Capabilities {
    Capabilities {
        origin_host: host.into(),
        origin_realm: realm.into(),
        host_ip_addresses: vec![[127, 0, 0, 1].into()],
        product_name: "hostile".into(),
        auth_applications: vec![APP],
        ..Default::default()
    }
}

/// Connects from `from` (an address of this host, port 0) to `to`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let from: SocketAddr = from.parse().unwrap();
    let sock = if from.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .unwrap();
    sock.bind(from).unwrap();
    timeout(LIMIT, sock.connect(to)).await.unwrap().unwrap()
}

/// Reads one message, or `None` when the peer closes first.
async fn read_msg(s: &mut TcpStream) -> Option<RawMessage> {
    let mut head = [0u8; 4];
    timeout(LIMIT, s.read_exact(&mut head)).await.ok()?.ok()?;
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut buf = vec![0u8; len];
    buf[..4].copy_from_slice(&head);
    timeout(LIMIT, s.read_exact(&mut buf[4..]))
        .await
        .ok()?
        .ok()?;
    Some(RawMessage::decode(buf.into(), &Default::default()).unwrap())
}

/// Whether the peer closes the connection (within the limit).
async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match timeout(LIMIT, s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Sends a CER as `host` from `from` and returns the CEA's Result-Code (0: no CEA).
async fn cer_as(host: &str, from: &str, to: SocketAddr) -> (u32, TcpStream) {
    let mut s = connect_from(from, to).await;
    let cer = capabilities::cer(&caps(host, "a.net"), 7, 7);
    s.write_all(&cer.to_bytes()).await.unwrap();
    let code = match read_msg(&mut s).await {
        Some(cea) => result_code(&cea).unwrap_or(0),
        None => 0,
    };
    (code, s)
}

fn request(dest_realm: &str, dest_host: Option<&str>, session: &str) -> RawMessage {
    let h = Header::new(
        CCR,
        APP,
        CommandFlags::REQUEST | CommandFlags::PROXIABLE,
        0,
        0,
    );
    let mut avps = vec![
        str_avp(avp::SESSION_ID, session),
        str_avp(avp::ORIGIN_HOST, "client.c.net"),
        str_avp(avp::ORIGIN_REALM, "c.net"),
        str_avp(avp::DESTINATION_REALM, dest_realm),
    ];
    if let Some(h) = dest_host {
        avps.push(str_avp(avp::DESTINATION_HOST, h));
    }
    RawMessage::from_avps(h, &avps)
}

/// A handler answering 2001 that counts its calls.
fn counting(
    host: &'static str,
    calls: Arc<AtomicUsize>,
) -> impl Fn(RawMessage) -> std::future::Ready<RawMessage> + Clone {
    move |req: RawMessage| {
        calls.fetch_add(1, Ordering::SeqCst);
        let mut avps = vec![];
        avps.extend(req.find(avp::SESSION_ID, 0));
        avps.push(u32_avp(avp::RESULT_CODE, 2001));
        avps.push(str_avp(avp::ORIGIN_HOST, host));
        avps.push(str_avp(avp::ORIGIN_REALM, "a.net"));
        let h = Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0);
        std::future::ready(RawMessage::from_avps(h, &avps))
    }
}

#[tokio::test]
async fn default_policy_takes_loopback_peers() {
    let srv = Node::builder()
        .origin_host("server.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .listen("[::1]:0".parse().unwrap())
        .build()
        .await
        .unwrap();
    for (from, to) in [("127.0.0.1:0", 0), ("[::1]:0", 1)] {
        let (code, _s) = cer_as("anyone.c.net", from, srv.local_addrs()[to]).await;
        assert_eq!(code, 2001, "from {from}");
    }
}

#[tokio::test]
async fn allow_list_refuses_unlisted_hosts_and_listed_hosts_from_other_sources() {
    let srv = Node::builder()
        .origin_host("server.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .listen("[::1]:0".parse().unwrap())
        .accept_policy(AcceptPolicy::AllowList(vec![
            AllowedPeer::new("pgw.c.net").from_source("::1/128".parse().unwrap()),
            "dra.c.net".into(),
        ]))
        .build()
        .await
        .unwrap();
    let (v4, v6) = (srv.local_addrs()[0], srv.local_addrs()[1]);
    // Made-up Origin-Host, even from loopback: 3010, then the connection closes.
    let (code, mut s) = cer_as("made-up.c.net", "127.0.0.1:0", v4).await;
    assert_eq!(code, 3010);
    assert!(closed(&mut s).await);
    // The listed host from an address its entry does not allow: 3010.
    let (code, mut s) = cer_as("pgw.c.net", "127.0.0.1:0", v4).await;
    assert_eq!(code, 3010);
    assert!(closed(&mut s).await);
    // From its own source, and a listed host without a source from anywhere: admitted.
    let (code, _pgw) = cer_as("PGW.c.net", "[::1]:0", v6).await;
    assert_eq!(code, 2001);
    let (code, _dra) = cer_as("dra.c.net", "127.0.0.1:0", v4).await;
    assert_eq!(code, 2001);
    assert!(srv.peers().contains(&"pgw.c.net".to_owned()));
    assert!(!srv.peers().contains(&"made-up.c.net".to_owned()));
}

#[tokio::test]
async fn a_cer_cannot_take_over_a_connected_peer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let srv = Node::builder()
        .origin_host("server.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .handler(APP, CCR, counting("server.a.net", calls.clone()))
        .build()
        .await
        .unwrap();
    let real = Node::builder()
        .origin_host("pgw.c.net")
        .origin_realm("c.net")
        .auth_application(APP)
        .peer(PeerConfig::new("server.a.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(real.wait_peer("server.a.net", LIMIT).await);
    assert!(srv.wait_peer("pgw.c.net", LIMIT).await);

    // The impostor claims the real peer's identity on a second connection.
    let (code, mut s) = cer_as("pgw.c.net", "127.0.0.1:0", srv.local_addrs()[0]).await;
    assert_ne!(code, 2001, "the impostor must not be welcomed");
    assert!(closed(&mut s).await, "the impostor's connection is closed");

    // The real peer is still open and still answered, over its own connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(srv.is_peer_available("pgw.c.net"));
    assert!(real.is_peer_available("server.a.net"));
    let ans = real
        .request(request("a.net", None, "pgw.c.net;1"))
        .await
        .unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cer_cannot_take_over_a_peer_being_dialled() {
    // The real peer listens on ::1 and is slow to answer our CER: the server sits in
    // Wait-I-CEA. "server.a.net" sorts after "pgw.c.net", so the server would win an
    // election and drop its own connection for the responder one.
    let real = TcpListener::bind("[::1]:0").await.unwrap();
    let real_addr = real.local_addr().unwrap();
    let srv = Node::builder()
        .origin_host("server.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .peer(PeerConfig::new("pgw.c.net", real_addr).settings(fast()))
        .build()
        .await
        .unwrap();
    let (mut dialled, _) = timeout(LIMIT, real.accept()).await.unwrap().unwrap();
    let our_cer = read_msg(&mut dialled)
        .await
        .expect("the server sends its CER");

    // Meanwhile an impostor connects from 127.0.0.1 claiming pgw.c.net: refused.
    let (code, mut s) = cer_as("pgw.c.net", "127.0.0.1:0", srv.local_addrs()[0]).await;
    assert_eq!(code, 3010);
    assert!(closed(&mut s).await);

    // The connection the server opened survives: the real peer answers and it opens.
    let cea = capabilities::cea(
        &caps("pgw.c.net", "c.net"),
        &our_cer.header,
        2001,
        None,
        None,
    );
    dialled.write_all(&cea.to_bytes()).await.unwrap();
    assert!(srv.wait_peer("pgw.c.net", LIMIT).await);
}

/// Two servers of realm a.net; ocs1 is connected to ocs2. A client from outside asks
/// ocs1 for ocs2 by Destination-Host.
async fn realm_of_two(agent: bool) -> (Node, Node, Node, Arc<AtomicUsize>) {
    let calls2 = Arc::new(AtomicUsize::new(0));
    let ocs2 = Node::builder()
        .origin_host("ocs2.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .handler(APP, CCR, counting("ocs2.a.net", calls2.clone()))
        .build()
        .await
        .unwrap();
    let ocs1 = Node::builder()
        .origin_host("ocs1.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .agent(agent)
        .peer(PeerConfig::new("ocs2.a.net", ocs2.local_addrs()[0]).settings(fast()))
        .handler(APP, CCR, counting("ocs1.a.net", Arc::default()))
        .build()
        .await
        .unwrap();
    let client = Node::builder()
        .origin_host("client.c.net")
        .origin_realm("c.net")
        .auth_application(APP)
        .peer(PeerConfig::new("ocs1.a.net", ocs1.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(ocs1.wait_peer("ocs2.a.net", LIMIT).await);
    assert!(client.wait_peer("ocs1.a.net", LIMIT).await);
    (client, ocs1, ocs2, calls2)
}

#[tokio::test]
async fn a_server_answers_3002_for_another_host_of_its_realm_and_never_forwards() {
    let (client, _ocs1, _ocs2, calls2) = realm_of_two(false).await;
    let ans = client
        .request(request("a.net", Some("ocs2.a.net"), "client.c.net;1"))
        .await
        .unwrap();
    assert_eq!(result_code(&ans), Some(3002));
    assert!(ans.header.is_error(), "E bit");
    // Another realm: 3003.
    let ans = client
        .request(request("b.net", Some("x.b.net"), "client.c.net;2"))
        .await;
    if let Ok(ans) = ans {
        assert_eq!(result_code(&ans), Some(3003));
    }
    // Its own requests are still served.
    let ans = client
        .request(request("a.net", None, "client.c.net;3"))
        .await
        .unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(calls2.load(Ordering::SeqCst), 0, "ocs2 never saw a request");

    // The same realm with ocs1 configured as an agent does forward: the check above is
    // the switch, not an accident of routing.
    let (client, _ocs1, _ocs2, calls2) = realm_of_two(true).await;
    let ans = client
        .request(request("a.net", Some("ocs2.a.net"), "client.c.net;4"))
        .await
        .unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    assert_eq!(calls2.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cer_cannot_claim_a_configured_peer_between_dials() {
    // The configured peer is down (nothing listens at its address on ::1): the server
    // redials it after Tc. A CER claiming it from elsewhere must not open it meanwhile.
    let gone = TcpListener::bind("[::1]:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    let srv = Node::builder()
        .origin_host("server.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .listen("[::1]:0".parse().unwrap())
        .peer(PeerConfig::new("pgw.c.net", gone_addr).settings(fast()))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, mut s) = cer_as("pgw.c.net", "127.0.0.1:0", srv.local_addrs()[0]).await;
    assert_eq!(code, 3010);
    assert!(closed(&mut s).await);
    assert!(!srv.is_peer_available("pgw.c.net"));
    // From the address it is dialled at, the peer itself may connect.
    let (code, _s) = cer_as("pgw.c.net", "[::1]:0", srv.local_addrs()[1]).await;
    assert_eq!(code, 2001);
    assert!(srv.wait_peer("pgw.c.net", LIMIT).await);
}
