//! `diameter dict`: look-ups by name, code and vendor, commands, applications, search.

use assert_cmd::Command;
use predicates::prelude::*;

fn dict(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("diameter")
        .expect("binary")
        .env("NO_COLOR", "1")
        .arg("dict")
        .args(args)
        .assert()
}

#[test]
fn avp_by_name_code_and_vendor() {
    dict(&["avp", "session-id"])
        .success()
        .stdout(predicate::str::contains("Session-Id\n  Code:       263"))
        .stdout(predicate::str::contains("Type:       UTF8String"))
        .stdout(predicate::str::contains("Used in:    ").and(predicate::str::contains("CCR")));
    dict(&["avp", "416"])
        .success()
        .stdout(predicate::str::contains("CC-Request-Type"))
        .stdout(predicate::str::contains("4  EVENT_REQUEST"));
    dict(&["avp", "10415:873"])
        .success()
        .stdout(predicate::str::contains("Service-Information"))
        .stdout(predicate::str::contains("Vendor-Id:  10415"))
        .stdout(predicate::str::contains("< AVP Header: 873 10415 >"))
        .stdout(predicate::str::contains("[ PS-Information ]"));
}

#[test]
fn grouped_grammar_and_json() {
    let out = Command::cargo_bin("diameter")
        .expect("binary")
        .args(["dict", "avp", "Multiple-Services-Credit-Control", "--json"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["code"], 456);
    assert_eq!(v[0]["type"], "Grouped");
    let entries = v[0]["grammar"]["entries"].as_array().expect("grammar");
    assert!(entries
        .iter()
        .any(|e| e["name"] == "Requested-Service-Unit"
            && e["notation"] == "[ Requested-Service-Unit ]"));
}

#[test]
fn command_grammar_by_abbreviation_and_code() {
    dict(&["command", "CCR"])
        .success()
        .stdout(predicate::str::contains("Credit-Control (CCR/CCA)"))
        .stdout(predicate::str::contains(
            "<CCR> ::= < Diameter Header: 272, REQ, PXY >",
        ))
        .stdout(predicate::str::contains("< Session-Id >"))
        .stdout(predicate::str::contains("{ CC-Request-Type }"))
        .stdout(predicate::str::contains(
            "*[ Multiple-Services-Credit-Control ]",
        ));
    dict(&["command", "257"])
        .success()
        .stdout(predicate::str::contains("Capabilities-Exchange (CER/CEA)"))
        .stdout(predicate::str::contains("1*{ Host-IP-Address }"));
}

#[test]
fn application_commands_and_list() {
    dict(&["app", "4"])
        .success()
        .stdout(predicate::str::contains("Diameter Credit-Control"))
        .stdout(predicate::str::contains("272  Credit-Control (CCR/CCA)"));
    dict(&["app", "sip"])
        .success()
        .stdout(predicate::str::contains("User-Authorization (UAR/UAA)"));
    dict(&["apps"])
        .success()
        .stdout(predicate::str::contains("Diameter Common Messages"));
}

#[test]
fn search_and_result_codes() {
    dict(&["search", "service-unit"])
        .success()
        .stdout(predicate::str::contains(
            "437  Requested-Service-Unit  Grouped",
        ))
        .stdout(predicate::str::contains("431  Granted-Service-Unit"));
    dict(&["result-code", "4012"])
        .success()
        .stdout(predicate::str::contains("DIAMETER_CREDIT_LIMIT_REACHED"));
    dict(&["result-code", "diameter_success"])
        .success()
        .stdout(predicate::str::contains("2001"));
}

#[test]
fn nothing_found_is_exit_1_and_bad_key_is_exit_2() {
    dict(&["avp", "No-Such-Avp"])
        .code(1)
        .stderr(predicate::str::contains("no AVP matches"));
    dict(&["search", "zzzzqqq"]).code(1);
    dict(&["avp", "10415:x"])
        .code(2)
        .stderr(predicate::str::contains("VENDOR:CODE"));
}
