//! The Prometheus endpoint: a few requests over loopback, then a scrape over HTTP/1.1
//! whose counters must add up; codes from the network fold into `other` so the series stay
//! bounded; peers that leave leave the output. Every wait is bounded.

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
        // The client has no handler for CCR: it declares what it sends.
        .metrics_commands([CCR])
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
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
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
        n("diameter_request_duration_seconds_bucket{le=\"+Inf\",direction=\"in\",command=\"272\"}"),
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
        .filter(|l| l.starts_with("diameter_request_duration_seconds_bucket{"))
        .filter(|l| l.contains("direction=\"out\""))
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

/// A request of any application and command, for the server's realm.
fn raw_request(app: u32, cmd: u32, session: &str) -> RawMessage {
    let h = Header::new(
        cmd,
        app,
        CommandFlags::REQUEST | CommandFlags::PROXIABLE,
        0,
        0,
    );
    RawMessage::from_avps(
        h,
        &[
            str_avp(avp::SESSION_ID, session),
            str_avp(avp::ORIGIN_HOST, "flood.a.net"),
            str_avp(avp::ORIGIN_REALM, "a.net"),
            str_avp(avp::DESTINATION_REALM, "b.net"),
        ],
    )
}

/// The sample lines of a metric (its name followed by labels).
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}{{");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[tokio::test]
async fn made_up_codes_fold_into_other() {
    // Answers CCRs with the Result-Code the Session-Id ends with.
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .handler(APP, CCR, |req: RawMessage| async move {
            let session = req
                .find(avp::SESSION_ID, 0)
                .map(|a| String::from_utf8_lossy(&a.data).into_owned())
                .unwrap_or_default();
            let code = session
                .rsplit(';')
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(2001);
            let avps = vec![
                str_avp(avp::SESSION_ID, &session),
                u32_avp(avp::RESULT_CODE, code),
                str_avp(avp::ORIGIN_HOST, "server.b.net"),
                str_avp(avp::ORIGIN_REALM, "b.net"),
            ];
            RawMessage::from_avps(Header::new(CCR, APP, CommandFlags::PROXIABLE, 0, 0), &avps)
        })
        .build()
        .await
        .unwrap();
    // A relay client may send any application.
    let cli = Node::builder()
        .origin_host("flood.a.net")
        .origin_realm("a.net")
        .auth_application(diameter_core::base::app::RELAY)
        .metrics_commands([CCR])
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(cli.wait_peer("server.b.net", LIMIT).await);

    // 1000 distinct made-up (application, command) pairs, 50 at a time.
    for batch in 0..20u32 {
        let sends = (0..50u32).map(|k| {
            let i = batch * 50 + k;
            let cli = cli.clone();
            async move {
                let msg = raw_request(1_000_000 + i, 100_000 + i, &format!("f;{i}"));
                let _ = tokio::time::timeout(LIMIT, cli.request(msg)).await;
            }
        });
        futures_join_all(sends).await;
    }
    // 200 CCRs answered with made-up Result-Codes: 4100-4199 and 7000-7099.
    for i in 0..100u32 {
        for code in [4100 + i, 7000 + i] {
            let ans = cli
                .request(raw_request(APP, CCR, &format!("r;{i};{code}")))
                .await
                .unwrap();
            assert_eq!(result_code(&ans), Some(code));
        }
    }

    for (side, text) in [
        ("server", srv.metrics_text()),
        ("client", cli.metrics_text()),
    ] {
        let dir = if side == "server" { "in" } else { "out" };
        // The relay client knows no application but the base protocol's.
        let app = if side == "server" { "4" } else { "other" };
        let mut requests = series(&text, "diameter_requests_total");
        requests.sort_unstable();
        let mut want = vec![
            format!("diameter_requests_total{{direction=\"{dir}\",application=\"other\",command=\"other\"}} 1000"),
            format!("diameter_requests_total{{direction=\"{dir}\",application=\"{app}\",command=\"272\"}} 200"),
        ];
        want.sort_unstable();
        assert_eq!(requests, want, "{side}: {text}");
        let answers = series(&text, "diameter_answers_total");
        let ccr = |rc: &str| {
            format!("diameter_answers_total{{direction=\"{dir}\",command=\"272\",result_code=\"{rc}\"}} 100")
        };
        assert!(answers.contains(&ccr("4xxx").as_str()), "{side}: {text}");
        assert!(answers.contains(&ccr("other").as_str()), "{side}: {text}");
        // The made-up commands' answers: one command label, a few Result-Code labels.
        assert!(
            answers
                .iter()
                .filter(|l| l.contains("command=\"other\""))
                .count()
                <= 3,
            "{side}: {text}"
        );
        assert!(answers.len() <= 5, "{side}: {text}");
        assert!(
            series(&text, "diameter_request_duration_seconds_count").len() <= 2,
            "{side}: {text}"
        );
        assert!(text.len() < 8 * 1024, "{side}: {} bytes", text.len());
    }
    cli.abort();
    srv.abort();
}

/// Runs the futures concurrently (no `futures` dependency here).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futs: impl Iterator<Item = F>,
) {
    let mut set = tokio::task::JoinSet::new();
    for f in futs {
        set.spawn(f);
    }
    while set.join_next().await.is_some() {}
}

#[tokio::test]
async fn peers_that_leave_are_removed_from_the_metrics() {
    let srv = Node::builder()
        .origin_host("server.b.net")
        .origin_realm("b.net")
        .auth_application(APP)
        .listen("127.0.0.1:0".parse().unwrap())
        .handler(APP, CCR, handler)
        .build()
        .await
        .unwrap();
    for (i, host) in ["gone1.a.net", "gone2.a.net", "gone3.a.net"]
        .into_iter()
        .enumerate()
    {
        let cli = Node::builder()
            .origin_host(host)
            .origin_realm("a.net")
            .auth_application(APP)
            .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]))
            .build()
            .await
            .unwrap();
        assert!(cli.wait_peer("server.b.net", LIMIT).await);
        assert!(srv.wait_peer(host, LIMIT).await);
        assert!(
            srv.metrics_text()
                .contains(&format!("diameter_peer_up{{peer=\"{host}\"}} 1")),
            "{}",
            srv.metrics_text()
        );
        // One leaves with DPR, the next drops its connection.
        if i % 2 == 0 {
            cli.stop(diameter_core::base::DisconnectCause::Rebooting)
                .await;
        } else {
            cli.abort();
        }
        let end = tokio::time::Instant::now() + LIMIT;
        while !srv.peers().is_empty() && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(srv.peers().is_empty(), "{:?}", srv.peers());
        let text = srv.metrics_text();
        assert!(!text.contains(host), "{host} is still there: {text}");
        cli.abort();
    }
    assert!(series(&srv.metrics_text(), "diameter_peer_up").is_empty());

    // A configured peer stays, down.
    let cli = Node::builder()
        .origin_host("client.a.net")
        .origin_realm("a.net")
        .auth_application(APP)
        .peer(PeerConfig::new("server.b.net", srv.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(cli.wait_peer("server.b.net", LIMIT).await);
    srv.abort();
    let end = tokio::time::Instant::now() + LIMIT;
    while cli.is_peer_available("server.b.net") && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = cli.metrics_text();
    assert!(
        text.contains("diameter_peer_up{peer=\"server.b.net\"} 0"),
        "{text}"
    );
    cli.abort();
}
