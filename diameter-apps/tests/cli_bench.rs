//! `diameter bench` for a few seconds against a server on loopback.

mod cli_support;

use assert_cmd::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("diameter")
        .expect("binary")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .timeout(std::time::Duration::from_secs(60))
        .arg("bench")
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn ccr_sessions_for_two_seconds() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--connections",
        "2",
        "--outstanding",
        "4",
        "--duration",
        "2s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let answered = v["answered"].as_u64().expect("answered");
    assert!(answered > 50, "{v:#}");
    assert_eq!(v["timeouts"], 0);
    assert_eq!(v["result_codes"][0]["code"], 2001);
    assert!(v["latency_ms"]["p99"].as_f64().expect("p99") > 0.0);
    assert!(v["elapsed_s"].as_f64().expect("elapsed") < 10.0);
}

#[test]
fn events_with_count_and_rate_and_text_report() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--kind",
        "ccr-event",
        "--count",
        "100",
        "--rate",
        "200",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("requests  100 sent, 100 answered, 0 timeouts"),
        "{text}"
    );
    assert!(text.contains("2001 DIAMETER_SUCCESS"), "{text}");
    assert!(text.contains("latency   p50"), "{text}");
}

#[test]
fn uar_load() {
    let server = cli_support::start();
    let out = bench(&[
        "--peer",
        &server.addr.to_string(),
        "--kind",
        "uar",
        "-n",
        "50",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["answered"], 50);
}

#[test]
fn unreachable_peer_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = bench(&[
        "--peer",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "1s",
        "-d",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(3));
}
