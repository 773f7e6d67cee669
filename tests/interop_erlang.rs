//! Interop with Erlang/OTP's `diameter` application (Debian packages `erlang-base` and
//! `erlang-diameter`): each test runs `tests/interop/peer.escript` with `escript`, which
//! uses OTP's `diameter_gen_base_rfc6733` for the base protocol and compiles the
//! credit-control dictionary `tests/interop/cc_rfc4006.dia` in memory.
//!
//! - `erlang_client_against_our_server`: the Erlang peer connects to our server:
//!   CER/CEA, a CCR-INITIAL answered by our typed handler (the Erlang side prints the CCA
//!   it decoded), a CCR with an unknown M-bit AVP answered by our 5001 (OTP must read
//!   that answer without complaint), its DWRs answered by
//!   our DWAs, and its DPR (remove_transport) answered by our DPA.
//! - `our_client_against_erlang_server`: our client connects to the Erlang peer:
//!   CER/CEA, a typed CCR from us (the Erlang side prints what it decoded) answered with a
//!   CCA we decode, our DWRs answered by its DWAs, and our DPR answered by its DPA.
//!
//! As in `tests/interop_freediameter.rs`, connections go through a recording tap: every
//! message the Erlang peer sent must decode with our typed decoder and re-encode byte for
//! byte, the exchange must pass tshark, and `INTEROP_UPDATE_FIXTURES=1` saves the messages
//! as `tests/fixtures/erlang_*.hex`. The escript is killed by PID if the test fails.

mod interop;

use diameter::core::base::DisconnectCause;
use diameter::core::fields::result_code;
use diameter::core::node::{Node, NodeEvent, PeerConfig};
use diameter::core::peer::DownReason;
use diameter::core::Command;
use diameter::dict::dcca_rfc4006::*;
use diameter::dict::Message;
use interop::*;
use std::path::PathBuf;
use std::process::Command as Process;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OTP: &str = "Erlang/OTP 25 diameter 2.2.7 (Debian erlang-diameter 1:25.2.3)";

/// `escript`, if Erlang and its diameter application are installed.
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

fn start_escript(
    bin: &PathBuf,
    mode: &str,
    port: u16,
    host: &str,
    realm: &str,
    dest_realm: &str,
    tw_ms: u32,
) -> Daemon {
    let dir = root().join("tests/interop");
    let mut cmd = Process::new(bin);
    cmd.arg(dir.join("peer.escript"))
        .arg(mode)
        .arg(dir.join("cc_rfc4006.dia"))
        .arg(port.to_string())
        .args([host, realm, dest_realm])
        .arg(tw_ms.to_string());
    Daemon::spawn("escript peer.escript", cmd).expect("start escript")
}

/// Parses `key=value` from an escript output line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

async fn wait_down(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    host: &str,
) -> Option<DownReason> {
    tokio::time::timeout(LIMIT, async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::PeerDown { host: h, reason }) if h == host => return Some(reason),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

fn check_cer_cea_common(label: &str, host: &str, m: &Message) {
    let (origin, realm, vendor, product, ips, apps, fw) = match m {
        Message::CapabilitiesExchangeRequest(c) => (
            &c.origin_host,
            &c.origin_realm,
            c.vendor_id,
            &c.product_name,
            &c.host_ip_address,
            &c.auth_application_id,
            c.firmware_revision,
        ),
        Message::CapabilitiesExchangeAnswer(c) => {
            assert_eq!(c.result_code, 2001, "{label}");
            (
                &c.origin_host,
                &c.origin_realm,
                c.vendor_id,
                &c.product_name,
                &c.host_ip_address,
                &c.auth_application_id,
                c.firmware_revision,
            )
        }
        other => panic!("{label}: not CER/CEA: {other:?}"),
    };
    assert_eq!(origin.as_str(), host, "{label}");
    assert!(realm.as_str().ends_with(".net"), "{label}");
    assert_eq!(vendor, 193, "{label}: Vendor-Id");
    assert_eq!(product.as_str(), "OTP/diameter", "{label}");
    assert_eq!(
        ips,
        &[diameter::core::Address::V4([127, 0, 0, 1].into())],
        "{label}"
    );
    assert_eq!(apps, &[4], "{label}: Auth-Application-Id");
    assert_eq!(fw, Some(1), "{label}: Firmware-Revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_client_against_our_server() {
    const TEST: &str = "erlang_client_against_our_server";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-client");
    let received: Arc<Mutex<Vec<Ccr>>> = Arc::default();
    let rx = received.clone();
    // Our Tw is longer than the Erlang peer's (1 s), so that it sends DWR.
    let server = Node::builder()
        .origin_host("rust.server.net")
        .origin_realm("server.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(quick_peer(Duration::from_secs(30)))
        .typed_handler(move |req: Ccr| {
            rx.lock().unwrap().push(req.clone());
            std::future::ready(Cca {
                session_id: req.session_id,
                result_code: 2001,
                origin_host: "rust.server.net".into(),
                origin_realm: "server.net".into(),
                auth_application_id: 4,
                cc_request_type: req.cc_request_type,
                cc_request_number: req.cc_request_number,
                granted_service_unit: Some(
                    GrantedServiceUnit {
                        cc_time: Some(600),
                        ..Default::default()
                    }
                    .into(), // boxed or not, depending on the generator's layout
                ),
                multiple_services_credit_control: vec![MultipleServicesCreditControl {
                    granted_service_unit: Some(
                        GrantedServiceUnit {
                            cc_time: Some(300),
                            cc_total_octets: Some(500_000),
                            ..Default::default()
                        }
                        .into(),
                    ),
                    rating_group: Some(10),
                    result_code: Some(2001),
                    validity_time: Some(3600),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            })
        })
        .build()
        .await
        .unwrap();
    let mut events = server.subscribe();
    let tap = Tap::start(server.local_addrs()[0]).await;
    let live = LiveCapture::start(TEST, dir.path(), &[tap.addr.port()]);
    let mut erl = start_escript(
        &bin,
        "client",
        tap.addr.port(),
        "erl.client.net",
        "client.net",
        "server.net",
        1000,
    );

    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "rust.server.net");
    assert!(server.is_peer_available("erl.client.net"));
    let cca = erl
        .wait_line_async("CCA ", LIMIT)
        .await
        .expect("Erlang: CCA");
    assert_eq!(field(&cca, "result"), "2001");
    assert_eq!(field(&cca, "type"), "1");
    assert_eq!(field(&cca, "number"), "0");
    assert_eq!(field(&cca, "origin"), "rust.server.net");
    assert_eq!(field(&cca, "gsu_time"), "600");
    assert_eq!(field(&cca, "mscc"), "rg10:2001:300");

    // A CCR with an unknown AVP with the M bit: our 5001 answer as OTP read it. 5001 is a
    // permanent failure, not a protocol error, so the answer is a CCA without the E bit.
    let err = erl
        .wait_line_async("ERRANSWER ", LIMIT)
        .await
        .expect("Erlang: error answer");
    assert_eq!(field(&err, "name"), "CCA");
    assert_eq!(field(&err, "result"), "5001");
    assert_eq!(field(&err, "origin"), "rust.server.net");
    // OTP's decoder must find nothing to object to in that answer: Failed-AVP carries the
    // padded AVP (RFC 6733 §4.4) and the AVPs the CCA grammar requires are copied from the
    // request (Auth-Application-Id, CC-Request-Type, CC-Request-Number).
    let complaints: Vec<String> = erl
        .output()
        .lines()
        .find_map(|l| l.strip_prefix("ANSWER_DECODE_ERRORS "))
        .map(|e| {
            e.trim_matches(|c| c == '[' || c == ']')
                .split("},")
                .filter(|s| !s.is_empty())
                .map(|s| format!("{}}}", s.trim_end_matches('}')))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        complaints.is_empty(),
        "OTP reports problems in our 5001 answer: {complaints:?}"
    );
    assert_eq!(field(&err, "failed_avp"), "99999");

    // The CCR as our typed handler saw it.
    let ccr = received
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("CCR at our server");
    assert_eq!(ccr.origin_host.as_str(), "erl.client.net");
    assert_eq!(ccr.destination_realm.as_str(), "server.net");
    assert_eq!(ccr.service_context_id.as_str(), "32251@3gpp.org");
    assert_eq!(ccr.cc_request_type, CcRequestType::InitialRequest);
    assert_eq!(ccr.subscription_id.len(), 2);
    assert_eq!(
        ccr.subscription_id[0].subscription_id_type,
        SubscriptionIdType::EndUserE164
    );
    assert_eq!(
        ccr.subscription_id[0].subscription_id_data.as_str(),
        "491701234567"
    );
    assert_eq!(
        ccr.subscription_id[1].subscription_id_type,
        SubscriptionIdType::EndUserImsi
    );
    assert_eq!(
        ccr.event_timestamp.map(|t| t.unix_seconds()),
        Some(1_714_564_800) // 2024-05-01T12:00:00Z
    );
    let mscc = &ccr.multiple_services_credit_control[0];
    assert_eq!(mscc.rating_group, Some(10));
    assert_eq!(
        mscc.requested_service_unit
            .as_ref()
            .and_then(|r| r.cc_total_octets),
        Some(1_000_000)
    );

    // Its watchdog, then its DPR (remove_transport).
    assert!(erl.wait_line_async("WATCHDOG", LIMIT).await.is_some());
    let reason = wait_down(&mut events, "erl.client.net")
        .await
        .expect("peer down");
    assert_eq!(
        reason,
        DownReason::PeerDisconnected(DisconnectCause::DoNotWantToTalkToYou),
        "OTP sends DPR with DO_NOT_WANT_TO_TALK_TO_YOU on remove_transport"
    );
    assert!(
        erl.wait_line_async("DONE", LIMIT).await.is_some(),
        "Erlang: DPA"
    );
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");

    let frames = tap.frames();
    let from_erl = |code: u32, req: bool| {
        frames
            .iter()
            .find(|f| f.from_initiator && f.code() == code && f.is_request() == req)
            .cloned()
            .unwrap_or_else(|| panic!("no {code} {req} from Erlang"))
    };
    let (cer, dwr, ccr_f, dpr) = (
        from_erl(257, true),
        from_erl(280, true),
        from_erl(272, true),
        from_erl(282, true),
    );
    check_cer_cea_common(
        "Erlang CER",
        "erl.client.net",
        &check_peer_message("CER", &cer.bytes),
    );
    let Message::DeviceWatchdogRequest(d) = check_peer_message("DWR", &dwr.bytes) else {
        panic!("DWR")
    };
    assert_eq!(d.origin_host.as_str(), "erl.client.net");
    let Message::CreditControlRequest(c) = check_peer_message("CCR", &ccr_f.bytes) else {
        panic!("CCR")
    };
    assert_eq!(c, ccr);
    let Message::DisconnectPeerRequest(p) = check_peer_message("DPR", &dpr.bytes) else {
        panic!("DPR")
    };
    assert_eq!(
        p.disconnect_cause,
        diameter::dict::base_rfc6733::DisconnectCause::DoNotWantToTalkToYou
    );
    // Our answers to it: DWA, CCA, DPA all 2001.
    for code in [257, 280, 272, 282] {
        let a = frames
            .iter()
            .find(|f| !f.from_initiator && f.code() == code)
            .unwrap_or_else(|| panic!("our answer {code}"));
        assert_eq!(result_code(&a.raw()), Some(2001));
    }
    for f in frames.iter().filter(|f| f.from_initiator) {
        if f.raw().find(99_999, 0).is_some() {
            // The deliberately bad CCR: only the untyped round trip applies.
            assert_eq!(f.raw().to_bytes().as_ref(), &f.bytes[..]);
            continue;
        }
        check_peer_message("Erlang message", &f.bytes);
    }
    let how = "captured by tests/interop_erlang.rs (erlang_client_against_our_server)";
    save_fixture(
        "erlang_cer",
        &format!("CER sent by {OTP}\n{how}"),
        &cer.bytes,
    );
    save_fixture(
        "erlang_dwr",
        &format!("DWR sent by {OTP}\n{how}"),
        &dwr.bytes,
    );
    save_fixture(
        "erlang_ccr",
        &format!("CCR-INITIAL sent by {OTP} (tests/interop/cc_rfc4006.dia)\n{how}"),
        &ccr_f.bytes,
    );
    save_fixture(
        "erlang_dpr",
        &format!("DPR sent by {OTP} (remove_transport)\n{how}"),
        &dpr.bytes,
    );
    // The bad CCR and our 5001 answer are dissected apart: tshark rightly flags the
    // deliberately unknown AVP, and nothing else.
    let bad_hbh: Vec<u32> = frames
        .iter()
        .filter(|f| f.raw().find(99_999, 0).is_some())
        .map(|f| f.raw().header.hop_by_hop)
        .collect();
    let (bad, good): (Vec<Frame>, Vec<Frame>) = frames
        .iter()
        .cloned()
        .partition(|f| f.code() == 272 && bad_hbh.contains(&f.raw().header.hop_by_hop));
    assert_eq!(bad.len(), 2, "the bad CCR and its answer");
    assert_tshark_clean(TEST, dir.path(), &good);
    if let Some(tshark) = find_binary("tshark") {
        let pcap = dir.path().join("bad-ccr.pcap");
        write_pcap(&pcap, &bad);
        let report = tshark_check(&tshark, &pcap, &[tap.addr.port()]);
        assert_eq!(report.diameter_pdus, 2);
        for p in &report.problems {
            let expected = p.contains("Unknown AVP 99999");
            assert!(expected, "unexpected tshark problem: {p}\n{}", report.text);
        }
    }
    if let Some(l) = live {
        // The deliberately unknown AVP.
        let tolerated = ["Unknown AVP 99999"];
        l.finish_and_check_allowing(TEST, frames.len(), &tolerated);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_erlang_server() {
    const TEST: &str = "our_client_against_erlang_server";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-server");
    let port = free_port();
    let mut erl = start_escript(
        &bin,
        "server",
        port,
        "erl.server.net",
        "server.net",
        "client.net",
        30_000,
    );
    assert!(
        erl.wait_line_async("LISTENING", LIMIT).await.is_some(),
        "Erlang server did not start"
    );
    let tap = Tap::start(([127, 0, 0, 1], port).into()).await;
    let live = LiveCapture::start(TEST, dir.path(), &[tap.addr.port()]);
    // Our Tw (500 ms) is shorter than the Erlang peer's: we send DWR, it answers DWA.
    let client = Node::builder()
        .origin_host("rust.client.net")
        .origin_realm("client.net")
        .auth_application(4)
        .peer(
            PeerConfig::new("erl.server.net", tap.addr)
                .settings(quick_peer(Duration::from_millis(500))),
        )
        .build()
        .await
        .unwrap();
    let mut events = events_once_open(&client, "erl.server.net", LIMIT).await;
    let up = erl.wait_line_async("UP ", LIMIT).await.expect("Erlang: UP");
    assert_eq!(field(&up, "peer"), "rust.client.net");

    let req = Ccr {
        session_id: client.new_session_id().as_str().into(),
        origin_host: "rust.client.net".into(),
        origin_realm: "client.net".into(),
        destination_realm: "server.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: CcRequestType::InitialRequest,
        cc_request_number: 0,
        subscription_id: vec![
            SubscriptionId {
                subscription_id_type: SubscriptionIdType::EndUserE164,
                subscription_id_data: "491701234567".into(),
                ..Default::default()
            },
            SubscriptionId {
                subscription_id_type: SubscriptionIdType::EndUserImsi,
                subscription_id_data: "262011234567890".into(),
                ..Default::default()
            },
        ]
        .into(),
        multiple_services_indicator: Some(MultipleServicesIndicator::MultipleServicesSupported),
        multiple_services_credit_control: vec![MultipleServicesCreditControl {
            requested_service_unit: Some(
                RequestedServiceUnit {
                    cc_total_octets: Some(1_000_000),
                    ..Default::default()
                }
                .into(),
            ),
            rating_group: Some(10),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    let cca: Cca = client
        .send::<Ccr, Cca>(&req, 4)
        .await
        .expect("CCA from the Erlang server");
    assert_eq!(cca.result_code, 2001);
    assert_eq!(cca.session_id, req.session_id);
    assert_eq!(cca.origin_host.as_str(), "erl.server.net");
    assert_eq!(cca.cc_request_type, CcRequestType::InitialRequest);
    let m = &cca.multiple_services_credit_control[0];
    assert_eq!(m.rating_group, Some(10));
    assert_eq!(m.validity_time, Some(3600));
    assert_eq!(m.result_code, Some(2001));
    let gsu = m.granted_service_unit.as_ref().expect("GSU");
    assert_eq!(
        (gsu.cc_total_octets, gsu.cc_time),
        (Some(500_000), Some(600))
    );

    // What the Erlang side decoded from our CCR.
    let seen = erl
        .wait_line_async("CCR ", LIMIT)
        .await
        .expect("Erlang: CCR");
    assert_eq!(field(&seen, "session"), req.session_id.as_str());
    assert_eq!(field(&seen, "type"), "1");
    assert_eq!(field(&seen, "service"), "32251@3gpp.org");
    assert_eq!(field(&seen, "origin"), "rust.client.net");
    assert_eq!(field(&seen, "subs"), "0:491701234567,1:262011234567890");
    assert_eq!(field(&seen, "rsu"), "[1000000]");
    assert!(!erl.output().contains("ERROR"), "{}", erl.output());

    // The same CCR with an unknown AVP with the M bit: OTP's own 5001 answer.
    let mut bad = req.to_message(4, 0, client.next_end_to_end());
    bad.push(&diameter::core::RawAvp::new(
        99_999,
        diameter::core::AvpFlags::MANDATORY,
        0,
        diameter::core::bytes::Bytes::from_static(b"unknown"),
    ));
    let otp_5001 = client
        .request(bad)
        .await
        .expect("OTP's answer to the bad CCR");
    assert_eq!(result_code(&otp_5001), Some(5001));
    // OTP sends its `{answer_message, 5001}` as an answer-message with the E bit, which
    // RFC 6733 §7.2 reserves for protocol errors (3xxx); our runtime leaves it clear.
    assert!(otp_5001.header.is_error(), "OTP sets the E bit on its 5001");
    let seen = erl
        .wait_line_async("CCR_ERRORS", LIMIT)
        .await
        .expect("Erlang: CCR_ERRORS");
    assert!(seen.contains("{5001,99999}"), "{seen}");

    // Our DWRs, its DWAs; then our DPR, its DPA.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(client.is_peer_available("erl.server.net"));
    client
        .stop_peer("erl.server.net", DisconnectCause::DoNotWantToTalkToYou)
        .await;
    assert_eq!(
        wait_down(&mut events, "erl.server.net").await,
        Some(DownReason::Stopped)
    );
    let down = erl
        .wait_line_async("DOWN", LIMIT)
        .await
        .expect("Erlang: DOWN");
    assert_eq!(field(&down, "peer"), "rust.client.net");
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");

    let frames = tap.frames();
    let from_erl = |code: u32| {
        frames
            .iter()
            .find(|f| !f.from_initiator && f.code() == code && !f.is_request())
            .cloned()
            .unwrap_or_else(|| panic!("no answer {code} from Erlang"))
    };
    let (cea, dwa, cca_f, dpa) = (from_erl(257), from_erl(280), from_erl(272), from_erl(282));
    check_cer_cea_common(
        "Erlang CEA",
        "erl.server.net",
        &check_peer_message("CEA", &cea.bytes),
    );
    for (label, f) in [("DWA", &dwa), ("DPA", &dpa)] {
        match check_peer_message(label, &f.bytes) {
            Message::DeviceWatchdogAnswer(a) => assert_eq!(a.result_code, 2001),
            Message::DisconnectPeerAnswer(a) => assert_eq!(a.result_code, 2001),
            other => panic!("{label}: {other:?}"),
        }
    }
    let Message::CreditControlAnswer(c) = check_peer_message("CCA", &cca_f.bytes) else {
        panic!("CCA")
    };
    assert_eq!(c, cca);
    // The bad CCR and OTP's 5001 answer, apart from the rest.
    let bad_hbh = frames
        .iter()
        .find(|f| f.raw().find(99_999, 0).is_some())
        .map(|f| f.raw().header.hop_by_hop)
        .expect("the bad CCR");
    let (bad, good): (Vec<Frame>, Vec<Frame>) = frames
        .iter()
        .cloned()
        .partition(|f| f.code() == 272 && f.raw().header.hop_by_hop == bad_hbh);
    let otp_5001_f = bad
        .iter()
        .find(|f| !f.from_initiator)
        .cloned()
        .expect("OTP's 5001 answer");
    // OTP answers 5001 with the answer-message grammar (E bit, no CCA-specific AVPs).
    assert_eq!(check_peer_error_answer("OTP 5001", &otp_5001_f.bytes), 5001);
    let raw_5001 = otp_5001_f.raw();
    let codes: Vec<u32> = raw_5001.avps().map(|a| a.unwrap().code).collect();
    eprintln!("{TEST}: OTP's 5001 answer carries AVPs {codes:?}");
    let failed = raw_5001.find(279, 0).expect("Failed-AVP");
    assert_eq!(
        failed.data.len() % 4,
        0,
        "OTP pads the AVP inside Failed-AVP"
    );
    for f in good.iter().filter(|f| !f.from_initiator) {
        check_peer_message("Erlang message", &f.bytes);
    }
    let how = "captured by tests/interop_erlang.rs (our_client_against_erlang_server)";
    save_fixture(
        "erlang_5001_answer",
        &format!(
            "Answer of {OTP} to a CCR with an unknown M-bit AVP (code 99999): 5001 answer-message with the E bit\n{how}"
        ),
        &otp_5001_f.bytes,
    );
    save_fixture(
        "erlang_cea",
        &format!("CEA sent by {OTP}\n{how}"),
        &cea.bytes,
    );
    save_fixture(
        "erlang_dwa",
        &format!("DWA sent by {OTP}\n{how}"),
        &dwa.bytes,
    );
    save_fixture(
        "erlang_cca",
        &format!("CCA sent by {OTP} (tests/interop/cc_rfc4006.dia)\n{how}"),
        &cca_f.bytes,
    );
    save_fixture(
        "erlang_dpa",
        &format!("DPA sent by {OTP}\n{how}"),
        &dpa.bytes,
    );
    assert_tshark_clean(TEST, dir.path(), &good);
    if let Some(l) = live {
        // Our deliberately unknown AVP, in the CCR and in OTP's Failed-AVP.
        l.finish_and_check_allowing(TEST, frames.len(), &["Unknown AVP 99999"]);
    }
}
