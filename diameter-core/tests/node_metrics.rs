//! The Prometheus endpoint: a few requests over loopback, then a scrape over HTTP/1.1
//! whose counters must add up. Every wait is bounded.

use diameter_core::base::avp;
use diameter_core::fields::{result_code, str_avp, u32_avp};
use diameter_core::header::{CommandFlags, Header};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::RawMessage;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APP: u32 = 4;
const CCR: u32 = 272;
const LIMIT: Duration = Duration::from_secs(10);

fn request(session: &str) -> RawMessage {
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
            str_avp(avp::SESSION_ID, session),
            str_avp(avp::ORIGIN_HOST, "client.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
        ],
    )
}

/// Answers 2001, or 5012 (DIAMETER_UNABLE_TO_COMPLY) for sessions ending in "x".
async fn handler(req: RawMessage) -> RawMessage {
    let session = req
        .find(avp::SESSION_ID, 0)
        .map(|a| a.data.to_vec())
        .unwrap_or_default();
    let code = if session.ends_with(b"x") { 5012 } else { 2001 };
    let avps = vec![
        str_avp(avp::SESSION_ID, &String::from_utf8_lossy(&session)),
        u32_avp(avp::RESULT_CODE, code),
        str_avp(avp::ORIGIN_HOST, "server.b.net"),
        str_avp(avp::ORIGIN_REALM, "b.net"),
    ];
    RawMessage::from_avps(Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0), &avps)
}

async fn scrape(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The value of the sample whose name and labels are exactly `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn counters_are_scraped_over_http() {
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .metrics("127.0.0.1:0".parse().unwrap())
        .handler(APP, CCR, handler)
        .build()
        .await
        .unwrap();
    let cli = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .metrics("127.0.0.1:0".parse().unwrap())
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(cli.wait_peer("server.b.net", LIMIT).await);
    assert!(srv.wait_peer("client.a.net", LIMIT).await);
    for i in 0..5 {
        let ans = cli.request(request(&format!("m;{i}"))).await.unwrap();
        assert_eq!(result_code(&ans), Some(2001));
    }
    for i in 0..2 {
        let ans = cli.request(request(&format!("m;{i}x"))).await.unwrap();
        assert_eq!(result_code(&ans), Some(5012));
    }

    let addr = srv.metrics_addr().expect("metrics endpoint");
    let resp = scrape(addr, "/metrics").await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"));
    let n = |series: &str| value(body, series);
    assert_eq!(
        n("diameter_requests_total{direction=\"in\",application=\"4\",command=\"272\"}"),
        Some(7.0),
        "{body}"
    );
    assert_eq!(
        n("diameter_answers_total{direction=\"in\",command=\"272\",result_code=\"2001\"}"),
        Some(5.0)
    );
    assert_eq!(
        n("diameter_answers_total{direction=\"in\",command=\"272\",result_code=\"5012\"}"),
        Some(2.0)
    );
    assert_eq!(
        n("diameter_request_duration_seconds_count{direction=\"in\",command=\"272\"}"),
        Some(7.0)
    );
    assert_eq!(
        n("diameter_request_duration_seconds_bucket{direction=\"in\",command=\"272\",le=\"+Inf\"}"),
        Some(7.0)
    );
    assert_eq!(
        n("diameter_peer_state_changes_total{peer=\"client.a.net\",state=\"up\"}"),
        Some(1.0)
    );
    assert_eq!(n("diameter_peer_up{peer=\"client.a.net\"}"), Some(1.0));

    // The client side counts what it sent and the latency it saw.
    let body = scrape(cli.metrics_addr().unwrap(), "/metrics").await;
    let n = |series: &str| value(&body, series);
    assert_eq!(
        n("diameter_requests_total{direction=\"out\",application=\"4\",command=\"272\"}"),
        Some(7.0),
        "{body}"
    );
    assert_eq!(
        n("diameter_answers_total{direction=\"out\",command=\"272\",result_code=\"5012\"}"),
        Some(2.0)
    );
    assert_eq!(
        n("diameter_request_duration_seconds_count{direction=\"out\",command=\"272\"}"),
        Some(7.0)
    );
    // Buckets are cumulative and end at the count.
    let buckets: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with("diameter_request_duration_seconds_bucket{direction=\"out\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&7.0));

    // Anything else is 404; the text is the same without HTTP.
    assert!(scrape(addr, "/nope").await.starts_with("HTTP/1.1 404"));
    assert!(srv
        .metrics_text()
        .contains("diameter_peer_up{peer=\"client.a.net\"} 1"));
}
