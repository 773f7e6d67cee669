//! A SIP server's Diameter client over loopback TCP behind redirect agents (RFC 4740
//! §6.8): two AAA servers, each holding the users of its realm; the runtime's redirect
//! agent (realm routes with `RouteAction::Redirect`, as `diameter serve relay` runs it)
//! and a subscriber locator answering 3006 per user with Redirect-Host-Usage ALL_USER.
//! Also: the server choice by capabilities and several auth items, over the same nodes.

use diameter_apps::sip::client::{Candidate, ClientConfig, MarParams, SipClient, SipResult};
use diameter_apps::sip::server::SipPeer;
use diameter_apps::sip::{start, ServeOptions, SipHandle};
use diameter_core::base::{app, avp};
use diameter_core::fields::{find_str, str_avp, u32_avp};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::result_code::DIAMETER_REDIRECT_INDICATION;
use diameter_core::routing::{Route, RouteAction};
use diameter_core::{CommandFlags, Header, RawMessage};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const AAA1: &str = "aaa1.a.example";
const AAA2: &str = "aaa2.b.example";
const AGENT: &str = "redirect.example.net";
const LOCATOR: &str = "locator.example.com";
const SIP1: &str = "sip1.example.net";

fn users(realm: &str, user: &str) -> String {
    format!(
        r#"
realm = "{realm}"

[[user]]
name = "{user}@{realm}"
password = "secret"
aors = ["sip:{user}@{realm}"]
capabilities = {{ mandatory = [1], optional = [7, 8], servers = ["sip:named.example.net"] }}
"#
    )
}

async fn aaa(dir: &std::path::Path, host: &str, realm: &str, user: &str) -> SipHandle {
    let file = dir.join(format!("{host}.toml"));
    std::fs::write(&file, users(realm, user)).unwrap();
    start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = host.into();
        o.origin_realm = realm.into();
        o.store = format!("sqlite://{}", dir.join(format!("{host}.db")).display());
        o.users = Some(file);
        o.sip_servers = vec![SipPeer::new(SIP1)];
        o
    })
    .await
    .expect("start AAA server")
}

/// The runtime's redirect agent: realm a.example to AAA1, b.example to AAA2.
async fn redirect_agent() -> Node {
    Node::builder()
        .origin_host(AGENT)
        .origin_realm("example.net")
        .auth_application(app::RELAY)
        .agent(true)
        .listen("127.0.0.1:0".parse().unwrap())
        .route(Route::realm("a.example", RouteAction::Redirect, vec![AAA1.into()]).application(6))
        .route(Route::realm("b.example", RouteAction::Redirect, vec![AAA2.into()]).application(6))
        .build()
        .await
        .expect("redirect agent")
}

/// A subscriber locator: every SIP request for `carol` goes to AAA2, others to AAA1,
/// cached per user for a minute. Counts the requests it sees.
async fn locator(seen: Arc<AtomicU32>) -> Node {
    let mut b = Node::builder()
        .origin_host(LOCATOR)
        .origin_realm("example.com")
        .auth_application(6)
        .listen("127.0.0.1:0".parse().unwrap());
    for code in [283, 284, 285, 286] {
        let seen = seen.clone();
        b = b.handler(6, code, move |req: RawMessage| {
            seen.fetch_add(1, Ordering::SeqCst);
            // User-Name, else SIP-AOR.
            let user = find_str(&req, 1).or_else(|| find_str(&req, 122));
            let user = user.unwrap_or_default();
            let host = if user.contains("carol") { AAA2 } else { AAA1 };
            let h = req.header;
            let flags = CommandFlags::PROXIABLE | CommandFlags::ERROR;
            let answer = RawMessage::from_avps(
                Header::new(h.command_code, 6, flags, h.hop_by_hop, h.end_to_end),
                &[
                    str_avp(avp::SESSION_ID, &find_str(&req, avp::SESSION_ID).unwrap()),
                    u32_avp(avp::RESULT_CODE, DIAMETER_REDIRECT_INDICATION),
                    str_avp(avp::ORIGIN_HOST, LOCATOR),
                    str_avp(avp::ORIGIN_REALM, "example.com"),
                    str_avp(
                        avp::REDIRECT_HOST,
                        &format!("aaa://{host}:3868;transport=tcp"),
                    ),
                    u32_avp(avp::REDIRECT_HOST_USAGE, 6),
                    u32_avp(avp::REDIRECT_MAX_CACHE_TIME, 60),
                ],
            );
            async move { answer }
        });
    }
    b.build().await.expect("locator")
}

/// The SIP server's node: peers with both AAA servers and `first_hop`, where requests
/// without Destination-Host go.
async fn sip_node(first_hop: (&str, SocketAddr), aaa1: SocketAddr, aaa2: SocketAddr) -> Node {
    let node = Node::builder()
        .origin_host(SIP1)
        .origin_realm("example.net")
        .auth_application(6)
        .peer(PeerConfig::new(first_hop.0, first_hop.1))
        .peer(PeerConfig::new(AAA1, aaa1))
        .peer(PeerConfig::new(AAA2, aaa2))
        .route(Route::default_route(
            RouteAction::Relay,
            vec![first_hop.0.into()],
        ))
        .build()
        .await
        .expect("SIP server node");
    for host in [first_hop.0, AAA1, AAA2] {
        assert!(
            node.wait_peer(host, Duration::from_secs(10)).await,
            "{host} up"
        );
    }
    node
}

fn client(node: &Node, realm: &str) -> SipClient<Node> {
    SipClient::new(ClientConfig::new(SIP1, "example.net", realm), node.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_agent_sends_each_realm_to_its_server() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let a = aaa(dir.path(), AAA1, "a.example", "alice").await;
        let b = aaa(dir.path(), AAA2, "b.example", "bob").await;
        let agent = redirect_agent().await;
        let node = sip_node(
            (AGENT, agent.local_addrs()[0]),
            a.local_addrs()[0],
            b.local_addrs()[0],
        )
        .await;

        let to_a = client(&node, "a.example");
        let to_b = client(&node, "b.example");
        let uaa = to_a.uar("sip:alice@a.example", None).await.unwrap();
        assert_eq!(uaa.result, SipResult::FirstRegistration, "AAA1 knows alice");
        assert_eq!(uaa.raw.origin_host.as_str(), AAA1);
        let uaa = to_b.uar("sip:bob@b.example", None).await.unwrap();
        assert_eq!(uaa.result, SipResult::FirstRegistration, "AAA2 knows bob");
        assert_eq!(uaa.raw.origin_host.as_str(), AAA2);
        // AAA1 does not know bob: redirected there, the answer is AAA1's.
        let uaa = to_a.uar("sip:bob@b.example", None).await.unwrap();
        assert_eq!(uaa.result, SipResult::UserUnknown);
        // The agent's Redirect-Host-Usage is DONT_CACHE: nothing cached.
        assert_eq!(to_a.cached_redirects() + to_b.cached_redirects(), 0);

        // Capabilities of the UAA choose among the SIP server's candidates: mandatory 1,
        // then the most of optional 7 and 8.
        let uaa = to_a.uar("sip:alice@a.example", None).await.unwrap();
        let candidates = [
            Candidate::new("sip:no-mandatory.example.net", &[7, 8]),
            Candidate::new("sip:one-optional.example.net", &[1, 7]),
            Candidate::new("sip:two-optional.example.net", &[1, 7, 8]),
        ];
        assert_eq!(
            uaa.choose_server(&candidates).as_deref(),
            Some("sip:two-optional.example.net")
        );
        assert_eq!(
            uaa.choose_server(&candidates[..1]).as_deref(),
            Some("sip:named.example.net"),
            "no capable candidate: the AAA server's own SIP-Server-URI"
        );

        // Several auth items on request, each with its own nonce, through the redirect.
        let maa = to_a
            .mar(&MarParams {
                aor: "sip:alice@a.example".into(),
                method: "REGISTER".into(),
                user_name: Some("alice@a.example".into()),
                auth_items: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(maa.result, SipResult::MultiRoundAuth);
        assert_eq!(maa.challenges.len(), 3);
        let nonces: std::collections::HashSet<_> =
            maa.challenges.iter().map(|c| c.nonce.clone()).collect();
        assert_eq!(nonces.len(), 3, "one nonce per item");

        for n in [node, agent] {
            n.stop(diameter_core::base::DisconnectCause::Rebooting)
                .await;
        }
        a.stop().await;
        b.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locator_redirects_per_user_and_the_client_caches_it() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let a = aaa(dir.path(), AAA1, "example.com", "alice").await;
        let b = aaa(dir.path(), AAA2, "example.com", "carol").await;
        let seen = Arc::new(AtomicU32::new(0));
        let loc = locator(seen.clone()).await;
        let node = sip_node(
            (LOCATOR, loc.local_addrs()[0]),
            a.local_addrs()[0],
            b.local_addrs()[0],
        )
        .await;
        let c = client(&node, "example.com");
        let uaa = c
            .uar("sip:alice@example.com", Some("alice@example.com"))
            .await
            .unwrap();
        assert_eq!(
            (uaa.result, uaa.raw.origin_host.as_str()),
            (SipResult::FirstRegistration, AAA1)
        );
        let uaa = c
            .uar("sip:carol@example.com", Some("carol@example.com"))
            .await
            .unwrap();
        assert_eq!(
            (uaa.result, uaa.raw.origin_host.as_str()),
            (SipResult::FirstRegistration, AAA2)
        );
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert_eq!(c.cached_redirects(), 2, "ALL_USER with a Max-Cache-Time");

        // ALL_USER: the next requests for these users skip the locator.
        let uaa = c
            .uar("sip:alice@example.com", Some("alice@example.com"))
            .await
            .unwrap();
        assert_eq!(uaa.raw.origin_host.as_str(), AAA1);
        assert_eq!(seen.load(Ordering::SeqCst), 2, "served from the cache");
        // An LIR names carol by SIP-AOR only: another user key, so the locator sees it.
        let lia = c.lir("sip:carol@example.com").await.unwrap();
        assert_eq!(lia.raw.origin_host.as_str(), AAA2);
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        // max_hops = 0: the 3006 comes back as it is.
        let mut cfg = ClientConfig::new(SIP1, "example.net", "example.com");
        cfg.redirect.max_hops = 0;
        let raw = SipClient::new(cfg, node.clone());
        let uaa = raw.uar("sip:alice@example.com", Some("x")).await;
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        assert!(
            matches!(&uaa, Ok(a) if a.result == SipResult::Other(3006)) || uaa.is_err(),
            "{uaa:?}"
        );

        for n in [node, loc] {
            n.stop(diameter_core::base::DisconnectCause::Rebooting)
                .await;
        }
        a.stop().await;
        b.stop().await;
    })
    .await
    .expect("in time");
}
