//! A typed answer is encoded straight into the connection's write buffer (`AnswerBuf`),
//! whether the handler gives it at once or after a wait (`Routed::Deferred`): what goes on
//! the wire is the typed answer under the request's ids, a retransmission gets the same
//! bytes (from the duplicate cache, or waiting for the answer in progress), an answer too
//! large for the peer becomes 5012, Proxy-Info is echoed, a burst of answers all
//! arrive, and an answer held until its release (`AnswerBuf::hold_until`) leaves only then.

mod common;

use common::messages::proxy_info;
use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::header::CommandFlags;
use diameter::core::node::{AnswerBuf, Node, NodeBuilder, NodeLimits, PeerConfig};
use diameter::core::{Command, Header, RawAvp, RawMessage};
use diameter::dict::dcca_rfc4006::{avp, Cca, Ccr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const M: u8 = 0x40;
const LIMIT: Duration = Duration::from_secs(10);

fn utf8(code: u32, s: &str) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(s.as_bytes()))
}

fn u32_avp(code: u32, v: u32) -> RawAvp {
    RawAvp::new(code, M, 0, Bytes::copy_from_slice(&v.to_be_bytes()))
}

/// A CCR-EVENT with this Session-Id and End-to-End id, retransmitted (T flag) or not.
fn ccr(session: &str, end_to_end: u32, retransmit: bool) -> RawMessage {
    let avps = [
        utf8(263, session),
        utf8(264, "client.a.net"),
        utf8(296, "a.net"),
        utf8(283, "b.net"),
        u32_avp(258, 4),
        utf8(avp::SERVICE_CONTEXT_ID, "32251@3gpp.org"),
        u32_avp(avp::CC_REQUEST_TYPE, 4),
        u32_avp(avp::CC_REQUEST_NUMBER, 0),
    ];
    let mut flags = CommandFlags::REQUEST | CommandFlags::PROXIABLE;
    if retransmit {
        flags |= CommandFlags::RETRANSMIT;
    }
    RawMessage::from_avps(Header::new(272, 4, flags, 0, end_to_end), &avps)
}

/// The answer the typed handler gives `req`: 2001, numbered by its call; a Session-Id
/// ending in "big" gets a User-Name of 2 kB.
fn cca(req: &Ccr, call: u32) -> Cca {
    let big = req.session_id.as_str().ends_with("big");
    Cca {
        session_id: req.session_id.clone(),
        result_code: 2001,
        origin_host: "ocs.b.net".into(),
        origin_realm: "b.net".into(),
        auth_application_id: 4,
        cc_request_type: req.cc_request_type,
        cc_request_number: req.cc_request_number,
        validity_time: Some(call),
        user_name: big.then(|| "x".repeat(2000).into()),
        ..Cca::default()
    }
}

/// `ocs.b.net` with a typed CCR handler that answers at once (counting its calls), and
/// a client connected to it. Messages are at most 1,500 bytes.
async fn pair(calls: Arc<AtomicU32>) -> (Node, Node) {
    pair_waiting(calls, Duration::ZERO).await
}

/// The same, with a handler that answers after waiting `wait` (if not zero).
async fn pair_waiting(calls: Arc<AtomicU32>, wait: Duration) -> (Node, Node) {
    let mut limits = NodeLimits::default();
    limits.limits.max_message_len = 1500;
    let server = server_builder(limits)
        .typed_handler(move |req: Ccr| {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                cca(&req, call)
            }
        })
        .build()
        .await
        .unwrap();
    let client = client_of(&server).await;
    (server, client)
}

/// `ocs.b.net` on loopback, with `limits`, before its handler.
fn server_builder(limits: NodeLimits) -> NodeBuilder {
    Node::builder()
        .origin_host("ocs.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .limits(limits)
}

/// `client.a.net`, connected to `server` (`ocs.b.net`).
async fn client_of(server: &Node) -> Node {
    let client = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.b.net", server.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(client.wait_peer("ocs.b.net", LIMIT).await);
    client
}

#[tokio::test]
async fn answers_encoded_in_place_are_the_typed_answers_and_replay_for_retransmissions() {
    let calls = Arc::new(AtomicU32::new(0));
    let (server, client) = pair(calls.clone()).await;

    let request = ccr("client.a.net;in-place;1", 77, false);
    let answer = client.request(request.clone()).await.unwrap();
    let h = answer.header;
    assert_eq!(
        (h.command_code, h.application_id, h.end_to_end),
        (272, 4, 77)
    );
    assert_eq!(
        h.flags & (CommandFlags::REQUEST | CommandFlags::RETRANSMIT),
        0
    );
    assert_eq!(h.length as usize, 20 + answer.body.len());
    // The body is the typed answer's encoding, AVP for AVP.
    let req = Ccr::decode(&request).unwrap();
    let expected = cca(&req, 1).to_message(4, h.hop_by_hop, 77);
    assert_eq!(answer.body, expected.body);
    assert_eq!(h.flags, expected.header.flags);

    // A retransmission (T flag, same End-to-End id and Origin-Host) gets the saved
    // answer: the same bytes, and the handler does not run again.
    let again = client
        .request(ccr("client.a.net;in-place;1", 77, true))
        .await
        .unwrap();
    assert_eq!(again.body, answer.body);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A retransmission of a request this node never saw: handled (the destination
    // decided before the handler runs), its typed answer encoded in place as well.
    let unseen = ccr("client.a.net;in-place;2", 79, true);
    let answer = client.request(unseen.clone()).await.unwrap();
    let req = Ccr::decode(&unseen).unwrap();
    let expected = cca(&req, 2).to_message(4, answer.header.hop_by_hop, 79);
    assert_eq!(answer.body, expected.body);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // With Proxy-Info (two relays on the way): echoed in order after the typed answer's
    // AVPs, for a first transmission and for a retransmission of an unseen request.
    let proxies = [proxy_info("relay1.a.net"), proxy_info("relay2.a.net")];
    for (session, end_to_end, retransmit) in [("proxied;1", 80, false), ("proxied;2", 81, true)] {
        let mut request = ccr(&format!("client.a.net;{session}"), end_to_end, retransmit);
        proxies.iter().for_each(|p| request.push(p));
        let answer = client.request(request.clone()).await.unwrap();
        let req = Ccr::decode(&request).unwrap();
        let typed = cca(&req, calls.load(Ordering::SeqCst));
        let expected = typed.to_message(4, answer.header.hop_by_hop, end_to_end);
        let (typed_part, echoed) = answer.body.split_at(expected.body.len());
        assert_eq!(typed_part, &expected.body[..]);
        let mut echo = BytesMut::new();
        proxies.iter().for_each(|p| p.encode(&mut echo));
        assert_eq!(echoed, &echo[..]);
        assert_eq!(answer.header.length as usize, 20 + answer.body.len());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // An answer larger than the maximum message size: 5012 in its place.
    let big = client
        .request(ccr("client.a.net;in-place;big", 78, false))
        .await
        .unwrap();
    assert_eq!(diameter::core::fields::result_code(&big), Some(5012));
    assert!(big.body.len() < 1500);

    // A burst: every answer arrives, each with its own request's Session-Id.
    let answers = futures_join(&client, 200).await;
    for (i, a) in answers.iter().enumerate() {
        let cca = Cca::decode(a).unwrap();
        assert_eq!(cca.session_id.as_str(), format!("client.a.net;burst;{i}"));
        assert_eq!(cca.result_code, 2001);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 205);
    // Counted as any answer.
    let text = server.metrics_text();
    let counted =
        "diameter_answers_total{direction=\"in\",command=\"272\",result_code=\"2001\"} 205";
    assert!(text.lines().any(|l| l == counted), "{text}");
}

/// Sends `n` CCRs at once; their answers in order.
async fn futures_join(client: &Node, n: u32) -> Vec<RawMessage> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let session = format!("client.a.net;burst;{i}");
                client
                    .request(ccr(&session, 1000 + i, false))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn answers_given_after_a_wait_are_encoded_in_place_too() {
    let calls = Arc::new(AtomicU32::new(0));
    let (_server, client) = pair_waiting(calls.clone(), Duration::from_millis(300)).await;

    // The first transmission and, while its handler waits, a retransmission: one call,
    // the same answer for both (the retransmission waited for it).
    let request = ccr("client.a.net;later;1", 91, false);
    let first = {
        let client = client.clone();
        let request = request.clone();
        tokio::spawn(async move { client.request(request).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = client
        .request(ccr("client.a.net;later;1", 91, true))
        .await
        .unwrap();
    let first = first.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let req = Ccr::decode(&request).unwrap();
    let expected = cca(&req, 1).to_message(4, first.header.hop_by_hop, 91);
    assert_eq!(first.body, expected.body);
    assert_eq!(again.body, first.body);
    let h = first.header;
    assert_eq!(
        (h.command_code, h.end_to_end, h.flags),
        (272, 91, expected.header.flags)
    );

    // With Proxy-Info: echoed after the typed answer's AVPs.
    let proxy = proxy_info("relay.a.net");
    let mut with_proxy = ccr("client.a.net;later;2", 92, false);
    with_proxy.push(&proxy);
    let answer = client.request(with_proxy).await.unwrap();
    assert_eq!(
        answer.find(284, 0).map(|a| a.data),
        Some(proxy.data.clone())
    );
    assert_eq!(Cca::decode(&answer).unwrap().result_code, 2001);

    // Too large: 5012.
    let big = client
        .request(ccr("client.a.net;later;big", 93, false))
        .await
        .unwrap();
    assert_eq!(diameter::core::fields::result_code(&big), Some(5012));
}

#[test]
fn an_answer_buf_appends_after_what_its_buffer_holds() {
    let mut out = BytesMut::from(&b"earlier"[..]);
    let request = ccr("client.a.net;buf;1", 9, false);
    let req = Ccr::decode(&request).unwrap();
    let mut buf = AnswerBuf::new(&mut out, request.header);
    assert_eq!(buf.written(), None);
    buf.encode(&cca(&req, 1));
    // Encoding again replaces the first answer.
    buf.encode(&cca(&req, 2));
    let written = buf.written().unwrap().to_vec();
    assert_eq!(&out[..7], b"earlier");
    assert_eq!(&out[7..], &written[..]);
    let expected = cca(&req, 2).to_message(4, request.header.hop_by_hop, 9);
    assert_eq!(&written[20..], &expected.body[..]);
    assert_eq!(Header::parse_unchecked(&written).unwrap().end_to_end, 9);
}

/// A handler that encodes its answer at once and holds it until the test releases it
/// (`true`) or withholds it (`false`): the release of each request, by Session-Id.
struct Holding {
    releases: Releases,
}

/// The releases of the answers held, by Session-Id.
type Releases = Arc<std::sync::Mutex<Vec<(String, tokio::sync::oneshot::Sender<bool>)>>>;

impl diameter::core::node::Handler for Holding {
    fn call(&self, _request: RawMessage) -> diameter::core::node::HandlerFuture {
        Box::pin(async {
            Err(diameter::core::DecodeError::new(
                diameter::core::error::ErrorKind::MissingAvp { name: "unused" },
            ))
        })
    }

    fn call_routed(
        &self,
        request: RawMessage,
        local: &diameter::core::routing::LocalNode<'_>,
        out: &mut AnswerBuf<'_>,
    ) -> diameter::core::node::Routed {
        let mut req = Ccr::default();
        match diameter::core::node::decode_routed(&request, local, &mut req) {
            Ok(proxy_info) => {
                out.encode(&cca(&req, 1));
                if req.session_id.as_str().contains(";free;") {
                    return diameter::core::node::Routed::Encoded { proxy_info };
                }
                let (tx, rx) = tokio::sync::oneshot::channel();
                let session = req.session_id.as_str().to_owned();
                self.releases.lock().unwrap().push((session, tx));
                out.hold_until(Box::pin(async move { rx.await.unwrap_or(false) }));
                diameter::core::node::Routed::Encoded { proxy_info }
            }
            Err(routed) => routed,
        }
    }

    fn answers_retransmissions(&self) -> bool {
        true
    }
}

/// `ocs.b.net` with the [`Holding`] handler (`write_queue_bytes` per connection), and a
/// client connected to it.
async fn holding_pair(releases: Releases, write_queue_bytes: usize) -> (Node, Node) {
    let mut limits = NodeLimits::default();
    limits.write_queue_bytes = write_queue_bytes;
    let server = server_builder(limits)
        .handler(4, 272, Holding { releases })
        .build()
        .await
        .unwrap();
    let client = client_of(&server).await;
    (server, client)
}

#[tokio::test]
async fn answers_held_past_the_write_queue_bound_close_the_connection() {
    let releases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (server, client) = holding_pair(releases.clone(), 4096).await;
    let mut events = server.subscribe();
    // About 150 bytes per answer and none released: the connection goes past 4 kB.
    for i in 0..40u32 {
        let request = ccr(&format!("client.a.net;flood;{i}"), 400 + i, false);
        let client = client.clone();
        tokio::spawn(async move { client.request_with_timeout(request, LIMIT).await });
    }
    let down = tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(diameter::core::node::NodeEvent::PeerDown { host, .. }) = events.recv().await
            {
                return host;
            }
        }
    });
    assert_eq!(
        down.await.expect("the connection stayed open"),
        "client.a.net"
    );
    assert!(releases.lock().unwrap().len() >= 27);
}

#[tokio::test]
async fn a_held_answer_leaves_when_released_and_never_when_withheld() {
    let releases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (server, client) = holding_pair(releases.clone(), 4 << 20).await;
    let send = |session: &str, end_to_end: u32| {
        let (client, request) = (client.clone(), ccr(session, end_to_end, false));
        tokio::spawn(async move { client.request_with_timeout(request, LIMIT).await })
    };
    let release = |session: &str, ok: bool| {
        let mut r = releases.lock().unwrap();
        let i = r.iter().position(|(s, _)| s == session).unwrap();
        let _ = r.swap_remove(i).1.send(ok);
    };
    let handled = |n: usize| {
        let releases = releases.clone();
        async move {
            while releases.lock().unwrap().len() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };

    // Held: nothing arrives until the release, then the typed answer does.
    let first = send("client.a.net;held;1", 301);
    handled(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !first.is_finished(),
        "a held answer left before its release"
    );
    release("client.a.net;held;1", true);
    let answer = first.await.unwrap().unwrap();
    let cca = Cca::decode(&answer).unwrap();
    assert_eq!(
        (cca.session_id.as_str(), cca.result_code),
        ("client.a.net;held;1", 2001)
    );
    // Counted when it left: its latency includes the 200 ms it was held.
    let text = server.metrics_text();
    let sum = text
        .lines()
        .find(|l| l.starts_with("diameter_request_duration_seconds_sum{direction=\"in\""))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(sum.is_some_and(|s| s >= 0.2), "{text}");

    // An answer not held waits behind one held on the same connection: answers leave
    // in order (a DPA queued after held answers goes after them).
    let held = send("client.a.net;held;4", 304);
    handled(1).await;
    let free = send("client.a.net;free;1", 305);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!free.is_finished(), "an answer overtook a held one");
    release("client.a.net;held;4", true);
    assert_eq!(
        Cca::decode(&held.await.unwrap().unwrap())
            .unwrap()
            .result_code,
        2001
    );
    assert_eq!(
        Cca::decode(&free.await.unwrap().unwrap())
            .unwrap()
            .result_code,
        2001
    );

    // Withheld: never sent (the client's request times out); a later answer still goes.
    let (client2, withheld_request) = (client.clone(), ccr("client.a.net;held;2", 302, false));
    let withheld = tokio::spawn(async move {
        client2
            .request_with_timeout(withheld_request, Duration::from_millis(600))
            .await
    });
    handled(1).await;
    release("client.a.net;held;2", false);
    assert!(
        withheld.await.unwrap().is_err(),
        "a withheld answer was sent"
    );
    let third = send("client.a.net;held;3", 303);
    handled(1).await;
    release("client.a.net;held;3", true);
    assert_eq!(
        Cca::decode(&third.await.unwrap().unwrap())
            .unwrap()
            .result_code,
        2001
    );
}

#[tokio::test]
async fn held_answers_leave_before_the_dpa() {
    let releases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (_server, client) = holding_pair(releases.clone(), 4 << 20).await;
    let (c, request) = (client.clone(), ccr("client.a.net;held;dpr", 501, false));
    let pending = tokio::spawn(async move { c.request_with_timeout(request, LIMIT).await });
    while releases.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The client leaves (DPR) while the answer is held; the server's DPA waits behind it.
    let c = client.clone();
    let stopping = tokio::spawn(async move {
        c.stop_peer(
            "ocs.b.net",
            diameter::core::base::DisconnectCause::Rebooting,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, tx) = releases.lock().unwrap().pop().unwrap();
    tx.send(true).unwrap();
    let answer = pending
        .await
        .unwrap()
        .expect("the held answer was lost to the DPA");
    assert_eq!(Cca::decode(&answer).unwrap().result_code, 2001);
    stopping.await.unwrap();
}
