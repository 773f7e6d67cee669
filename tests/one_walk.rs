//! One walk per message: a request for a typed handler is framed with its header checked
//! only, and the typed decoder's walk is the one that finds a bad AVP. It is still
//! answered as RFC 6733 prescribes (5014 with the AVP as Failed-AVP), the handler never
//! runs, and where the request does not reach that handler (a redirect here) the node
//! checks the AVP headers the framing skipped.

use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::node::{Node, PeerConfig};
use diameter::core::routing::{Route, RouteAction};
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
    let avps = [
        utf8(263, "client.a.net;1;1"),
        utf8(264, "client.a.net"),
        utf8(296, "a.net"),
        utf8(283, realm),
        u32_avp(258, 4),
        utf8(avp::SERVICE_CONTEXT_ID, "32251@3gpp.org"),
        u32_avp(avp::CC_REQUEST_TYPE, 4),
        u32_avp(avp::CC_REQUEST_NUMBER, 0),
    ];
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

#[tokio::test]
async fn a_bad_avp_in_a_request_for_a_typed_handler_is_still_answered() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let server = Node::builder()
        .origin_host("ocs.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .route(Route::realm(
            "c.net",
            RouteAction::Redirect,
            vec!["ocs.c.net".into()],
        ))
        .typed_handler(move |req: Ccr| {
            c.fetch_add(1, Ordering::SeqCst);
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
        .unwrap();
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
