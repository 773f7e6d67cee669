//! Nodes over TLS (RFC 6733 §13) on loopback: mutual authentication, CER/CEA and a
//! request; peers whose certificate does not match their Origin-Host are refused.
//! Certificates are made by rcgen for each test. Every wait is bounded.
#![cfg(feature = "tls")]

use diameter_core::base::avp;
use diameter_core::fields::{result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use diameter_core::node::{Node, NodeEvent, PeerConfig, TlsConfig};
use diameter_core::peer::{DownReason, PeerSettings};
use diameter_core::RawMessage;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use std::time::Duration;

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A leaf certificate for `names` (subject alternative names), for servers and clients.
    fn issue(&self, names: &[&str]) -> TlsConfig {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        TlsConfig::new(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            vec![self.der()],
        )
    }
}

fn fast() -> PeerSettings {
    PeerSettings {
        tw: Duration::from_millis(500),
        tw_jitter: Duration::from_millis(20),
        tc: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        cea_timeout: Duration::from_secs(2),
        dpa_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

fn request() -> RawMessage {
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
            str_avp(avp::SESSION_ID, "tls;1"),
            str_avp(avp::ORIGIN_HOST, "client.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
        ],
    )
}

async fn answer(req: RawMessage) -> RawMessage {
    let mut avps = vec![];
    avps.extend(req.find(avp::SESSION_ID, 0));
    avps.push(u32_avp(avp::RESULT_CODE, 2001));
    avps.push(str_avp(avp::ORIGIN_HOST, "server.b.net"));
    avps.push(str_avp(avp::ORIGIN_REALM, "b.net"));
    let h = Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0);
    RawMessage::from_avps(h, &avps)
}

async fn server(tls: TlsConfig) -> Node {
    Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .tls(tls)
        .handler(APP, CCR, answer)
        .build()
        .await
        .unwrap()
}

async fn client(srv: &Node, tls: TlsConfig) -> Node {
    Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(
            PeerConfig::new("server.b.net", srv.local_addrs()[0])
                .settings(fast())
                .tls(tls),
        )
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn mutual_tls_capabilities_exchange_and_request() {
    let ca = Ca::new("test CA");
    let srv = server(ca.issue(&["server.b.net"])).await;
    let cli = client(&srv, ca.issue(&["client.a.net"])).await;
    assert!(
        cli.wait_peer("server.b.net", LIMIT).await,
        "CER/CEA over TLS"
    );
    assert!(srv.wait_peer("client.a.net", LIMIT).await);
    let ans = cli.request(request()).await.unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    assert_eq!(
        ans.find(avp::SESSION_ID, 0).map(|a| a.data),
        Some("tls;1".into())
    );
    // A few watchdog exchanges over TLS keep the peer up.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(cli.is_peer_available("server.b.net"));
    assert_eq!(
        result_code(&cli.request(request()).await.unwrap()),
        Some(2001)
    );
}

#[tokio::test]
async fn client_certificate_not_matching_origin_host_is_refused() {
    let ca = Ca::new("test CA");
    let srv = server(ca.issue(&["server.b.net"])).await;
    // A valid certificate of the same CA, but for another host than the CER names.
    let cli = client(&srv, ca.issue(&["mallory.a.net"])).await;
    let mut events = cli.subscribe();
    // The server answers the CER with 3010 DIAMETER_UNKNOWN_PEER (the client retries
    // every few hundred milliseconds, so an early event missed here comes again).
    let reason = tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerDown { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reason, DownReason::CapabilitiesRejected(3010));
    assert!(!cli.is_peer_available("server.b.net"));
    assert!(!srv.is_peer_available("client.a.net"));
    assert!(!srv.is_peer_available("mallory.a.net"));
    // The same server takes a client whose certificate matches.
    let good = client(&srv, ca.issue(&["client.a.net"])).await;
    assert!(good.wait_peer("server.b.net", LIMIT).await);
}

#[tokio::test]
async fn server_certificate_not_matching_the_peer_is_refused() {
    let ca = Ca::new("test CA");
    let srv = server(ca.issue(&["other.b.net"])).await;
    let cli = client(&srv, ca.issue(&["client.a.net"])).await;
    assert!(
        !cli.wait_peer("server.b.net", Duration::from_millis(1500))
            .await
    );
    assert!(!srv.is_peer_available("client.a.net"));
    // Told to expect the name on the certificate, the client accepts the TLS handshake
    // but not the CEA, whose Origin-Host (server.b.net) the certificate does not carry.
    let other = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(
            PeerConfig::new("other.b.net", srv.local_addrs()[0])
                .settings(fast())
                .tls(ca.issue(&["client.a.net"])),
        )
        .build()
        .await
        .unwrap();
    assert!(
        !other
            .wait_peer("other.b.net", Duration::from_millis(1500))
            .await
    );
    assert!(!other.is_peer_available("server.b.net"));
}

#[tokio::test]
async fn untrusted_client_and_plain_tcp_are_refused() {
    let ca = Ca::new("test CA");
    let rogue = Ca::new("rogue CA");
    let srv = server(ca.issue(&["server.b.net"])).await;
    let mut bad = rogue.issue(&["client.a.net"]);
    bad.roots = vec![ca.der()]; // trusts the server, but is not trusted by it
    let cli = client(&srv, bad).await;
    // Plain TCP to a TLS listener does not get a peer either.
    let plain = Node::builder()
        .origin_host("plain.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(
        !cli.wait_peer("server.b.net", Duration::from_millis(1500))
            .await
    );
    assert!(!plain.is_peer_available("server.b.net"));
    assert!(!srv.is_peer_available("client.a.net"));
    assert!(!srv.is_peer_available("plain.a.net"));
}

#[tokio::test]
async fn only_peers_marked_plain_may_skip_tls() {
    use diameter_core::peer::{AcceptPolicy, AllowedPeer};
    let ca = Ca::new("test CA");
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(fast())
        .tls(ca.issue(&["server.b.net"]))
        .accept_policy(AcceptPolicy::AllowList(vec![
            AllowedPeer::new("legacy.a.net").plain(),
            "client.a.net".into(),
        ]))
        .handler(APP, CCR, answer)
        .build()
        .await
        .unwrap();
    let plain_client = |host: &'static str| {
        Node::builder()
            .origin_host(host)
            .origin_realm("a.net")
            .auth_application(APP)
            .tls(ca.issue(&[host]))
            .peer(
                PeerConfig::new("server.b.net", srv.local_addrs()[0])
                    .settings(fast())
                    .plain(),
            )
            .build()
    };
    // Listed but not marked plain: TLS is required, a plain CER gets 3010.
    let refused = plain_client("client.a.net").await.unwrap();
    let mut events = refused.subscribe();
    let reason = tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerDown { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reason, DownReason::CapabilitiesRejected(3010));
    // Marked plain: served over plain TCP on the same port.
    let legacy = plain_client("legacy.a.net").await.unwrap();
    assert!(legacy.wait_peer("server.b.net", LIMIT).await);
    let ans = legacy.request(request()).await.unwrap();
    assert_eq!(result_code(&ans), Some(2001));
    // And TLS clients still work next to it.
    let tls_client = client(&srv, ca.issue(&["client.a.net"])).await;
    assert!(tls_client.wait_peer("server.b.net", LIMIT).await);
}
