//! `diameter serve acct`: flags over the configuration file, and store URL errors.

mod cli_support;

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

/// `bench --kind acr` against `serve acct`: every accounting session (START, two
/// INTERIMs, STOP) closes and is written once, with its four records.
#[test]
fn bench_acr_sessions_against_serve_acct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("acct.db").display());
    let records = dir.path().join("records.jsonl");
    let (server, addr) = cli_support::spawn_server(&[
        "serve",
        "acct",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--records",
        records.to_str().expect("path"),
    ]);
    let out = diameter()
        .timeout(std::time::Duration::from_secs(60))
        .args(["bench", "--kind", "acr", "--peer", &addr])
        .args([
            "-c",
            "1",
            "-o",
            "1",
            "--updates",
            "2",
            "--count",
            "80",
            "--json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["answered"], 80, "{v:#}");
    assert_eq!(v["result_codes"][0]["code"], 2001, "{v:#}");
    drop(server);
    let text = std::fs::read_to_string(&records).expect("records");
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    // 80 requests in one worker, 4 per session: 20 closed sessions.
    assert_eq!(recs.len(), 20, "{text}");
    assert!(recs.iter().all(|r| r["records"] == 4), "{text}");
}

/// `send acr` with Rf AVPs (TS 32.299): the CDF keeps Service-Context-Id and the
/// Service-Information in the session's charging record.
#[test]
fn send_rf_acr_start_and_stop_to_serve_acct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("acct.db").display());
    let records = dir.path().join("records.jsonl");
    let (server, addr) = cli_support::spawn_server(&[
        "serve",
        "acct",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--records",
        records.to_str().expect("path"),
    ]);
    for (kind, number) in [("start", "0"), ("stop", "1")] {
        diameter()
            .timeout(std::time::Duration::from_secs(30))
            .args([
                "send", "acr", "--peer", &addr, "--type", kind, "--number", number,
            ])
            .args(["--avp", "Session-Id=scscf;1;rf"])
            .args(["--avp", "Service-Context-Id=32260@3gpp.org"])
            .args([
                "--avp",
                "Service-Information.IMS-Information.Node-Functionality=S_CSCF",
            ])
            .args([
                "--avp",
                "Service-Information.IMS-Information.Role-Of-Node=ORIGINATING_ROLE",
            ])
            .assert()
            .success();
    }
    drop(server);
    let text = std::fs::read_to_string(&records).expect("records");
    let rec: serde_json::Value = serde_json::from_str(text.trim()).expect("one json line");
    assert_eq!(rec["session_id"], "scscf;1;rf");
    assert_eq!(rec["records"], 2);
    assert_eq!(rec["service_context_id"], "32260@3gpp.org");
    let ims = &rec["service_information"]["IMS-Information"];
    assert_eq!(ims["Node-Functionality"], "S_CSCF", "{rec}");
    assert_eq!(ims["Role-Of-Node"], "ORIGINATING_ROLE", "{rec}");
}

#[test]
fn acct_accepts_a_postgres_store() {
    diameter()
        .args([
            "serve",
            "acct",
            "--check",
            "--store",
            "postgresql://cdf@db.example.net/acct",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("store         postgresql://"));
}

/// SIGKILL of `serve acct` under load, then a restart on the same store and file: every
/// session the store holds as closed appears in the records file exactly once, and every
/// line is whole JSON.
#[test]
fn records_survive_sigkill_mid_load_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("acct.db");
    let store = format!("sqlite://{}", db.display());
    let records = dir.path().join("records.jsonl");
    let args = [
        "serve",
        "acct",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--records",
        records.to_str().expect("path"),
    ];
    let (server, addr) = cli_support::spawn_server(&args);
    let mut bench = std::process::Command::new(assert_cmd::cargo::cargo_bin("diameter"))
        .args(["bench", "--kind", "acr", "--peer", &addr, "--updates", "0"])
        .args([
            "-c",
            "2",
            "-o",
            "16",
            "-d",
            "6s",
            "--timeout",
            "1s",
            "--json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("bench");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    drop(server); // SIGKILL, mid-load
    let _ = bench.wait();
    // The restart writes what the crash left unwritten before it listens.
    let (again, _) = cli_support::spawn_server(&args);
    drop(again);

    let conn = rusqlite::Connection::open(&db).expect("store");
    let mut stmt = conn
        .prepare("SELECT session_id FROM acct_sessions WHERE closed = 1")
        .unwrap();
    let closed: std::collections::BTreeSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        closed.len() > 20,
        "load reached the server: {}",
        closed.len()
    );
    let text = std::fs::read_to_string(&records).expect("records");
    let mut seen = std::collections::BTreeSet::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("whole JSON lines");
        let sid = v["session_id"].as_str().expect("session_id").to_owned();
        assert!(seen.insert(sid.clone()), "{sid} written twice");
    }
    assert_eq!(seen, closed, "every closed session once");
}
