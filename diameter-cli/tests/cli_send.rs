//! `diameter send` against a server on loopback, and request building without one.

mod cli_support;

use assert_cmd::Command;
use predicates::prelude::*;

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c.timeout(std::time::Duration::from_secs(30));
    c
}

#[test]
fn ccr_with_defaults_gets_2001() {
    let server = cli_support::start();
    diameter()
        .args([
            "send",
            "ccr",
            "--peer",
            &server.addr.to_string(),
            "--show-request",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Diameter Credit-Control-Request (CCR)",
        ))
        .stdout(predicate::str::contains(
            "Diameter Credit-Control-Answer (CCA)",
        ))
        .stdout(predicate::str::contains(
            "Result-Code (268) l=12 f=-M-: 2001 (DIAMETER_SUCCESS)",
        ));
}

#[test]
fn non_2xxx_result_code_exits_1() {
    let server = cli_support::start();
    diameter()
        .args(["send", "ccr", "--msisdn", "46700000009", "--json"])
        .args(["--peer", &server.addr.to_string()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "\"meaning\": \"DIAMETER_CREDIT_LIMIT_REACHED\"",
        ))
        .stderr(predicate::str::contains("Result-Code is 4012"));
}

#[test]
fn uar_and_request_file() {
    let server = cli_support::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("uar.toml");
    std::fs::write(
        &file,
        "command = \"UAR\"\n[avps]\nSIP-AOR = \"sip:bob@localdomain\"\nUser-Name = \"bob\"\n",
    )
    .expect("write");
    diameter()
        .args([
            "send",
            "--file",
            file.to_str().expect("path"),
            "--show-request",
        ])
        .args(["--peer", &server.addr.to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "SIP-AOR (122) l=27 f=-M-: \"sip:bob@localdomain\"",
        ))
        .stdout(predicate::str::contains("User-Authorization-Answer (UAA)"));
}

#[test]
fn no_server_is_a_network_error() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    diameter()
        .args([
            "send",
            "ccr",
            "--timeout",
            "2s",
            "--peer",
            &format!("127.0.0.1:{port}"),
        ])
        .assert()
        .code(3);
}

#[test]
fn dotted_paths_json_file_and_dry_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ccr.json");
    std::fs::write(
        &file,
        r#"{"command": "CCR", "avps": {"CC-Request-Type": "UPDATE_REQUEST", "CC-Request-Number": 1,
            "Multiple-Services-Credit-Control": [
              {"Rating-Group": 1, "Used-Service-Unit": [{"CC-Total-Octets": 500}]},
              {"Rating-Group": 2}]}}"#,
    )
    .expect("write");
    let out = diameter()
        .args([
            "send",
            "--dry-run",
            "--json",
            "--file",
            file.to_str().expect("path"),
        ])
        .args([
            "--avp",
            "Multiple-Services-Credit-Control[1].Requested-Service-Unit.CC-Total-Octets=1000",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let avps = v["avps"].as_array().expect("avps");
    assert_eq!(avps[0]["name"], "Session-Id", "fixed position first");
    let mscc: Vec<&serde_json::Value> = avps.iter().filter(|a| a["code"] == 456).collect();
    assert_eq!(mscc.len(), 2);
    let rsu = mscc[1]["avps"]
        .as_array()
        .expect("members")
        .iter()
        .find(|a| a["name"] == "Requested-Service-Unit")
        .expect("RSU added by --avp into the second MSCC");
    assert_eq!(rsu["avps"][0]["name"], "CC-Total-Octets");
    assert_eq!(rsu["avps"][0]["value"], 1000);
    assert_eq!(
        mscc[1]["avps"][0]["name"], "Requested-Service-Unit",
        "grammar order"
    );
    let rt = avps.iter().find(|a| a["code"] == 416).expect("type");
    assert_eq!(rt["meaning"], "UPDATE_REQUEST");
}

#[test]
fn bad_values_are_usage_errors() {
    diameter()
        .args([
            "send",
            "ccr",
            "--dry-run",
            "--avp",
            "CC-Request-Type=sometimes",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected one of INITIAL_REQUEST"));
    diameter()
        .args(["send", "ccr", "--dry-run", "--avp", "Session-Id.Foo=1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not Grouped"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "command = \"CCR\"\n[avps]\nRating-Group = \"lots\"\n",
    )
    .expect("write");
    diameter()
        .args(["send", "--dry-run", "--file", file.to_str().expect("path")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:3:1: avps.Rating-Group"));
}

#[test]
fn cer_refused_is_a_network_error_with_the_reason() {
    let server = cli_support::start();
    // Accounting (application 3) is not served: the CEA says 5010.
    diameter()
        .args([
            "send",
            "ACR",
            "--timeout",
            "5s",
            "--peer",
            &server.addr.to_string(),
        ])
        .args([
            "--avp",
            "Accounting-Record-Type=EVENT_RECORD",
            "--avp",
            "Accounting-Record-Number=0",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "refused our CER with Result-Code 5010",
        ));
}

#[test]
fn peer_as_host_name_and_port() {
    let server = cli_support::start();
    diameter()
        .args([
            "send",
            "ccr",
            "--peer",
            &format!("localhost:{}", server.addr.port()),
        ])
        .assert()
        .success();
}

#[test]
fn json_with_request_is_one_document() {
    let server = cli_support::start();
    let out = diameter()
        .args([
            "send",
            "ccr",
            "--json",
            "--show-request",
            "--peer",
            &server.addr.to_string(),
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["request"]["command"]["abbrev"], "CCR");
    assert_eq!(v["answer"]["command"]["abbrev"], "CCA");
}
