//! `diameter serve ocs` as a process, then `send` and `bench` against it on loopback.

mod cli_support;

use assert_cmd::Command;
use cli_support::{spawn_server, ServerProcess};
use std::path::PathBuf;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Starts the OCS on an ephemeral port with a fresh SQLite store; returns its address.
fn start_ocs(dir: &std::path::Path) -> (ServerProcess, String) {
    let store = format!("sqlite://{}", dir.join("ocs.db").display());
    let tariffs = fixture("tariffs.toml");
    spawn_server(&[
        "serve",
        "ocs",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--auto-provision",
        "1000000",
        "--tariffs",
        tariffs.to_str().expect("path"),
    ])
}

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c.timeout(Duration::from_secs(60));
    c
}

/// A server turns transparent huge pages off for its process (they stalled charges while
/// the kernel zeroed 2 MiB pages).
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) = start_ocs(dir.path());
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let thp = status.lines().find(|l| l.starts_with("THP_enabled:"));
    // Kernels before 6.0 do not report it; there the prctl still applies.
    if let Some(line) = thp {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
}

#[test]
fn send_ccr_session_and_event_to_the_ocs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ocs, addr) = start_ocs(dir.path());
    let out = diameter()
        .args(["send", "ccr", "--json", "--peer", &addr])
        .args(["--avp", "Session-Id=cli-test;1;1"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["command"]["abbrev"], "CCA");
    let granted = v["avps"]
        .as_array()
        .expect("avps")
        .iter()
        .find(|a| a["name"] == "Multiple-Services-Credit-Control")
        .expect("MSCC");
    assert_eq!(granted["avps"][0]["name"], "Granted-Service-Unit");
    diameter()
        .args([
            "send",
            "ccr",
            "--type",
            "termination",
            "--number",
            "1",
            "--peer",
            &addr,
        ])
        .args(["--avp", "Session-Id=cli-test;1;1"])
        .args([
            "--avp",
            "Multiple-Services-Credit-Control.Used-Service-Unit.CC-Total-Octets=1000",
        ])
        .assert()
        .success();
    diameter()
        .args(["send", "ccr", "--type", "event", "--peer", &addr])
        .assert()
        .success();
}

#[test]
fn bench_the_ocs_for_two_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ocs, addr) = start_ocs(dir.path());
    let out = diameter()
        .args([
            "bench", "--peer", &addr, "-c", "2", "-o", "4", "-d", "2s", "--json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["answered"].as_u64().expect("answered") > 20, "{v:#}");
    assert_eq!(v["timeouts"], 0);
    assert_eq!(v["result_codes"][0]["code"], 2001, "{v:#}");
}

#[test]
fn quick_start_without_tariffs_answers_2001() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let (_ocs, addr) = spawn_server(&[
        "serve",
        "ocs",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--auto-provision",
        "100",
    ]);
    diameter()
        .args(["send", "ccr", "--peer", &addr])
        .assert()
        .success();
}
