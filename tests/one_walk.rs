//! One walk per message: a request for a typed handler is framed with its header checked
//! only, and the typed decoder's walk is the one that finds a bad AVP. It is still
//! answered as RFC 6733 prescribes (5014 with the AVP as Failed-AVP), the handler never
//! runs, and where the request does not reach that handler (a redirect here) the node
//! checks the AVP headers the framing skipped.
//!
//! A server (a node that is not an agent) leaves the routing decision to its handler,
//! which takes the destination from its own decode (`Command::destination`): a request for
//! another host or realm is still answered 3002 or 3003 before the handler runs.

mod common;

use common::messages::proxy_info;
use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::node::{Node, PeerConfig};
use diameter::core::routing::{RequestScan, Route, RouteAction};
use diameter::core::{Header, RawAvp, RawMessage};
use diameter::dict::dcca_rfc4006::{avp, Cca, Ccr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const M: u8 = 0x40;

fn utf8(code: u32, s: &str) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(s.as_bytes()))
}
fn u32_avp(code: u32, v: u32) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(&v.to_be_bytes()))
}

/// A CCR-EVENT to `realm`; with `broken`, its last AVP claims 64 bytes and has 12.
fn ccr(realm: &str, broken: bool) -> RawMessage {
    ccr_with(realm, &[], broken)
}

/// A CCR-EVENT to `realm` with `extra` AVPs before its last.
fn ccr_with(realm: &str, extra: &[RawAvp], broken: bool) -> RawMessage {
    let mut avps = vec![
        utf8(263, "client.a.net;1;1"),
        utf8(264, "client.a.net"),
        utf8(296, "a.net"),
        utf8(283, realm),
        u32_avp(258, 4),
        utf8(avp::SERVICE_CONTEXT_ID, "32251@3gpp.org"),
        u32_avp(avp::CC_REQUEST_TYPE, 4),
    ];
    avps.extend_from_slice(extra);
    avps.push(u32_avp(avp::CC_REQUEST_NUMBER, 0));
    let mut msg = RawMessage::from_avps(Header::new(272, 4, 0xc0, 1, 2), &avps);
    if broken {
        let mut body = BytesMut::from(&msg.body[..]);
        body.extend_from_slice(&[0, 0, 0x01, 0xc2, M, 0, 0, 64, 0, 0, 0, 1]); // code 450, length 64
        msg.body = body.freeze();
    }
    msg
}

fn result_code(m: &RawMessage) -> Option<u32> {
    m.find(268, 0)
        .map(|a| u32::from_be_bytes(a.data[..4].try_into().unwrap()))
}

/// `ocs.b.net`, serving CCRs with a typed handler that counts its calls and answers 2001;
/// with `redirect`, an agent redirecting realm c.net.
async fn counting_server(calls: Arc<AtomicU32>, redirect: bool) -> Node {
    let mut builder = Node::builder()
        .origin_host("ocs.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap());
    if redirect {
        builder = builder.route(Route::realm(
            "c.net",
            RouteAction::Redirect,
            vec!["ocs.c.net".into()],
        ));
    }
    builder
        .typed_handler(move |req: Ccr| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Cca {
                    session_id: req.session_id,
                    result_code: 2001,
                    origin_host: "ocs.b.net".into(),
                    origin_realm: "b.net".into(),
                    auth_application_id: 4,
                    cc_request_type: req.cc_request_type,
                    cc_request_number: req.cc_request_number,
                    ..Cca::default()
                }
            }
        })
        .build()
        .await
        .unwrap()
}

/// `client.a.net`, connected to `server` (`ocs.b.net`), which it also sends realm c.net's
/// requests to.
async fn client_of(server: &Node) -> Node {
    let client = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.b.net", server.local_addrs()[0]))
        .route(Route::realm(
            "c.net",
            RouteAction::Relay,
            vec!["ocs.b.net".into()],
        ))
        .build()
        .await
        .unwrap();
    assert!(client.wait_peer("ocs.b.net", Duration::from_secs(10)).await);
    client
}

#[tokio::test]
async fn a_bad_avp_in_a_request_for_a_typed_handler_is_still_answered() {
    let calls = Arc::new(AtomicU32::new(0));
    let server = counting_server(calls.clone(), true).await;
    let client = client_of(&server).await;
    let tail = Bytes::from_static(&[0, 0, 0x01, 0xc2, M, 0, 0, 64, 0, 0, 0, 1]);

    let ok = client.request(ccr("b.net", false)).await.unwrap();
    assert_eq!(result_code(&ok), Some(2001));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Framing let it through (header only); the typed decode answers it.
    let bad = client.request(ccr("b.net", true)).await.unwrap();
    assert_eq!(result_code(&bad), Some(5014), "{bad:?}");
    let failed = bad.find(279, 0).expect("Failed-AVP");
    assert_eq!(&failed.data[..4], &tail[..4], "the bad AVP's code");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler never ran");
    // The connection is still up and serving.
    let ok = client.request(ccr("b.net", false)).await.unwrap();
    assert_eq!(result_code(&ok), Some(2001));

    // Redirected rather than handled: the node checks the AVP headers itself.
    let redirected = client.request(ccr("c.net", false)).await.unwrap();
    assert_eq!(result_code(&redirected), Some(3006));
    let bad = client.request(ccr("c.net", true)).await.unwrap();
    assert_eq!(result_code(&bad), Some(5014), "{bad:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_server_routes_a_typed_request_from_its_decode_before_the_handler_runs() {
    let calls = Arc::new(AtomicU32::new(0));
    // A server, not an agent: no routes, no `agent(true)`.
    let server = counting_server(calls.clone(), false).await;
    let client = client_of(&server).await;
    let ask = |m: RawMessage| {
        let client = client.clone();
        async move { client.request(m).await.unwrap() }
    };
    let proxy = proxy_info("relay.a.net");

    // For this server, with Proxy-Info: handled, and the Proxy-Info echoed.
    let ok = ask(ccr_with("b.net", std::slice::from_ref(&proxy), false)).await;
    assert_eq!(result_code(&ok), Some(2001));
    assert_eq!(ok.find(284, 0).map(|a| a.data), Some(proxy.data.clone()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Another host of its realm: 3002 with the E bit, the handler never runs.
    let other_host = ask(ccr_with("b.net", &[utf8(293, "ocs2.b.net")], false)).await;
    assert_eq!(result_code(&other_host), Some(3002), "{other_host:?}");
    assert!(other_host.header.is_error());
    // Its own name as Destination-Host (any case): handled.
    let mine = ask(ccr_with("b.net", &[utf8(293, "OCS.b.net")], false)).await;
    assert_eq!(result_code(&mine), Some(2001));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Another realm: 3003, with the request's Proxy-Info.
    let other_realm = ask(ccr_with("c.net", std::slice::from_ref(&proxy), false)).await;
    assert_eq!(result_code(&other_realm), Some(3003), "{other_realm:?}");
    assert_eq!(other_realm.find(284, 0).map(|a| a.data), Some(proxy.data));
    // ... even when it breaks the command's grammar (no CC-Request-Number): routing first.
    let mut no_number = ccr("c.net", false);
    let end = no_number.body.len() - 12;
    no_number.body = no_number.body.slice(..end);
    no_number.header.length -= 12;
    assert_eq!(result_code(&ask(no_number.clone()).await), Some(3003));
    // For this realm the same request is a grammar error.
    let mut ours = no_number;
    ours.body = {
        let mut b = BytesMut::from(&ours.body[..]);
        let at = b.windows(5).position(|w| w == b"c.net").unwrap();
        b[at..at + 5].copy_from_slice(b"b.net");
        b.freeze()
    };
    assert_eq!(result_code(&ask(ours).await), Some(5005));
    // A bad AVP header in a request for another realm: the node checks the AVP headers
    // the framing skipped, as for any request it does not hand to the typed handler.
    assert_eq!(result_code(&ask(ccr("c.net", true)).await), Some(5014));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the handler ran for its own two only"
    );
}

#[test]
fn the_decoded_destination_is_what_the_routing_scan_finds() {
    use diameter::core::Command;
    let cases = [
        ccr("b.net", false),
        ccr_with("b.net", &[utf8(293, "ocs.b.net")], false),
        ccr_with("c.net", &[proxy_info("a"), proxy_info("b")], false),
    ];
    for m in &cases {
        let decoded = Ccr::decode(m).unwrap();
        assert_eq!(decoded.destination(), Some(RequestScan::of(m)), "{m:?}");
    }
    // A request whose grammar does not name Destination-Realm or Proxy-Info but takes any
    // AVP (a DWR here) finds them among its other AVPs.
    use diameter::dict::base_rfc6733::Dwr;
    let dwr = RawMessage::from_avps(
        Header::new(280, 0, 0x80, 1, 2),
        &[
            utf8(264, "client.a.net"),
            utf8(296, "a.net"),
            utf8(283, "b.net"),
            proxy_info("a"),
        ],
    );
    let decoded = Dwr::decode(&dwr).unwrap();
    let scan = decoded.destination().expect("generated for every request");
    assert_eq!(scan, RequestScan::of(&dwr));
    assert_eq!(scan.destination_realm, Some(&b"b.net"[..]));
    assert!(scan.proxy_info && scan.destination_host.is_none());
}

/// Counts how the node gave it each request: decided already (`call`), or left to it
/// (`call_routed`).
#[derive(Clone, Default)]
struct HowCalled {
    call: Arc<AtomicU32>,
    routed: Arc<AtomicU32>,
}

impl diameter::core::node::Handler for HowCalled {
    fn call(&self, request: RawMessage) -> diameter::core::node::HandlerFuture {
        self.call.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(request) })
    }

    fn call_routed(
        &self,
        request: RawMessage,
        local: &diameter::core::routing::LocalNode<'_>,
        _out: &mut diameter::core::node::AnswerBuf<'_>,
    ) -> diameter::core::node::Routed {
        self.routed.fetch_add(1, Ordering::SeqCst);
        let mut ccr = Ccr::default();
        match diameter::core::node::decode_routed(&request, local, &mut ccr) {
            Ok(_) => diameter::core::node::Routed::Handled {
                answer: self.call(request),
                proxy_info: false,
            },
            Err(routed) => routed,
        }
    }
}

#[tokio::test]
async fn a_server_leaves_the_decision_to_its_handler_and_an_agent_does_not() {
    for agent in [false, true] {
        let how = HowCalled::default();
        let server = Node::builder()
            .origin_host("ocs.b.net")
            .origin_realm("b.net")
            .auth_application(4)
            .listen("127.0.0.1:0".parse().unwrap())
            .agent(agent)
            .handler(4, 272, how.clone())
            .build()
            .await
            .unwrap();
        let client = client_of(&server).await;
        client.request(ccr("b.net", false)).await.unwrap();
        let other = ccr_with("b.net", &[utf8(293, "ocs2.b.net")], false);
        let rejected = client.request(other).await.unwrap();
        // Not for this node either way (an agent without a route to the host: 3003).
        let expected = if agent { 3003 } else { 3002 };
        assert_eq!(result_code(&rejected), Some(expected), "agent {agent}");
        let routed = how.routed.load(Ordering::SeqCst);
        assert_eq!(routed, if agent { 0 } else { 2 }, "agent {agent}");
        assert_eq!(how.call.load(Ordering::SeqCst), 1, "agent {agent}");
    }
}
