//! Interop of the credit-control application (issue 5) with Erlang/OTP's `diameter`
//! application (Debian packages `erlang-base` and `erlang-diameter`). The Erlang peer is
//! `tests/interop/ocs_peer.escript` (at the repository root), which compiles the complete
//! RFC 4006 dictionary `tests/interop/ocs_rfc4006.dia` in memory and uses OTP's
//! `diameter_gen_base_rfc6733` for the base protocol.
//!
//! - `erlang_cc_client_against_our_ocs`: the Erlang credit-control client runs a Gy data
//!   session (CCR-INITIAL, CCR-UPDATE, CCR-TERMINATION with Multiple-Services-Credit-Control,
//!   Requested-/Used-Service-Unit and Subscription-Id) and a Ro SMS event (CCR-EVENT,
//!   DIRECT_DEBITING) against our OCS (`diameter_apps::ocs::start`, SQLite store in a temp
//!   dir). The escript prints the answers as OTP decoded them (2001, the granted units,
//!   Validity-Time); the test then checks the balance in our store.
//! - `erlang_cc_client_final_units_and_credit_limit`: the same run on a small balance: OTP
//!   decodes our Final-Unit-Indication (inside the MSCC of the CCR-U answer) and our 4012
//!   answer to the SMS event.
//! - `erlang_cc_client_gy_features`: the Erlang client (escript mode `features`) against
//!   our OCS built as a node whose charging clock is each CCR's Event-Timestamp: credit
//!   pools (G-S-U-Pool-Reference), tariff change (Tariff-Time-Change in a grant; a
//!   Used-Service-Unit split by Tariff-Change-Usage, each part priced at its band's
//!   price), a CCR-I without Multiple-Services-Indicator (units at command level), a
//!   CC-Money Requested-Service-Unit, an EVENT without Requested-Action (5005 with
//!   Failed-AVP), Cost-Information on a DIRECT_DEBITING event, and Final-Unit-Indication
//!   REDIRECT (Redirect-Server) and RESTRICT_ACCESS (Filter-Id) per tariff. The test
//!   asserts on what OTP decoded and on the balances in our store.
//! - `erlang_event_without_requested_action_from_a_lenient_peer`: the same run with the
//!   Erlang client in `lenient_requested_action_peers`: its EVENT without
//!   Requested-Action is debited as DIRECT_DEBITING.
//! - `our_cc_client_against_erlang_server`: our client state machine
//!   (`diameter_apps::ocs::client::CcSession`, sans-IO) driven over a `diameter_core` node
//!   runs a session and an event against the Erlang credit-control server, which prints
//!   every CCR it decoded and grants units.
//!
//! Connections go through the recording tap of `tests/interop/mod.rs`: every message the
//! Erlang peer sent must decode with our typed decoder and re-encode byte for byte, and
//! tshark must dissect every message of the exchange without malformed packets, expert
//! warnings or unknown AVPs (also in a live `tshark -i lo` capture when it is allowed).
//! The escript is killed by PID when its guard drops (also when a test fails). Without
//! `escript`/`erl` or OTP's diameter application, the tests print why and pass
//! (`REQUIRE_INTEROP=1` makes that a failure).

#[path = "../../tests/interop/mod.rs"]
mod interop;
mod ocs_common;

use diameter::core::base::DisconnectCause;
use diameter::core::fields::result_code;
use diameter::dict::base_rfc6733::TerminationCause;
use diameter::dict::dcca_rfc4006::*;
use diameter::dict::Message;
use diameter_apps::ocs::client::{CcSession, ClientConfig, ClientEvent, Output, ServiceKey, State};
use diameter_apps::ocs::rating::{Tariffs, UnitType, Units};
use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
use diameter_apps::ocs::store::{self, IdKind, NewAccount, Store, SubscriberId};
use diameter_apps::ocs::{start, ServeOptions};
use diameter_core::node::{typed, Node, PeerConfig};
use diameter_core::Command;
use interop::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

const MSISDN: &str = "491700000077";
const SMS_KEY: ServiceKey = ServiceKey {
    rating_group: None,
    service_identifier: Some(1),
};

/// `tests/interop/` at the repository root.
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
        .arg("halt(case code:lib_dir(diameter) of {error, _} -> 1; _ -> 0 end).")
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

fn start_escript(bin: &Path, mode: &str, port: u16, names: [&str; 3], arg: &str) -> Daemon {
    let dir = interop_dir();
    let mut cmd = Process::new(bin);
    cmd.arg(dir.join("ocs_peer.escript"))
        .arg(mode)
        .arg(dir.join("ocs_rfc4006.dia"))
        .arg(port.to_string())
        .args(names)
        .arg(arg);
    Daemon::spawn("escript ocs_peer.escript", cmd).expect("start escript")
}

/// Parses `key=value` from an escript output line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// Fails on anything OTP objected to (decode errors in answers or requests, errors).
fn assert_no_otp_complaints(erl: &Daemon) {
    let out = erl.output();
    for bad in ["ANSWER_DECODE_ERRORS", "CCR_ERRORS", "ERROR"] {
        assert!(!out.contains(bad), "the Erlang peer reports {bad}:\n{out}");
    }
}

/// The expert warning tshark gives any grouped AVP without members.
const EMPTY: &str = "[Expert Info (Warning/Undecoded): Data is empty]";

/// The tshark check of `tests/interop/mod.rs` (every message dissected as Diameter, no
/// malformed packet, no expert warning or error), plus: no AVP that tshark's dictionary
/// does not know. One warning is allowed: "Data is empty" on an empty
/// Requested-Service-Unit, which our client sends in a CCR-UPDATE to ask for units of the
/// server's choosing (RFC 4006 §8.18 makes every member optional; 3GPP Gy clients do the
/// same); tshark flags any grouped AVP without members.
fn tshark_strict(test: &str, dir: &Path, frames: &[Frame]) {
    let Some(tshark) = require("tshark", "tshark", test) else {
        return;
    };
    let pcap = dir.join(format!("{test}.pcap"));
    write_pcap(&pcap, frames);
    let mut ports: Vec<u16> = frames.iter().map(|f| f.acceptor.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let report = tshark_check(&tshark, &pcap, &ports);
    assert_eq!(
        report.diameter_pdus,
        frames.len(),
        "{test}: tshark dissected {} Diameter PDUs of {}\n{}",
        report.diameter_pdus,
        frames.len(),
        report.text
    );
    let empty_rsu = report
        .text
        .lines()
        .filter(|l| {
            l.trim()
                .starts_with("AVP: Requested-Service-Unit(437) l=8 ")
        })
        .count();
    let empty = report
        .problems
        .iter()
        .filter(|p| p.as_str() == EMPTY)
        .count();
    assert!(
        empty <= empty_rsu,
        "{test}: tshark: {empty} empty AVPs, {empty_rsu} of them empty Requested-Service-Units\n{}",
        report.text
    );
    let problems: Vec<&String> = report.problems.iter().filter(|p| *p != EMPTY).collect();
    assert!(
        problems.is_empty(),
        "{test}: tshark reports problems: {problems:#?}\n{}",
        report.text
    );
    let unknown: Vec<&str> = report
        .text
        .lines()
        .filter(|l| l.contains("Unknown AVP") || l.contains("Unknown-AVP"))
        .collect();
    assert!(unknown.is_empty(), "{test}: tshark: {unknown:#?}");
    eprintln!(
        "{test}: tshark dissected {} Diameter PDUs: no malformed packets, expert warnings or unknown AVPs ({empty} empty Requested-Service-Unit)",
        report.diameter_pdus
    );
}

// ---------------------------------------------------------------------------------------

/// What the Erlang client's run against our OCS left: the CCA lines it printed (steps I,
/// U, T, E), the account's (balance, reserved) afterwards, and the recorded messages.
struct ClientRun {
    ccas: Vec<String>,
    money: (i64, i64),
    frames: Vec<Frame>,
}

/// Starts our OCS (SQLite in a temp dir) with one account of `balance` minor units, runs
/// the Erlang credit-control client against it through a tap, and checks what every run
/// must show: CER/CEA, four CCAs from us that OTP decoded without complaint (with its
/// complete RFC 4006 dictionary and strict M-bit checks), DPR/DPA, every Erlang message
/// decoding with our typed decoder byte for byte, and tshark clean. `None` when skipped.
async fn erlang_client_run(test: &str, balance: i64) -> Option<ClientRun> {
    let bin = escript(test)?;
    let dir = temp_dir("erl-ocs-client");
    let accounts = dir.path().join("accounts.toml");
    write_file(
        &accounts,
        &format!(
            "currency = 978\n[[account]]\nname = \"erl\"\nids = [\"e164:{MSISDN}\"]\nbalance = {balance}\n"
        ),
    );
    let ocs = start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = "ocs.example.net".into();
        o.origin_realm = "example.net".into();
        o.store = format!("sqlite://{}", dir.path().join("ocs.db").display());
        o.accounts = Some(accounts);
        o.tariffs = Tariffs::parse(ocs_common::ccr::TARIFFS).unwrap();
        o
    })
    .await
    .expect("OCS starts");
    let store = ocs.server.store().clone();
    let who = SubscriberId::new(IdKind::E164, MSISDN);
    let money = move || {
        let a = store.find_account(&who).unwrap().expect("account");
        (a.balance, a.reserved)
    };
    assert_eq!(money(), (balance, 0));

    let tap = Tap::start(ocs.local_addrs()[0]).await;
    let live = LiveCapture::start(test, dir.path(), &[tap.addr.port()]);
    let mut erl = start_escript(
        &bin,
        "client",
        tap.addr.port(),
        ["erl.pcef.net", "pcef.net", "example.net"],
        MSISDN,
    );
    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "ocs.example.net");
    let mut ccas = Vec::new();
    for step in ["I", "U", "T", "E"] {
        let line = erl
            .wait_line_async(&format!("CCA step={step} "), LIMIT)
            .await
            .unwrap_or_else(|| panic!("Erlang: CCA {step}\n{}", erl.output()));
        eprintln!("{test}: {line}");
        assert_eq!(field(&line, "origin"), "ocs.example.net", "{line}");
        ccas.push(line);
    }
    let (i, u, t, e) = (&ccas[0], &ccas[1], &ccas[2], &ccas[3]);
    assert_eq!((field(i, "type"), field(i, "number")), ("1", "0"));
    assert_eq!((field(u, "type"), field(u, "number")), ("2", "1"));
    assert_eq!((field(t, "type"), field(t, "number")), ("3", "2"));
    assert_eq!((field(e, "type"), field(e, "number")), ("4", "0"));
    assert_eq!(field(i, "session"), field(t, "session"));
    assert_ne!(field(i, "session"), field(e, "session"));
    assert!(
        erl.wait_line_async("DONE", LIMIT).await.is_some(),
        "Erlang: DPR/DPA\n{}",
        erl.output()
    );
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);

    let frames = tap.frames();
    for f in &frames {
        let label = if f.from_initiator { "Erlang" } else { "ours" };
        check_peer_message(label, &f.bytes);
    }
    tshark_strict(test, dir.path(), &frames);
    if let Some(l) = live {
        l.finish_and_check(test, frames.len());
    }
    let money = money();
    ocs.stop().await;
    Some(ClientRun {
        ccas,
        money,
        frames,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_cc_client_against_our_ocs() {
    let Some(run) = erlang_client_run("erlang_cc_client_against_our_ocs", 1000).await else {
        return;
    };
    // The answers as OTP decoded them. Tariff "data" (rating group 100): 10 minor units
    // per 1 000 000 octets; "sms" (32274@3gpp.org, Service-Identifier 1): 9 per SMS.
    let (i, u, t, e) = (&run.ccas[0], &run.ccas[1], &run.ccas[2], &run.ccas[3]);
    for l in &run.ccas {
        assert_eq!(field(l, "result"), "2001", "{l}");
    }
    // Granted what was asked, with the OCS's Validity-Time (1800 s), no final units.
    assert_eq!(field(i, "mscc"), "rg100:2001:tot=2000000:vt=1800:fui=none");
    assert_eq!(field(u, "mscc"), "rg100:2001:tot=2000000:vt=1800:fui=none");
    // CCR-T: usage reported, nothing asked for: MSCC 2001 without a grant.
    assert_eq!(field(t, "mscc"), "rg100:2001:nogsu:vt=none:fui=none");
    // The SMS: one service-specific unit, debited at once.
    assert_eq!(field(e, "mscc"), "si1:2001:ssu=1:vt=none:fui=none");
    // The store: CCR-U debited 1 MB (10), CCR-T 2 MB (20) and released the rest of the
    // reservation, the SMS 9.
    assert_eq!(run.money, (1000 - 10 - 20 - 9, 0));

    // The CCRs as our typed decoder read them.
    let ccrs: Vec<Ccr> = run
        .frames
        .iter()
        .filter(|f| f.from_initiator)
        .filter_map(|f| match check_peer_message("Erlang message", &f.bytes) {
            Message::CreditControlRequest(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(ccrs.len(), 4, "four CCRs");
    assert_eq!(
        ccrs[0].subscription_id[0].subscription_id_data.as_str(),
        MSISDN
    );
    assert_eq!(
        ccrs[1].multiple_services_credit_control[0].used_service_unit[0].cc_total_octets,
        Some(1_000_000)
    );
    assert_eq!(
        ccrs[2].termination_cause,
        Some(TerminationCause::DiameterLogout)
    );
    assert_eq!(
        ccrs[3].requested_action,
        Some(RequestedAction::DirectDebiting)
    );
    for f in run.frames.iter().filter(|f| !f.from_initiator) {
        assert_eq!(result_code(&f.raw()), Some(2001), "our answer {}", f.code());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_cc_client_final_units_and_credit_limit() {
    // 35 minor units: the CCR-U grant is the last one the balance allows (our CCA carries
    // Final-Unit-Indication TERMINATE inside the MSCC), and after the session the SMS
    // cannot be paid (4012 DIAMETER_CREDIT_LIMIT_REACHED): OTP decodes both.
    let Some(run) = erlang_client_run("erlang_cc_client_final_units_and_credit_limit", 35).await
    else {
        return;
    };
    let (i, u, t, e) = (&run.ccas[0], &run.ccas[1], &run.ccas[2], &run.ccas[3]);
    assert_eq!(field(i, "result"), "2001");
    assert_eq!(field(i, "mscc"), "rg100:2001:tot=2000000:vt=1800:fui=none");
    assert_eq!(field(u, "result"), "2001");
    assert_eq!(field(u, "mscc"), "rg100:2001:tot=2000000:vt=1800:fui=0");
    assert_eq!(field(t, "result"), "2001");
    assert_eq!(field(e, "result"), "4012", "{e}");
    assert_eq!(field(e, "mscc"), "si1:4012:nogsu:vt=none:fui=none");
    assert_eq!(run.money, (35 - 10 - 20, 0));
}

// ---------------------------------------------------------------------------------------

/// Sends what the session wants sent over `node` and feeds the answers back, until it
/// wants nothing more (bounded). Returns the events for the service element.
async fn drive(node: &Node, s: &mut CcSession) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    for _ in 0..10 {
        let mut sent = false;
        for _ in 0..100 {
            match s.poll_output() {
                None => break,
                Some(Output::Event(e)) => events.push(e),
                Some(Output::Send(req)) => {
                    sent = true;
                    assert!(!req.retransmit, "no failover in this test");
                    let answer =
                        tokio::time::timeout(LIMIT, node.send::<Ccr, Cca>(&req.ccr, 4)).await;
                    match answer {
                        Ok(Ok(cca)) => s.on_cca(&cca, Instant::now()),
                        other => {
                            eprintln!("CCR failed: {other:?}");
                            s.on_failure(Instant::now())
                        }
                    }
                }
            }
        }
        if !sent {
            break;
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_cc_client_against_erlang_server() {
    const TEST: &str = "our_cc_client_against_erlang_server";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-ocs-server");
    let port = free_port();
    let mut erl = start_escript(
        &bin,
        "server",
        port,
        ["erl.ocs.net", "ocs.net", "pgw.net"],
        "500000",
    );
    assert!(
        erl.wait_line_async("LISTENING", LIMIT).await.is_some(),
        "Erlang server did not start\n{}",
        erl.output()
    );
    let tap = Tap::start(([127, 0, 0, 1], port).into()).await;
    let live = LiveCapture::start(TEST, dir.path(), &[tap.addr.port()]);
    let node = Node::builder()
        .origin_host("rust.pgw.net")
        .origin_realm("pgw.net")
        .auth_application(4)
        .peer(
            PeerConfig::new("erl.ocs.net", tap.addr).settings(quick_peer(Duration::from_secs(30))),
        )
        .build()
        .await
        .unwrap();
    assert!(node.wait_peer("erl.ocs.net", LIMIT).await, "CER/CEA");
    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "rust.pgw.net");

    let mut config = ClientConfig::new("rust.pgw.net", "pgw.net", "ocs.net", ocs_common::ccr::GY);
    // OTP's credit-control dictionary is RFC 4006's: it answers the 3GPP Reporting-Reason
    // (M bit set) with 5001, as any RFC 4006-only server would.
    config.reporting_reasons = false;
    config.subscription_id = vec![ocs_common::ccr::msisdn(MSISDN)];
    let data = ServiceKey::rating_group(100);
    let t0 = Instant::now();

    // CCR-I: ask for 1 MB; the Erlang server grants 500 000 octets.
    let mut s = CcSession::new(&node.new_session_id(), config.clone());
    s.start(
        &[(data, Some(Units::only(UnitType::TotalOctets, 1_000_000)))],
        t0,
    );
    let ev = drive(&node, &mut s).await;
    assert!(ev.contains(&ClientEvent::GrantService), "{ev:?}");
    assert!(
        ev.contains(&ClientEvent::Granted {
            service: data,
            units: Units::only(UnitType::TotalOctets, 500_000),
            final_units: false,
        }),
        "{ev:?}"
    );
    assert_eq!(s.state(), State::Open);
    let line = erl.wait_line_async("CCR ", LIMIT).await.expect("CCR-I");
    eprintln!("{TEST}: {line}");
    assert_eq!(field(&line, "session"), s.session_id());
    assert_eq!((field(&line, "type"), field(&line, "number")), ("1", "0"));
    assert_eq!(field(&line, "service"), ocs_common::ccr::GY);
    assert_eq!(field(&line, "origin"), "rust.pgw.net");
    assert_eq!(field(&line, "dest"), "ocs.net");
    assert_eq!(field(&line, "subs"), format!("0:{MSISDN}"));
    assert_eq!(field(&line, "mscc"), "rg100:rsu=tot=1000000:usu=none");

    // Using the whole grant sends CCR-U by itself, with the usage; a new grant comes back.
    s.report_usage(data, Units::only(UnitType::TotalOctets, 500_000), t0);
    let ev = drive(&node, &mut s).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Granted { service, .. } if *service == data)),
        "{ev:?}"
    );
    assert_eq!(s.state(), State::Open);
    let line = erl.wait_line_async("CCR ", LIMIT).await.expect("CCR-U");
    eprintln!("{TEST}: {line}");
    assert_eq!((field(&line, "type"), field(&line, "number")), ("2", "1"));
    assert_eq!(field(&line, "mscc"), "rg100:rsu=empty:usu=tot=500000");

    // CCR-T with the last usage.
    s.report_usage(data, Units::only(UnitType::TotalOctets, 123_456), t0);
    s.terminate(TerminationCause::DiameterLogout, t0);
    let ev = drive(&node, &mut s).await;
    assert!(ev.contains(&ClientEvent::Closed), "{ev:?}");
    assert_eq!(s.state(), State::Idle);
    let line = erl.wait_line_async("CCR ", LIMIT).await.expect("CCR-T");
    eprintln!("{TEST}: {line}");
    assert_eq!((field(&line, "type"), field(&line, "number")), ("3", "2"));
    assert_eq!(field(&line, "term"), "1"); // DIAMETER_LOGOUT
    assert_eq!(field(&line, "mscc"), "rg100:rsu=none:usu=tot=123456");

    // An event: one SMS, direct debiting.
    let mut sms = config.clone();
    sms.service_context_id = ocs_common::ccr::SMS.into();
    let mut e = CcSession::new(&node.new_session_id(), sms);
    e.event(
        RequestedAction::DirectDebiting,
        &[(SMS_KEY, Some(Units::only(UnitType::ServiceSpecific, 1)))],
        t0,
    );
    let ev = drive(&node, &mut e).await;
    assert!(ev.contains(&ClientEvent::GrantService), "{ev:?}");
    let answer = ev
        .iter()
        .find_map(|e| match e {
            ClientEvent::EventAnswer(a) => Some(a.clone()),
            _ => None,
        })
        .expect("EventAnswer");
    assert_eq!(answer.result_code, 2001);
    let gsu = answer.multiple_services_credit_control[0]
        .granted_service_unit
        .as_ref()
        .expect("GSU");
    assert_eq!(gsu.cc_service_specific_units, Some(1));
    assert_eq!(e.state(), State::Idle);
    let line = erl.wait_line_async("CCR ", LIMIT).await.expect("CCR-E");
    eprintln!("{TEST}: {line}");
    assert_eq!((field(&line, "type"), field(&line, "number")), ("4", "0"));
    assert_eq!(field(&line, "action"), "0"); // DIRECT_DEBITING
    assert_eq!(field(&line, "service"), ocs_common::ccr::SMS);
    assert_eq!(field(&line, "mscc"), "si1:rsu=ssu=1:usu=none");

    // DPR/DPA.
    node.stop_peer("erl.ocs.net", DisconnectCause::DoNotWantToTalkToYou)
        .await;
    let down = erl
        .wait_line_async("DOWN", LIMIT)
        .await
        .expect("Erlang: DOWN");
    assert_eq!(field(&down, "peer"), "rust.pgw.net");
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);

    let frames = tap.frames();
    let mut ccas = 0;
    for f in frames.iter().filter(|f| !f.from_initiator) {
        if let Message::CreditControlAnswer(c) = check_peer_message("Erlang message", &f.bytes) {
            assert_eq!(c.result_code, 2001);
            assert_eq!(c.origin_host.as_str(), "erl.ocs.net");
            ccas += 1;
        }
    }
    assert_eq!(ccas, 4, "four CCAs from Erlang");
    tshark_strict(TEST, dir.path(), &frames);
    if let Some(l) = live {
        // The empty Requested-Service-Unit of our CCR-U (see tshark_strict).
        l.finish_and_check_allowing(TEST, frames.len(), &[EMPTY]);
    }
    node.abort();
}

// ---------------------------------------------------------------------------------------

/// The tariffs of the features run: data with a credit pool and a REDIRECT final unit,
/// voice with time bands (5 per minute from 08:00, 1 from 20:00) and a RESTRICT_ACCESS
/// final unit, SMS.
const FEATURE_TARIFFS: &str = r#"
currency = 978
exponent = 2
[[tariff]]
name = "data"
rating_group = 100
unit = "total_octets"
block = 1000000
price = 10
default_quota = 5000000
pool = { id = 1, multiplier = "0.000001" }
[tariff.final_unit]
action = "redirect"
redirect_address = "https://topup.example.net/"
[[tariff]]
name = "voice"
rating_group = 200
unit = "time"
block = 60
price = 5
default_quota = 300
pool = { id = 1, multiplier = "0.01" }
bands = [{ start = "08:00", price = 5 }, { start = "20:00", price = 1 }]
[tariff.final_unit]
action = "restrict_access"
filter_id = ["zero-rated"]
[[tariff]]
name = "sms"
service_context_id = "32274@3gpp.org"
service_identifier = 1
unit = "service_specific"
block = 1
price = 9
default_quota = 1
"#;

/// The escript's ?WALL0: 2022-01-08 19:55:00 UTC.
const WALL0: i64 = 19_000 * 86_400 + 19 * 3600 + 55 * 60;

/// Our OCS as a node whose charging clock is each CCR's Event-Timestamp (the Erlang client
/// sets it), with validity time 600 s, over the store `store`; `lenient` names the peers
/// whose EVENTs without Requested-Action are read as DIRECT_DEBITING.
async fn clocked_ocs(store: Arc<dyn Store>, lenient: &[&str]) -> (Node, Arc<ChargingServer>) {
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.validity_time = 600;
    cfg.lenient_requested_action_peers = lenient.iter().map(|h| h.to_string()).collect();
    let server = Arc::new(ChargingServer::new(
        store,
        Tariffs::parse(FEATURE_TARIFFS).unwrap(),
        cfg,
    ));
    let srv = server.clone();
    let node = Node::builder()
        .origin_host("ocs.example.net")
        .origin_realm("example.net")
        .listen("127.0.0.1:0".parse().unwrap())
        .auth_application(4)
        .handler(
            4,
            <Ccr as Command>::CODE,
            typed(move |ccr: Ccr| {
                let srv = srv.clone();
                async move {
                    let secs = ccr.event_timestamp.map_or(WALL0, |t| t.unix_seconds());
                    let now = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
                    tokio::task::spawn_blocking(move || srv.handle_ccr(ccr, now))
                        .await
                        .expect("rating task")
                }
            }),
        )
        .build()
        .await
        .expect("OCS node");
    (node, server)
}

/// What the Erlang client's features run left: its "FEAT" lines by step, the (balance,
/// reserved) of users "1", "2", "3" afterwards, and the CCRs as our typed decoder read them.
struct FeatureRun {
    lines: HashMap<&'static str, String>,
    money: [(i64, i64); 3],
    ccrs: Vec<Ccr>,
}

impl FeatureRun {
    fn line(&self, step: &str) -> &str {
        &self.lines[step]
    }
}

/// Runs the escript's `features` mode against [`clocked_ocs`] through a tap (our OCS
/// lenient towards the Erlang client when `lenient`), with the checks every run must pass:
/// every answer decoded by OTP without complaint, every Erlang message re-encoding byte
/// for byte, tshark clean. `None` when skipped.
async fn features_run(test: &str, lenient: bool) -> Option<FeatureRun> {
    const TEST_HOST: &str = "erl.pcef.net";
    let bin = escript(test)?;
    let dir = temp_dir("erl-ocs-features");
    let store = store::open(&format!("sqlite://{}", dir.path().join("ocs.db").display())).unwrap();
    // "1" is rich; "2" can pay one block of data (10), "3" one minute of voice (5).
    for (user, balance) in [("1", 1000), ("2", 15), ("3", 7)] {
        store
            .add_account(&NewAccount::new(
                vec![SubscriberId::new(IdKind::E164, format!("{MSISDN}{user}"))],
                balance,
                978,
            ))
            .unwrap();
    }
    let (ocs, server) = clocked_ocs(store, if lenient { &[TEST_HOST] } else { &[] }).await;
    let money = |user: &str| {
        let who = SubscriberId::new(IdKind::E164, format!("{MSISDN}{user}"));
        let a = server.store().find_account(&who).unwrap().expect("account");
        (a.balance, a.reserved)
    };
    let tap = Tap::start(ocs.local_addrs()[0]).await;
    let live = LiveCapture::start(test, dir.path(), &[tap.addr.port()]);
    let mut erl = start_escript(
        &bin,
        "features",
        tap.addr.port(),
        [TEST_HOST, "pcef.net", "example.net"],
        MSISDN,
    );
    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "ocs.example.net");
    let mut lines = HashMap::new();
    for step in [
        "P", "S", "T", "N", "NT", "M", "MT", "A", "C", "R", "RT", "X", "XT",
    ] {
        let line = erl
            .wait_line_async(&format!("FEAT step={step} "), LIMIT)
            .await
            .unwrap_or_else(|| panic!("Erlang: FEAT {step}\n{}", erl.output()));
        eprintln!("{test}: {line}");
        lines.insert(step, line);
    }
    assert!(
        erl.wait_line_async("DONE", LIMIT).await.is_some(),
        "Erlang: DPR/DPA\n{}",
        erl.output()
    );
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);
    let frames = tap.frames();
    for f in &frames {
        let label = if f.from_initiator { "Erlang" } else { "ours" };
        check_peer_message(label, &f.bytes);
    }
    let ccrs: Vec<Ccr> = frames
        .iter()
        .filter(|f| f.from_initiator)
        .filter_map(|f| match check_peer_message("Erlang message", &f.bytes) {
            Message::CreditControlRequest(c) => Some(c),
            _ => None,
        })
        .collect();
    tshark_strict(test, dir.path(), &frames);
    if let Some(l) = live {
        l.finish_and_check(test, frames.len());
    }
    let money = [money("1"), money("2"), money("3")];
    ocs.abort();
    Some(FeatureRun { lines, money, ccrs })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_cc_client_gy_features() {
    let Some(run) = features_run("erlang_cc_client_gy_features", false).await else {
        return;
    };
    let line = |step: &str| run.line(step);
    for step in [
        "P", "S", "T", "N", "NT", "M", "MT", "C", "R", "RT", "X", "XT",
    ] {
        assert_eq!(field(line(step), "result"), "2001", "{}", line(step));
    }
    // P: both grants carry the pool reference (G-S-U-Pool-Identifier 1; CC-Unit-Type
    // TOTAL-OCTETS (2) at 10^-6 pool units per octet, TIME (0) at 10^-2 per second); the
    // voice grant's 600 s life crosses 20:00, so it carries Tariff-Time-Change.
    let change = WALL0 + 5 * 60;
    assert_eq!(
        field(line("P"), "mscc"),
        format!(
            "rg100:2001:tot=2000000:pool=1/2/1e-6:fui=none,\
             rg200:2001:time=300+ttc={change}:pool=1/0/1e-2:fui=none"
        )
    );
    // S: the usage is accepted (priced below, in the balance); nothing more asked for.
    assert_eq!(
        field(line("S"), "mscc"),
        "rg100:2001:none:pool=none:fui=none,rg200:2001:none:pool=none:fui=none"
    );
    // N: without Multiple-Services-Indicator the units come at command level, no MSCC.
    assert_eq!(field(line("N"), "gsu"), "tot=1000000");
    assert_eq!(field(line("N"), "mscc"), "none");
    // M: 0.30 EUR buys three 1 MB blocks; the grant says what they cost.
    assert_eq!(
        field(line("M"), "mscc"),
        "rg100:2001:tot=3000000+money=30e-2/978:pool=1/2/1e-6:fui=none"
    );
    // A: an EVENT without Requested-Action: 5005 DIAMETER_MISSING_AVP, Failed-AVP naming
    // Requested-Action (436).
    assert_eq!(field(line("A"), "result"), "5005");
    assert_eq!(field(line("A"), "failed"), "436");
    // C: the SMS's cost, 0.09 EUR (978).
    assert_eq!(field(line("C"), "cost"), "9e-2/978");
    assert_eq!(
        field(line("C"), "mscc"),
        "si1:2001:ssu=1:pool=none:fui=none"
    );
    // R: 15 cents buy one block of data, the last: REDIRECT (1) to the top-up URL
    // (Redirect-Address-Type URL, 2).
    assert_eq!(
        field(line("R"), "mscc"),
        "rg100:2001:tot=1000000:pool=1/2/1e-6:\
         fui=1/redirect=2/https://topup.example.net//filter=/rule="
    );
    // X: 7 cents buy one minute of voice, the last: RESTRICT_ACCESS (2) with Filter-Id.
    assert_eq!(
        field(line("X"), "mscc"),
        format!(
            "rg200:2001:time=60+ttc={change}:pool=1/0/1e-2:\
             fui=2/redirect=none/filter=zero-rated/rule="
        )
    );
    // The balances: "1" paid 1 MB of data (10), 240 s of voice before 20:00 at 5 per
    // started minute (20) and 120 s after at 1 (2), and the SMS (9); the event without
    // Requested-Action nothing. Every reservation was released by the CCR-Ts.
    assert_eq!(run.money[0], (1000 - 10 - 20 - 2 - 9, 0));
    assert_eq!(run.money[1], (15, 0));
    assert_eq!(run.money[2], (7, 0));

    // The CCRs as our typed decoder read them: the split usage, the CCR-I without
    // Multiple-Services-Indicator, the event without Requested-Action.
    assert_eq!(run.ccrs.len(), 13, "thirteen CCRs");
    let split: Vec<_> = run.ccrs[1].multiple_services_credit_control[1]
        .used_service_unit
        .iter()
        .map(|u| (u.tariff_change_usage, u.cc_time))
        .collect();
    assert_eq!(
        split,
        vec![
            (Some(TariffChangeUsage::UnitBeforeTariffChange), Some(240)),
            (Some(TariffChangeUsage::UnitAfterTariffChange), Some(120)),
        ]
    );
    assert_eq!(run.ccrs[3].multiple_services_indicator, None);
    assert_eq!(run.ccrs[7].cc_request_type, CcRequestType::EventRequest);
    assert_eq!(run.ccrs[7].requested_action, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_event_without_requested_action_from_a_lenient_peer() {
    // The same run with the Erlang client named in `lenient_requested_action_peers`: its
    // EVENT without Requested-Action is a direct debit like step C (2001, its cost, 9 more
    // debited).
    let Some(run) = features_run(
        "erlang_event_without_requested_action_from_a_lenient_peer",
        true,
    )
    .await
    else {
        return;
    };
    assert_eq!(run.ccrs[7].requested_action, None);
    for step in ["A", "C"] {
        let line = run.line(step);
        assert_eq!(field(line, "result"), "2001", "{line}");
        assert_eq!(field(line, "failed"), "none", "{line}");
        assert_eq!(field(line, "cost"), "9e-2/978", "{line}");
        assert_eq!(field(line, "mscc"), "si1:2001:ssu=1:pool=none:fui=none");
    }
    assert_eq!(run.money[0], (1000 - 10 - 20 - 2 - 9 - 9, 0));
}
