//! Interop of base accounting (issue 16) with Erlang/OTP's `diameter` application and its
//! own base accounting dictionary `diameter_gen_base_accounting` (Debian packages
//! `erlang-base` and `erlang-diameter`). The Erlang peer is
//! `tests/interop/acct_peer.escript` (at the repository root).
//!
//! - `erlang_acct_client_against_serve_acct`: the Erlang accounting client sends START,
//!   INTERIM, STOP and an EVENT to our accounting server (`acct::serve::start`, SQLite
//!   store and JSON lines in a temp dir); OTP decodes every ACA (2001, our
//!   Acct-Interim-Interval) and the store holds the merged session and the event.
//! - `our_acct_client_against_erlang_server`: our client state machine
//!   (`acct::client::AcctSession`) over a `diameter_core` node sends START, INTERIM and
//!   STOP to the Erlang server, then a record from local storage (`acct::spool`) with the
//!   T flag, which OTP reports as `is_retransmitted`.
//!
//! Connections go through the recording tap of `tests/interop/mod.rs`: every message the
//! Erlang peer sent must decode with our typed decoder and re-encode byte for byte, and
//! tshark must dissect the exchange without malformed packets or expert warnings. Without
//! `escript`/`erl` or OTP's diameter application the tests print why and pass
//! (`REQUIRE_INTEROP=1` makes that a failure).

#[path = "../../tests/interop/mod.rs"]
mod interop;

use diameter::core::base::DisconnectCause;
use diameter::dict::base_rfc6733::{AccountingRecordType as Rt, Acr};
use diameter::dict::Message;
use diameter_apps::acct::client::{AcctConfig, AcctEvent, AcctSession, Output};
use diameter_apps::acct::deliver::send_acr;
use diameter_apps::acct::serve::{start, RecordsSink, ServeOptions};
use diameter_apps::acct::server::ServerConfig;
use diameter_apps::acct::spool::{MemorySpool, Redelivery, Spool};
use diameter_apps::acct::store::RecordStore;
use diameter_core::node::{Node, PeerConfig};
use interop::*;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

/// `escript`, if Erlang and its diameter application are installed (else `None` after
/// printing why the test is skipped).
fn escript(test: &str) -> Option<PathBuf> {
    let bin = require("escript", "erlang-base", test)?;
    let erl = require("erl", "erlang-base", test)?;
    let ok = Process::new(erl)
        .args(["-noshell", "-eval"])
        .arg(
            "halt(case code:which(diameter_gen_base_accounting) of non_existing -> 1; _ -> 0 end).",
        )
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("REQUIRE_INTEROP").is_some() {
            panic!(
                "{test}: OTP's diameter application is missing (Debian package erlang-diameter)"
            );
        }
        eprintln!(
            "SKIPPED {test}: OTP's diameter application is not installed (Debian package erlang-diameter)"
        );
        return None;
    }
    Some(bin)
}

fn start_escript(bin: &Path, mode: &str, port: u16, names: [&str; 3]) -> Daemon {
    let mut cmd = Process::new(bin);
    cmd.arg(interop_dir().join("acct_peer.escript"))
        .arg(mode)
        .arg(port.to_string())
        .args(names);
    Daemon::spawn("escript acct_peer.escript", cmd).expect("start escript")
}

/// Parses `key=value` from an escript output line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

fn assert_no_otp_complaints(erl: &Daemon) {
    let out = erl.output();
    for bad in ["ANSWER_DECODE_ERRORS", "ACR_ERRORS", "ERROR"] {
        assert!(!out.contains(bad), "the Erlang peer reports {bad}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_acct_client_against_serve_acct() {
    const TEST: &str = "erlang_acct_client_against_serve_acct";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-acct-client");
    let mut checks = ServerConfig::new("cdf.example.net", "example.net");
    checks.interim_interval = Some(600);
    let cdf = start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = "cdf.example.net".into();
        o.origin_realm = "example.net".into();
        o.store = format!("sqlite://{}", dir.path().join("acct.db").display());
        o.records = RecordsSink::File(dir.path().join("records.jsonl"));
        o.server = Some(checks);
        o
    })
    .await
    .expect("CDF starts");
    let tap = Tap::start(cdf.local_addrs()[0]).await;
    let mut erl = start_escript(
        &bin,
        "client",
        tap.addr.port(),
        ["erl.sbc.net", "sbc.net", "example.net"],
    );
    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "cdf.example.net");
    let mut acas = Vec::new();
    for step in ["S", "I", "P", "E"] {
        let line = erl
            .wait_line_async(&format!("ACA step={step} "), LIMIT)
            .await
            .unwrap_or_else(|| panic!("Erlang: ACA {step}\n{}", erl.output()));
        eprintln!("{TEST}: {line}");
        assert_eq!(field(&line, "result"), "2001", "{line}");
        assert_eq!(field(&line, "origin"), "cdf.example.net", "{line}");
        acas.push(line);
    }
    let kinds: Vec<(&str, &str)> = acas
        .iter()
        .map(|l| (field(l, "type"), field(l, "number")))
        .collect();
    assert_eq!(kinds, [("2", "0"), ("3", "1"), ("4", "2"), ("1", "0")]);
    // Our Acct-Interim-Interval in the answers to START and INTERIM only.
    let interims: Vec<&str> = acas.iter().map(|l| field(l, "interim")).collect();
    assert_eq!(interims, ["600", "600", "none", "none"]);
    assert!(
        erl.wait_line_async("DONE", LIMIT).await.is_some(),
        "Erlang: DPR/DPA\n{}",
        erl.output()
    );
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);

    let frames = tap.frames();
    let mut acrs = 0;
    for f in frames.iter().filter(|f| f.from_initiator) {
        if let Message::AccountingRequest(a) = check_peer_message("Erlang message", &f.bytes) {
            assert_eq!(
                a.user_name.as_ref().map(|u| u.as_str()),
                Some("alice@example.net")
            );
            acrs += 1;
        }
    }
    assert_eq!(acrs, 4);
    assert_tshark_clean(TEST, dir.path(), &frames);
    cdf.stop().await;

    let session = field(&acas[0], "session");
    let store = RecordStore::open(&dir.path().join("acct.db")).unwrap();
    assert_eq!(store.record_count().unwrap(), 4);
    let rec = store.session(session).unwrap().expect("session record");
    assert_eq!((rec.kind, rec.records), ("session", 3));
    let lines = std::fs::read_to_string(dir.path().join("records.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
}

/// Sends what the session wants sent and feeds the answers back.
async fn pump(node: &Node, s: &mut AcctSession, spool: &mut dyn Spool) -> Vec<AcctEvent> {
    let mut events = Vec::new();
    while let Some(out) = s.poll_output() {
        match out {
            Output::Send(req) => match tokio::time::timeout(LIMIT, send_acr(node, &req)).await {
                Ok(Ok(aca)) => s.on_aca(&aca, Instant::now()),
                other => {
                    eprintln!("ACR failed: {other:?}");
                    s.on_failure(Instant::now())
                }
            },
            Output::Store(acr) => assert!(spool.push(&acr).unwrap()),
            Output::Event(e) => events.push(e),
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_acct_client_against_erlang_server() {
    const TEST: &str = "our_acct_client_against_erlang_server";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-acct-server");
    let port = free_port();
    let mut erl = start_escript(&bin, "server", port, ["erl.cdf.net", "cdf.net", "sbc.net"]);
    assert!(
        erl.wait_line_async("LISTENING", LIMIT).await.is_some(),
        "Erlang server did not start\n{}",
        erl.output()
    );
    let tap = Tap::start(([127, 0, 0, 1], port).into()).await;
    let node = Node::builder()
        .origin_host("rust.sbc.net")
        .origin_realm("sbc.net")
        .acct_application(3)
        .peer(
            PeerConfig::new("erl.cdf.net", tap.addr).settings(quick_peer(Duration::from_secs(30))),
        )
        .build()
        .await
        .unwrap();
    assert!(node.wait_peer("erl.cdf.net", LIMIT).await, "CER/CEA");
    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "rust.sbc.net");

    let mut config = AcctConfig::new("rust.sbc.net", "sbc.net", "cdf.net");
    config.interim_interval = Some(Duration::from_millis(1));
    config.user_name = Some("bob@sbc.net".into());
    let mut spool = MemorySpool::new(8);
    let mut s = AcctSession::new(&node.new_session_id(), config.clone());
    s.start(Instant::now());
    assert_eq!(pump(&node, &mut s, &mut spool).await, [AcctEvent::Granted]);
    s.handle_timeout(Instant::now() + Duration::from_millis(5));
    pump(&node, &mut s, &mut spool).await;
    s.stop(Instant::now());
    assert_eq!(pump(&node, &mut s, &mut spool).await, [AcctEvent::Closed]);
    for (kind, number) in [("2", "0"), ("3", "1"), ("4", "2")] {
        let line = erl.wait_line_async("ACR ", LIMIT).await.expect("ACR");
        eprintln!("{TEST}: {line}");
        assert_eq!(field(&line, "session"), s.session_id());
        assert_eq!(
            (field(&line, "type"), field(&line, "number")),
            (kind, number)
        );
        assert_eq!(field(&line, "t"), "false");
        assert_eq!(field(&line, "dest"), "cdf.net");
    }

    // A record kept in local storage (an event no server took earlier): delivered with T.
    let stored = Acr {
        session_id: node.new_session_id().into(),
        origin_host: "rust.sbc.net".into(),
        origin_realm: "sbc.net".into(),
        destination_realm: "cdf.net".into(),
        accounting_record_type: Rt::EventRecord,
        acct_application_id: Some(3),
        ..Default::default()
    };
    assert!(spool.push(&stored).unwrap());
    let mut redo = Redelivery::new(None, LIMIT, Duration::from_secs(1));
    let req = redo
        .poll_send(&mut spool, Instant::now())
        .unwrap()
        .expect("stored record");
    let aca = send_acr(&node, &req).await.expect("ACA");
    redo.on_aca(&mut spool, &aca, Instant::now()).unwrap();
    assert!(spool.is_empty().unwrap());
    let line = erl
        .wait_line_async("ACR ", LIMIT)
        .await
        .expect("stored ACR");
    eprintln!("{TEST}: {line}");
    assert_eq!(field(&line, "type"), "1");
    assert_eq!(field(&line, "t"), "true", "OTP sees the T flag");

    node.stop_peer("erl.cdf.net", DisconnectCause::DoNotWantToTalkToYou)
        .await;
    assert!(erl.wait_line_async("DOWN", LIMIT).await.is_some(), "DOWN");
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);
    let frames = tap.frames();
    let mut acas = 0;
    for f in frames.iter().filter(|f| !f.from_initiator) {
        if let Message::AccountingAnswer(a) = check_peer_message("Erlang message", &f.bytes) {
            assert_eq!(a.result_code, 2001);
            acas += 1;
        }
    }
    assert_eq!(acas, 4, "four ACAs from Erlang");
    assert_tshark_clean(TEST, dir.path(), &frames);
    node.abort();
}
