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

/// The SIP registration scenario: every flow is UAR, MAR, SAR REGISTRATION for a user drawn
/// from a range; the bench peer holds the credentials right (it checks Digest itself), so
/// the MAR carries the HA1 and the SAR is allowed. A user missing from the users file
/// fails its flow at the UAR.
#[test]
fn bench_sip_registration_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut users = String::from("realm = \"localdomain\"\n");
    for n in 1..=4 {
        users.push_str(&format!(
            "[[user]]\nname = \"user{n}@localdomain\"\npassword = \"pw{n}\"\naors = [\"sip:user{n}@localdomain\"]\n"
        ));
    }
    let users_file = dir.path().join("users.toml");
    std::fs::write(&users_file, users).expect("users");
    let config = dir.path().join("sip.toml");
    std::fs::write(
        &config,
        "[[peers]]\nhost = \"bench-0.localdomain\"\ncredentials = true\n",
    )
    .expect("config");
    let store = format!("sqlite://{}", dir.path().join("sip.db").display());
    let (_sip, addr) = cli_support::spawn_server(&[
        "serve",
        "sip",
        "--config",
        config.to_str().expect("path"),
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--users",
        users_file.to_str().expect("path"),
    ]);
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/bench/sip-register.toml");
    let text = std::fs::read_to_string(example).expect("example");
    let run = |range: &str, flows: &str| {
        let scenario = dir.path().join("reg.toml");
        std::fs::write(&scenario, text.replace("range = [1, 100]", range)).expect("scenario");
        diameter()
            .args(["bench", "--scenario", scenario.to_str().expect("path")])
            .args(["--peer", &addr, "-c", "1", "-o", "2", "-n", flows, "--json"])
            .output()
            .expect("run")
    };
    let out = run("range = [1, 4]", "12");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (m, reg) = (&v["messages"], &v["scenarios"]["register"]);
    assert_eq!(reg["started"], 12, "{v:#}");
    assert_eq!(reg["completed"], 12, "{v:#}");
    for k in ["UAR", "MAR", "SAR"] {
        assert_eq!(m[k], 12, "{k}: {v:#}");
    }
    assert_eq!(v["errors"], 0, "{v:#}");
    assert_eq!(v["timeouts"], 0, "{v:#}");

    // user5 is unknown: its flows (2 of 10) stop at the UAR.
    let out = run("range = [1, 5]", "10");
    // Answered in time (exit 0), but not all with success.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (m, reg) = (&v["messages"], &v["scenarios"]["register"]);
    assert_eq!(reg["completed"], 8, "{v:#}");
    let codes = v["result_codes"].as_array().expect("codes");
    assert!(
        codes.iter().any(|c| c["code"] == 5032),
        "user unknown: {v:#}"
    );
    assert_eq!(
        (m["UAR"].clone(), m["SAR"].clone()),
        (10.into(), 8.into()),
        "{v:#}"
    );
}
