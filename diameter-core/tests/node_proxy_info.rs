//! RFC 6733 §6.7.3: every answer to a request that carries Proxy-Info carries it back, in
//! order, whatever the handler put in its answer (error answers the node builds echo it
//! already: `error_answer_follows_rfc_6733_section_7_2`).

use bytes::{Bytes, BytesMut};
use diameter_core::base::avp;
use diameter_core::fields::{result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::{AvpFlags, RawAvp, RawMessage};
use std::time::Duration;

const APP: u32 = 4;
const CCR: u32 = 272;
const PROXY_HOST: u32 = 280;
const PROXY_STATE: u32 = 33;
const LIMIT: Duration = Duration::from_secs(10);

/// A Proxy-Info grouped AVP (Proxy-Host, Proxy-State).
fn proxy_info(host: &str, state: &[u8]) -> RawAvp {
    let mut body = BytesMut::new();
    str_avp(PROXY_HOST, host).encode(&mut body);
    RawAvp::new(
        PROXY_STATE,
        AvpFlags::MANDATORY,
        0,
        Bytes::copy_from_slice(state),
    )
    .encode(&mut body);
    RawAvp::new(avp::PROXY_INFO, AvpFlags::MANDATORY, 0, body.freeze())
}

fn request(session: &str, proxies: &[RawAvp]) -> RawMessage {
    let mut avps = vec![
        str_avp(avp::SESSION_ID, session),
        str_avp(avp::ORIGIN_HOST, "client.a.net"),
        str_avp(avp::ORIGIN_REALM, "a.net"),
        str_avp(avp::DESTINATION_REALM, "b.net"),
    ];
    avps.extend(proxies.iter().cloned());
    let flags = CommandFlags::REQUEST | CommandFlags::PROXIABLE;
    RawMessage::from_avps(Header::new(CCR, APP, flags, 0, 0), &avps)
}

fn proxy_infos(m: &RawMessage) -> Vec<Bytes> {
    m.avps()
        .map_while(Result::ok)
        .filter(|a| a.code == avp::PROXY_INFO && a.vendor == 0)
        .map(|a| {
            let mut b = BytesMut::new();
            a.to_raw().encode(&mut b);
            b.freeze()
        })
        .collect()
}

fn encoded(avps: &[RawAvp]) -> Vec<Bytes> {
    avps.iter()
        .map(|a| {
            let mut b = BytesMut::new();
            a.encode(&mut b);
            b.freeze()
        })
        .collect()
}

async fn pair() -> (Node, Node) {
    let server = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .handler(APP, CCR, |req: RawMessage| async move {
            // A handler that knows nothing of Proxy-Info; "keep" answers with its own.
            let keep = req
                .find(avp::SESSION_ID, 0)
                .is_some_and(|s| s.data.ends_with(b"keep"));
            let mut avps = vec![
                req.find(avp::SESSION_ID, 0).unwrap(),
                u32_avp(avp::RESULT_CODE, 2001),
                str_avp(avp::ORIGIN_HOST, "server.b.net"),
                str_avp(avp::ORIGIN_REALM, "b.net"),
            ];
            if keep {
                avps.push(proxy_info("own.example", b"own"));
            }
            RawMessage::from_avps(Header::new(CCR, APP, 0, 0, 0), &avps)
        })
        .build()
        .await
        .unwrap();
    let client = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(PeerConfig::new("server.b.net", server.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(client.wait_peer("server.b.net", LIMIT).await);
    (server, client)
}

#[tokio::test]
async fn handler_answers_carry_the_requests_proxy_info_in_order() {
    let (_server, client) = pair().await;
    let proxies = [
        proxy_info("dra1.example", b"\x01state-one"),
        proxy_info("dra2.example", b"state-two"),
    ];
    let answer = client.request(request("s;1", &proxies)).await.unwrap();
    assert_eq!(result_code(&answer), Some(2001));
    assert_eq!(proxy_infos(&answer), encoded(&proxies));

    // Without Proxy-Info in the request, none appears in the answer.
    let answer = client.request(request("s;2", &[])).await.unwrap();
    assert!(proxy_infos(&answer).is_empty());

    // A handler that sets Proxy-Info itself keeps its own (no duplicates).
    let answer = client.request(request("s;keep", &proxies)).await.unwrap();
    assert_eq!(
        proxy_infos(&answer),
        encoded(&[proxy_info("own.example", b"own")])
    );
}
