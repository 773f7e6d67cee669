//! A raw TCP peer against a node: malformed messages are answered without closing the
//! connection, retransmissions are answered from the duplicate cache, and a stream that
//! cannot be framed is answered and closed.

use bytes::{BufMut, BytesMut};
use diameter_core::base::avp;
use diameter_core::fields::{result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::message::frame_len;
use diameter_core::node::Node;
use diameter_core::peer::capabilities::{cer, Capabilities};
use diameter_core::peer::messages::dwr;
use diameter_core::RawMessage;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(5);

async fn read_msg(s: &mut TcpStream, buf: &mut BytesMut) -> Option<RawMessage> {
    timeout(LIMIT, async {
        loop {
            if let Ok(Some(n)) = frame_len(buf, &Default::default()) {
                if buf.len() >= n {
                    return RawMessage::decode(buf.split_to(n).freeze(), &Default::default()).ok();
                }
            }
            if s.read_buf(buf).await.ok()? == 0 {
                return None;
            }
        }
    })
    .await
    .ok()
    .flatten()
}

fn me() -> Capabilities {
    Capabilities {
        origin_host: "raw.a.net".into(),
        origin_realm: "a.net".into(),
        host_ip_addresses: vec![[127, 0, 0, 1].into()],
        product_name: "raw".into(),
        auth_applications: vec![4],
        ..Default::default()
    }
}

fn ccr(e2e: u32, t: bool) -> RawMessage {
    let flags = CommandFlags::REQUEST
        | CommandFlags::PROXIABLE
        | if t { CommandFlags::RETRANSMIT } else { 0 };
    RawMessage::from_avps(
        Header::new(272, 4, flags, e2e, e2e),
        &[
            str_avp(avp::SESSION_ID, "raw;1"),
            str_avp(avp::ORIGIN_HOST, "raw.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
        ],
    )
}

#[tokio::test]
async fn malformed_requests_are_answered_and_duplicates_served_from_cache() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let node = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .handler(4, 272, move |req: RawMessage| {
            c2.fetch_add(1, Ordering::Relaxed);
            let h = Header::new(272, 4, CommandFlags::PROXIABLE, 0, 0);
            let mut avps: Vec<_> = req.find(avp::SESSION_ID, 0).into_iter().collect();
            avps.push(u32_avp(avp::RESULT_CODE, 2001));
            std::future::ready(RawMessage::from_avps(h, &avps))
        })
        .build()
        .await
        .unwrap();
    let mut s = TcpStream::connect(node.local_addrs()[0]).await.unwrap();
    let mut buf = BytesMut::new();
    s.write_all(&cer(&me(), 1, 1).to_bytes()).await.unwrap();
    let cea = read_msg(&mut s, &mut buf).await.unwrap();
    assert_eq!(result_code(&cea), Some(2001));

    // An AVP whose length runs past the message: 5014, connection kept.
    let mut bad = BytesMut::new();
    Header {
        length: 32,
        ..Header::new(272, 4, CommandFlags::REQUEST, 7, 7)
    }
    .write(&mut bad);
    bad.put_u32(263);
    bad.put_u32(0x4000_0040); // M flag, length 64 > what is there
    bad.put_u32(0);
    s.write_all(&bad).await.unwrap();
    let ans = read_msg(&mut s, &mut buf).await.unwrap();
    assert_eq!(ans.header.hop_by_hop, 7);
    assert_eq!(result_code(&ans), Some(5014));
    assert!(ans.find(avp::FAILED_AVP, 0).is_some());

    // Still open: a DWR is answered.
    s.write_all(&dwr(&me(), 8, 8).to_bytes()).await.unwrap();
    let dwa = read_msg(&mut s, &mut buf).await.unwrap();
    assert_eq!(
        (dwa.header.command_code, result_code(&dwa)),
        (280, Some(2001))
    );

    // A request, then its retransmission with the T flag: one handler call, two answers.
    s.write_all(&ccr(100, false).to_bytes()).await.unwrap();
    assert_eq!(
        result_code(&read_msg(&mut s, &mut buf).await.unwrap()),
        Some(2001)
    );
    let mut again = ccr(100, true);
    again.header.hop_by_hop = 101;
    s.write_all(&again.to_bytes()).await.unwrap();
    let second = read_msg(&mut s, &mut buf).await.unwrap();
    assert_eq!(second.header.hop_by_hop, 101);
    assert_eq!(result_code(&second), Some(2001));
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    // A header with version 2: answered with 5011, then the connection is closed.
    let mut v2 = ccr(200, false).to_bytes().to_vec();
    v2[0] = 2;
    s.write_all(&v2).await.unwrap();
    let ans = read_msg(&mut s, &mut buf).await.unwrap();
    assert_eq!(result_code(&ans), Some(5011));
    assert!(
        read_msg(&mut s, &mut buf).await.is_none(),
        "closed after an unframeable message"
    );
}

#[tokio::test]
async fn connection_without_cer_is_closed() {
    let node = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .build()
        .await
        .unwrap();
    let mut s = TcpStream::connect(node.local_addrs()[0]).await.unwrap();
    let mut buf = BytesMut::new();
    s.write_all(&dwr(&me(), 1, 1).to_bytes()).await.unwrap();
    assert!(read_msg(&mut s, &mut buf).await.is_none());
}
