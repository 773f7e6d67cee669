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

/// `--compare`: the stateless node and the OCS started in turn from this binary, the same
/// load against each, then the OCS at half its rate; every run answered, all 2001.
#[test]
fn compare_reports_the_ocs_against_the_stateless_node() {
    let out = bench(&[
        "--compare",
        "--connections",
        "1",
        "--outstanding",
        "4",
        "--updates",
        "2",
        "--duration",
        "1s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for run in ["stateless", "ocs", "ocs_half_rate"] {
        let r = &v[run];
        assert!(
            r["answered"].as_u64().expect("answered") > 0,
            "{run}: {v:#}"
        );
        assert_eq!(r["timeouts"], 0, "{run}: {v:#}");
        assert_eq!(r["result_codes"].as_array().map(Vec::len), Some(1), "{v:#}");
        assert_eq!(r["result_codes"][0]["code"], 2001, "{run}: {v:#}");
        assert!(r["answers_per_s"].as_f64().expect("rate") > 0.0, "{v:#}");
        assert!(r["latency_ms"]["p99"].as_f64().expect("p99") > 0.0, "{v:#}");
        assert!(r["server_cpu_us_per_answer"].is_number(), "{run}: {v:#}");
        assert!(r["client_cpu_us_per_answer"].is_number(), "{run}: {v:#}");
    }
    // Half of what the OCS reached, and no more than that.
    let half = v["ocs_half_rate"]["target_rate"].as_f64().expect("target");
    let full = v["ocs"]["answers_per_s"].as_f64().expect("rate");
    assert!((half - full / 2.0).abs() < 1e-6 * full.max(1.0), "{v:#}");
    assert!(
        v["ocs_half_rate"]["answers_per_s"].as_f64().expect("rate") <= half * 1.1,
        "{v:#}"
    );
    assert!(v["stateless"]["target_rate"].is_null(), "{v:#}");
    let ratio = v["ratio_ocs_to_stateless"]["answers_per_s"]
        .as_f64()
        .expect("ratio");
    assert!(ratio > 0.0, "{v:#}");
    assert!(
        v["ratio_ocs_to_stateless"]["server_cpu_per_answer"].is_number()
            || v["stateless"]["server_cpu_s"] == 0.0,
        "{v:#}"
    );
    assert!(v["machine"]["nproc"].as_u64().expect("nproc") >= 1, "{v:#}");
    assert!(v["machine"]["cpu_model"].is_string(), "{v:#}");
}
