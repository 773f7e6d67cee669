//! Typed decoding stays proportionate to its input: a repeated member beyond
//! `Limits::max_repeat`, or more AVPs than `Limits::max_avps` at every level, is 5009
//! DIAMETER_AVP_OCCURS_TOO_MANY_TIMES with the first AVP over the limit as Failed-AVP;
//! a node's typed handlers decode with the node's limits.

use diameter::core::bytes::Bytes;
use diameter::core::node::{Node, NodeLimits, PeerConfig};
use diameter::core::{AvpGroup, Command, DecodeCtx, Header, Limits, RawAvp, RawMessage};
use diameter::dict::dcca_rfc4006::{avp, Cca, Ccr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const M: u8 = 0x40;
const MSCC: u32 = 456;
const ORIGIN_HOST: u32 = 264;
const FAILED_AVP: u32 = 279;

fn utf8(code: u32, s: &str) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(s.as_bytes()))
}
fn u32_avp(code: u32, v: u32) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(&v.to_be_bytes()))
}

/// A valid CCR-EVENT's AVPs followed by `extra`.
fn ccr(extra: impl IntoIterator<Item = RawAvp>) -> RawMessage {
    let mut avps = vec![
        utf8(263, "client.a.net;1;1"),
        utf8(ORIGIN_HOST, "client.a.net"),
        utf8(296, "a.net"),
        utf8(283, "b.net"),
        u32_avp(258, 4),
        utf8(avp::SERVICE_CONTEXT_ID, "32251@3gpp.org"),
        u32_avp(avp::CC_REQUEST_TYPE, 4),
        u32_avp(avp::CC_REQUEST_NUMBER, 0),
    ];
    avps.extend(extra);
    RawMessage::from_avps(Header::new(272, 4, 0xc0, 1, 2), &avps)
}

fn empty_mscc() -> RawAvp {
    RawAvp::new(MSCC, M, 0, Bytes::new())
}

#[test]
fn repeated_member_beyond_the_limit_is_5009() {
    assert!(Ccr::decode(&ccr(vec![empty_mscc(); 256])).is_ok());
    let e = Ccr::decode(&ccr(vec![empty_mscc(); 257])).unwrap_err();
    assert_eq!(e.result_code(), 5009);
    assert_eq!(
        e.failed_avp.as_deref(),
        Some(&empty_mscc().to_bytes()[..]),
        "the first AVP over the limit"
    );

    // 131,000 of them (about 1 MB), with the AVP count out of the way: refused at the
    // 257th, so what was decoded is 256 elements, not 131,000.
    let flood = ccr(vec![empty_mscc(); 131_000]);
    let mut limits = Limits::default();
    limits.max_avps = u32::MAX;
    let mut ctx = DecodeCtx::with_limits(&limits);
    let e = Ccr::decode_avps(flood.avps(), &mut ctx).unwrap_err();
    assert_eq!(e.result_code(), 5009);
}

#[test]
fn avps_beyond_the_message_total_are_5009_at_every_level() {
    // Top level: unknown optional AVPs are kept raw, but not without end.
    let unknown = RawAvp::new(60_000, 0, 0, Bytes::new());
    let e = Ccr::decode(&ccr(vec![unknown.clone(); 5000])).unwrap_err();
    assert_eq!(e.result_code(), 5009);
    // Nested: 100 MSCCs of 50 unknown AVPs each; the Failed-AVP sits in its MSCC.
    let mut inner = diameter::core::bytes::BytesMut::new();
    for _ in 0..50 {
        unknown.encode(&mut inner);
    }
    let mscc = RawAvp::new(MSCC, M, 0, inner.freeze());
    let e = Ccr::decode(&ccr(vec![mscc; 100])).unwrap_err();
    assert_eq!(e.result_code(), 5009);
    let failed = e.failed_avp.as_deref().unwrap();
    assert_eq!(u32::from_be_bytes(failed[..4].try_into().unwrap()), MSCC);
    assert_eq!(failed.len(), 8 + 8);
    // Under the total it decodes.
    let mut ok = diameter::core::bytes::BytesMut::new();
    for _ in 0..10 {
        unknown.encode(&mut ok);
    }
    let mscc = RawAvp::new(MSCC, M, 0, ok.freeze());
    assert!(Ccr::decode(&ccr(vec![mscc; 100])).is_ok());
}

#[tokio::test]
async fn a_nodes_typed_handlers_decode_with_its_limits() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut limits = NodeLimits::default();
    limits.limits.max_repeat = 8;
    let server = Node::builder()
        .origin_host("ocs.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .limits(limits)
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
        .build()
        .await
        .unwrap();
    assert!(client.wait_peer("ocs.b.net", Duration::from_secs(10)).await);
    let code = |m: &RawMessage| {
        m.find(268, 0)
            .map(|a| u32::from_be_bytes(a.data[..4].try_into().unwrap()))
    };

    let a = client.request(ccr(vec![empty_mscc(); 8])).await.unwrap();
    assert_eq!(code(&a), Some(2001));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Nine is over this node's limit (the default would take 256).
    let a = client.request(ccr(vec![empty_mscc(); 9])).await.unwrap();
    assert_eq!(code(&a), Some(5009));
    let failed = a.find(FAILED_AVP, 0).expect("Failed-AVP");
    assert_eq!(&failed.data[..], &empty_mscc().to_bytes()[..]);
    // The 5009 answer still fits the CCA grammar.
    assert!(Cca::decode(&a).is_ok(), "{:?}", Cca::decode(&a).err());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler never ran");
}

/// A raw handler that decodes its request itself (as the OCS does) gets the node's limits
/// too, and a client node decodes typed answers with its own limits.
#[tokio::test]
async fn raw_handlers_and_typed_answers_decode_with_the_nodes_limits() {
    use diameter::core::answer::{error_answer, Origin};
    use diameter::core::node::RequestError;
    use diameter::dict::dcca_rfc4006::{CcRequestType, MultipleServicesCreditControl};
    let node_limits = |max_repeat| {
        let mut nl = NodeLimits::default();
        nl.limits.max_repeat = max_repeat;
        nl
    };
    let server = Node::builder()
        .origin_host("ocs.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .limits(node_limits(8))
        .handler(4, 272, |req: RawMessage| async move {
            let origin = Origin {
                host: "ocs.b.net",
                realm: "b.net",
            };
            match Ccr::decode(&req) {
                // Three MSCCs in the answer: over the client's limit of two.
                Ok(ccr) => Cca {
                    session_id: ccr.session_id,
                    result_code: 2001,
                    origin_host: "ocs.b.net".into(),
                    origin_realm: "b.net".into(),
                    auth_application_id: 4,
                    cc_request_type: ccr.cc_request_type,
                    cc_request_number: ccr.cc_request_number,
                    multiple_services_credit_control: vec![
                        MultipleServicesCreditControl::default();
                        3
                    ]
                    .into(),
                    ..Cca::default()
                }
                .to_message(4, req.header.hop_by_hop, req.header.end_to_end),
                Err(e) => error_answer(&req, &origin, &e),
            }
        })
        .build()
        .await
        .unwrap();
    let client = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(4)
        .limits(node_limits(2))
        .peer(PeerConfig::new("ocs.b.net", server.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(client.wait_peer("ocs.b.net", Duration::from_secs(10)).await);
    let code = |m: &RawMessage| {
        m.find(268, 0)
            .map(|a| u32::from_be_bytes(a.data[..4].try_into().unwrap()))
    };
    // Nine MSCCs: over the server's limit of eight (the default would take 256).
    let a = client.request(ccr(vec![empty_mscc(); 9])).await.unwrap();
    assert_eq!(code(&a), Some(5009));
    let a = client.request(ccr(vec![empty_mscc(); 8])).await.unwrap();
    assert_eq!(code(&a), Some(2001));
    // The same answer through the typed client: three MSCCs, over its limit of two.
    let req = Ccr {
        session_id: "client.a.net;1;2".into(),
        origin_host: "client.a.net".into(),
        origin_realm: "a.net".into(),
        destination_realm: "b.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: CcRequestType::EventRequest,
        ..Ccr::default()
    };
    match client.send::<Ccr, Cca>(&req, 4).await {
        Err(RequestError::Decode(e)) => assert_eq!(e.result_code(), 5009),
        other => panic!("expected a 5009 decode error, got {other:?}"),
    }
}

/// The AVP count is exact at its limit, whether or not the message is long enough to
/// need counting (a message of at most 8 × `max_avps` bytes cannot exceed it, so its AVPs
/// are not counted one by one): 13 AVPs pass with a limit of 13 and are 5009 with 12.
#[test]
fn the_avp_count_is_exact_at_its_limit() {
    let msg = ccr(vec![empty_mscc(); 5]); // 8 + 5 AVPs, 184 bytes of body
    assert_eq!(msg.avps().count(), 13);
    for (max, ok) in [(13, true), (12, false), (23, true), (4096, true)] {
        let mut limits = Limits::default();
        limits.max_avps = max;
        let r = Ccr::decode_with(&msg, &limits);
        assert_eq!(r.is_ok(), ok, "max_avps {max}: {r:?}");
        if let Err(e) = r {
            assert_eq!(e.result_code(), 5009);
            assert_eq!(e.failed_avp.as_deref(), Some(&empty_mscc().to_bytes()[..]));
        }
    }
}
