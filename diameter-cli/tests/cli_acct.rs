//! `diameter serve acct`: flags over the configuration file, and store URL errors.

use assert_cmd::Command;
use predicates::prelude::*;

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

#[test]
fn acct_flags_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("acct.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:3901\"\norigin_host = \"cdf.example.net\"\nstore = \"sqlite://a.db\"\nrecords = \"cdr.jsonl\"\ninterim_interval = 300\n",
    )
    .unwrap();
    diameter()
        .args(["serve", "acct", "--check", "--config"])
        .arg(&cfg)
        .args(["--interim-interval", "60", "--records", "-"])
        .assert()
        .success()
        .stdout(predicate::str::contains("listen        127.0.0.1:3901"))
        .stdout(predicate::str::contains("origin_host   cdf.example.net"))
        .stdout(predicate::str::contains("store         sqlite://a.db"))
        .stdout(predicate::str::contains("records       stdout"))
        .stdout(predicate::str::contains("interim_interval 60 s"));
}

#[test]
fn acct_refuses_an_unsupported_store() {
    diameter()
        .args(["serve", "acct", "--check", "--store", "mysql://x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a supported URL"));
}

#[test]
fn send_acr_sets_the_record_type_and_number() {
    diameter()
        .args([
            "send",
            "acr",
            "--type",
            "stop",
            "--number",
            "2",
            "--dry-run",
            "--json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("STOP_RECORD"))
        .stdout(predicate::str::contains("Accounting-Record-Number"));
}
