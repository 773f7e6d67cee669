//! `diameter serve sip` as a process, then `send uar` and `bench --kind uar` against it.

mod cli_support;

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c.timeout(Duration::from_secs(60));
    c
}

fn start_sip(dir: &std::path::Path) -> (cli_support::ServerProcess, String) {
    let store = format!("sqlite://{}", dir.join("sip.db").display());
    let users = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/users.toml");
    cli_support::spawn_server(&[
        "serve",
        "sip",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--users",
        users.to_str().expect("path"),
    ])
}

#[test]
fn uar_for_a_known_and_an_unknown_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sip, addr) = start_sip(dir.path());
    diameter()
        .args([
            "send",
            "uar",
            "--user",
            "alice@localdomain",
            "--peer",
            &addr,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("User-Authorization-Answer (UAA)"))
        .stdout(predicate::str::contains(
            "Result-Code (268) l=12 f=-M-: 200",
        ));
    diameter()
        .args([
            "send",
            "uar",
            "--user",
            "mallory@localdomain",
            "--peer",
            &addr,
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("DIAMETER_ERROR_USER_UNKNOWN"));
}

#[test]
fn bench_uar_for_two_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sip, addr) = start_sip(dir.path());
    let out = diameter()
        .args([
            "bench",
            "--kind",
            "uar",
            "--user",
            "alice@localdomain",
            "--peer",
            &addr,
        ])
        .args(["-d", "2s", "-o", "4", "--json"])
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
}
