//! `--metrics ADDR` of `diameter serve ocs|sip`: the real binary on loopback serves the
//! node's metrics; a client's CCR is counted and the client's series leave with it.

#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;
#[path = "cli_support/process.rs"]
mod process;

use diameter::dict::dcca_rfc4006::{CcRequestType, Cca};
use diameter_core::node::{Node, PeerConfig};
use ocs_common::ccr::*;
use process::ServerProcess as Server;
use std::io::{Read, Write};
use std::time::Duration;

/// `GET /metrics`: (head, body).
fn scrape(addr: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("response");
    (head.to_owned(), body.to_owned())
}

/// The address of a `metrics on http://ADDR/metrics` line.
fn metrics_addr(line: &str) -> String {
    line.trim()
        .strip_prefix("metrics on http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned()
}

#[test]
fn serve_ocs_serves_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tariffs = dir.path().join("tariffs.toml");
    std::fs::write(&tariffs, TARIFFS).expect("tariffs");
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let (_ocs, lines) = Server::start_lines(
        &[
            "serve",
            "ocs",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--origin-host",
            "ocs.example.net",
            "--origin-realm",
            "example.net",
            "--store",
            &store,
            "--auto-provision",
            "100000",
            "--tariffs",
            tariffs.to_str().expect("path"),
        ],
        2,
    );
    let addr = lines[0].trim().rsplit(' ').next().expect("addr").to_owned();
    let metrics = metrics_addr(&lines[1]);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        let node = Node::builder()
            .origin_host("pgw.example.net")
            .origin_realm("example.net")
            .auth_application(4)
            .peer(PeerConfig::new(
                "ocs.example.net",
                addr.parse().expect("addr"),
            ))
            .build()
            .await
            .expect("client");
        assert!(
            node.wait_peer("ocs.example.net", Duration::from_secs(10))
                .await
        );
        node
    });
    let sid = client.new_session_id();
    let mut i = base(&sid, CcRequestType::InitialRequest, 0, GY);
    i.subscription_id = vec![msisdn("491700000001")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = rt.block_on(client.send(&i, 4)).expect("CCA");
    assert_eq!(cca.result_code, 2001);

    let (head, body) = scrape(&metrics);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    for line in [
        "diameter_requests_total{direction=\"in\",application=\"4\",command=\"272\"} 1",
        "diameter_answers_total{direction=\"in\",command=\"272\",result_code=\"2001\"} 1",
        "diameter_peer_up{peer=\"pgw.example.net\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} in {body}");
    }

    // The client leaves: so do its series.
    client.abort();
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut body = scrape(&metrics).1;
    while body.contains("pgw.example.net") && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        body = scrape(&metrics).1;
    }
    assert!(!body.contains("pgw.example.net"), "{body}");
}

/// The OCS's own series on the same endpoint: CCRs by type and Result-Code, the store's
/// commits (the embedded store's journal syncs, each with the records it made durable), no
/// store errors, and the gauges following the session.
#[test]
fn serve_ocs_serves_charging_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tariffs = dir.path().join("tariffs.toml");
    std::fs::write(&tariffs, TARIFFS).expect("tariffs");
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let (_ocs, lines) = Server::start_lines(
        &[
            "serve",
            "ocs",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--origin-host",
            "ocs.example.net",
            "--origin-realm",
            "example.net",
            "--store",
            &store,
            "--auto-provision",
            "100000",
            "--tariffs",
            tariffs.to_str().expect("path"),
        ],
        2,
    );
    let addr = lines[0].trim().rsplit(' ').next().expect("addr").to_owned();
    let metrics = metrics_addr(&lines[1]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        let node = Node::builder()
            .origin_host("pgw.example.net")
            .origin_realm("example.net")
            .auth_application(4)
            .peer(PeerConfig::new(
                "ocs.example.net",
                addr.parse().expect("addr"),
            ))
            .build()
            .await
            .expect("client");
        assert!(
            node.wait_peer("ocs.example.net", Duration::from_secs(10))
                .await
        );
        node
    });
    // Waits until every line is in a scrape (the gauges refresh every second).
    let wait_for = |want: &[&str]| {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let body = scrape(&metrics).1;
            let missing: Vec<&&str> = want
                .iter()
                .filter(|w| !body.lines().any(|l| l == **w))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < end,
                "{missing:?} missing in\n{body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // CCR-I: the default quota, 5,000,000 octets, is 5 blocks at 10: 50 reserved.
    let sid = client.new_session_id();
    let mut i = base(&sid, CcRequestType::InitialRequest, 0, GY);
    i.subscription_id = vec![msisdn("491700000002")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = rt.block_on(client.send(&i, 4)).expect("CCA");
    assert_eq!(cca.result_code, 2001);
    let value = |name: &str| -> f64 {
        let body = scrape(&metrics).1;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{body}"))
    };
    // The embedded store's commits are its journal syncs: each counted once in both
    // histograms, with at least one record.
    let commits_add_up = |records: f64| {
        let commits = value("ocs_store_batch_size_count");
        assert!(
            (1.0..=records).contains(&commits),
            "{commits} commits of {records}"
        );
        assert_eq!(value("ocs_store_commit_duration_seconds_count"), commits);
    };
    wait_for(&[
        "ocs_ccr_total{type=\"initial\",result_code=\"2001\"} 1",
        "ocs_store_errors_total{kind=\"temporary\"} 0",
        "ocs_store_errors_total{kind=\"permanent\"} 0",
        "ocs_open_sessions 1",
        "ocs_reserved_amount 50",
    ]);
    // At least the provisioned account's record and the charge's.
    let records = value("ocs_store_batch_size_sum");
    assert!(records >= 2.0, "{records} records");
    commits_add_up(records);

    // CCR-T with 1,000,000 octets used: the session and its reservation are gone.
    let mut t = base(&sid, CcRequestType::TerminationRequest, 1, GY);
    t.subscription_id = vec![msisdn("491700000002")].into();
    t.multiple_services_credit_control = vec![data_mscc(100, None, Some(1_000_000))].into();
    let cca: Cca = rt.block_on(client.send(&t, 4)).expect("CCA");
    assert_eq!(cca.result_code, 2001);
    // The CCR-T's charge: one record more.
    let sum = format!("ocs_store_batch_size_sum {:.1}", records + 1.0);
    wait_for(&[
        "ocs_ccr_total{type=\"initial\",result_code=\"2001\"} 1",
        "ocs_ccr_total{type=\"termination\",result_code=\"2001\"} 1",
        sum.as_str(),
        "ocs_open_sessions 0",
        "ocs_reserved_amount 0",
    ]);
    commits_add_up(records + 1.0);
    // And the node's own series are still there, on the one endpoint.
    let body = scrape(&metrics).1;
    assert!(
        body.lines().any(|l| l
            == "diameter_answers_total{direction=\"in\",command=\"272\",result_code=\"2001\"} 2"),
        "{body}"
    );
    client.abort();
}

#[test]
fn serve_sip_serves_metrics_and_the_key_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("sip.db").display());
    let (_sip, lines) = Server::start_lines(
        &[
            "serve",
            "sip",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--store",
            &store,
        ],
        2,
    );
    let (head, body) = scrape(&metrics_addr(&lines[1]));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Nothing happened yet: no series, and the OpenMetrics end marker.
    assert_eq!(body, "# EOF\n");

    for server in ["ocs", "sip"] {
        let cfg = dir.path().join(format!("{server}.toml"));
        std::fs::write(&cfg, "metrics = \"127.0.0.1:9100\"\n").expect("config");
        assert_cmd::Command::cargo_bin("diameter")
            .expect("binary")
            .args(["serve", server, "--check", "--config"])
            .arg(&cfg)
            .assert()
            .code(0)
            .stdout(predicates::str::contains("metrics       127.0.0.1:9100"));
        std::fs::write(&cfg, "metrics = \"nowhere\"\n").expect("config");
        assert_cmd::Command::cargo_bin("diameter")
            .expect("binary")
            .args(["serve", server, "--check", "--config"])
            .arg(&cfg)
            .assert()
            .code(2)
            .stderr(predicates::str::contains("metrics = \"nowhere\""));
    }
}
