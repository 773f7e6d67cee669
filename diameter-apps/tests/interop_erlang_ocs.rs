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
use diameter_apps::ocs::store::{IdKind, SubscriberId};
use diameter_apps::ocs::{start, ServeOptions};
use diameter_core::node::{Node, PeerConfig};
use interop::*;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Instant;

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
        .peer(PeerConfig::new("erl.ocs.net", tap.addr))
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
