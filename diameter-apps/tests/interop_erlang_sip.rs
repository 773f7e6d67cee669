//! Interop of the SIP application (RFC 4740, issue 6) with Erlang/OTP's `diameter`
//! application (Debian packages `erlang-base` and `erlang-diameter`). The Erlang peer is
//! `tests/interop/sip_peer.escript` (at the repository root), which compiles the RFC 4740
//! dictionary `tests/interop/sip_rfc4740.dia` (the six command pairs, the AVPs of RFC 4740
//! §9 and the Digest-* / SIP-AOR attributes it imports from RFC 4590) in memory and uses
//! OTP's `diameter_gen_base_rfc6733` for the base protocol.
//!
//! - `erlang_sip_client_against_our_server`: the Erlang peer acts as a SIP server's
//!   Diameter client against our SIP AAA server (`diameter_apps::sip::start`, users from a
//!   TOML file, SQLite in a temp dir; the Erlang peer listed with the right to Digest-HA1):
//!   UAR (2003 with SIP-Server-Capabilities), MAR for a
//!   challenge (the Digest-HA1 we send is checked in Erlang against MD5(user:realm:pw)), MAR
//!   with Digest credentials computed in Erlang (we check them; Erlang checks our rspauth),
//!   SAR (profile and accounting servers), UAR again (2004 with SIP-Server-URI), LIR for the
//!   user (SIP-Server-URI) and for an unknown AOR (5032). Then our server's operator
//!   actions send a PPR and an RTR, which the Erlang peer answers.
//! - `our_sip_client_against_erlang_server`: our `SipClient` over a `diameter_core` node
//!   (with the RTR/PPR handlers of `register_events`) against an Erlang SIP AAA server:
//!   UAR, MAR (we check a Digest response with the H(A1) Erlang sent), SAR, UAR, LIR;
//!   then the Erlang server sends a PPR and an RTR that our handlers answer.
//!
//! Connections go through the recording tap of `tests/interop/mod.rs`: every message the
//! Erlang peer sent must decode with our typed decoder and re-encode byte for byte, and
//! tshark must dissect every message without malformed packets, expert warnings or unknown
//! AVPs (also in a live `tshark -i lo` capture when it is allowed). The escript is killed
//! by PID when its guard drops. Without `escript`/`erl` or OTP's diameter application,
//! the tests print why and pass (`REQUIRE_INTEROP=1` makes that a failure).

#[path = "../../tests/interop/mod.rs"]
mod interop;

use diameter::core::base::DisconnectCause;
use diameter::core::fields::result_code;
use diameter::dict::sip_rfc4740::{SipReasonCode, SipServerAssignmentType};
use diameter::dict::Message;
use diameter_apps::sip::client::{
    register_events, ClientConfig, Deregistration, MarParams, ProfilePush, SarParams, SipClient,
    SipResult, SipServerEvents,
};
use diameter_apps::sip::server::SipPeer;
use diameter_apps::sip::store::{AccountingInfo, Capabilities, RegState, UserData};
use diameter_apps::sip::{start, ServeOptions};
use diameter_core::node::{Node, PeerConfig};
use interop::*;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const AOR: &str = "sip:alice@example.com";
const USER: &str = "alice@example.com";
const PASSWORD: &str = "secret";
const SIP2: &str = "sip:sip2.example.com";

const USERS: &str = r#"
realm = "example.com"

[[user]]
name = "alice@example.com"
password = "secret"
aors = ["sip:alice@example.com"]
capabilities = { mandatory = [1], servers = ["sip:sip2.example.com"] }
accounting_servers = ["aaa://acct.example.com:3868"]

[[user.profile]]
type = "application/xml"
contents = "<services/>"
"#;

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

/// Starts the escript: `mode`, the port, Origin-Host / Origin-Realm / Destination-Realm.
fn start_escript(bin: &Path, mode: &str, port: u16, names: [&str; 3]) -> Daemon {
    let dir = interop_dir();
    let mut cmd = Process::new(bin);
    cmd.arg(dir.join("sip_peer.escript"))
        .arg(mode)
        .arg(dir.join("sip_rfc4740.dia"))
        .arg(port.to_string())
        .args(names)
        .args([AOR, USER, PASSWORD, SIP2]);
    Daemon::spawn("escript sip_peer.escript", cmd).expect("start escript")
}

/// Parses `key=value` from an escript output line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

async fn line(erl: &Daemon, prefix: &str) -> String {
    let l = erl
        .wait_line_async(prefix, LIMIT)
        .await
        .unwrap_or_else(|| panic!("Erlang: no {prefix:?}\n{}", erl.output()));
    eprintln!("erlang: {l}");
    l
}

/// Fails on anything OTP objected to (decode errors in answers or requests, errors).
fn assert_no_otp_complaints(erl: &Daemon) {
    let out = erl.output();
    for bad in ["ANSWER_DECODE_ERRORS", "REQUEST_ERRORS", "ERROR"] {
        assert!(!out.contains(bad), "the Erlang peer reports {bad}:\n{out}");
    }
}

/// The tshark check of `tests/interop/mod.rs` (every message dissected as Diameter, no
/// malformed packet, no expert warning or error), plus: no AVP that tshark's dictionary
/// does not know.
fn tshark_strict(test: &str, dir: &Path, frames: &[Frame]) {
    assert_tshark_clean(test, dir, frames);
    let Some(tshark) = find_binary("tshark") else {
        return;
    };
    let pcap = dir.join(format!("{test}.pcap"));
    let mut ports: Vec<u16> = frames.iter().map(|f| f.acceptor.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let report = tshark_check(&tshark, &pcap, &ports);
    let unknown: Vec<&str> = report
        .text
        .lines()
        .filter(|l| l.contains("Unknown AVP") || l.contains("Unknown-AVP"))
        .collect();
    assert!(unknown.is_empty(), "{test}: tshark: {unknown:#?}");
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erlang_sip_client_against_our_server() {
    const TEST: &str = "erlang_sip_client_against_our_server";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-sip-client");
    let users = dir.path().join("users.toml");
    write_file(&users, USERS);
    let mut opts = ServeOptions::default();
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.origin_host = "sip-aaa.example.com".into();
    opts.origin_realm = "example.com".into();
    opts.store = format!("sqlite://{}", dir.path().join("sip.db").display());
    opts.users = Some(users);
    // The Erlang SIP server checks responses with the Digest-HA1 it receives: it is
    // given that right (no other peer gets it).
    opts.sip_servers = vec![SipPeer::with_credentials("erl-sip.example.com")];
    let aaa = start(opts).await.expect("SIP AAA server starts");
    let tap = Tap::start(aaa.local_addrs()[0]).await;
    let live = LiveCapture::start(TEST, dir.path(), &[tap.addr.port()]);
    let mut erl = start_escript(
        &bin,
        "client",
        tap.addr.port(),
        ["erl-sip.example.com", "example.com", "example.com"],
    );
    let up = line(&erl, "UP ").await;
    assert_eq!(field(&up, "peer"), "sip-aaa.example.com");

    // UAR: first registration, no server assigned: the capabilities.
    let uaa = line(&erl, "UAA step=1 ").await;
    assert_eq!(field(&uaa, "result"), "2003");
    assert_eq!(field(&uaa, "uri"), "none");
    assert_eq!(field(&uaa, "caps"), format!("m1/{SIP2}"));
    // MAR: a Digest challenge with H(A1), as Erlang computes it from the password.
    let maa = line(&erl, "MAA step=challenge ").await;
    assert!(
        ["2001", "2008"].contains(&field(&maa, "result")),
        "MAA: {maa}"
    );
    assert_eq!(field(&maa, "user"), USER);
    assert_eq!(field(&maa, "aor"), AOR);
    assert_eq!(field(&maa, "items"), "[1]");
    assert_eq!(field(&maa, "scheme"), "0"); // DIGEST
    assert_eq!(field(&maa, "realm"), "example.com");
    assert_eq!(field(&maa, "algorithm"), "MD5");
    assert_eq!(field(&maa, "qop"), "auth");
    assert_eq!(field(&maa, "ha1_ok"), "true", "Digest-HA1");
    // MAR with the user agent's credentials computed in Erlang: we accept them, and our
    // rspauth is what Erlang computes.
    let maa = line(&erl, "MAA step=credentials ").await;
    assert_eq!(field(&maa, "result"), "2001");
    assert_eq!(field(&maa, "rspauth_ok"), "true", "Digest-Response-Auth");
    // SAR: the profile and the accounting server.
    let saa = line(&erl, "SAA ").await;
    assert_eq!(field(&saa, "result"), "2001");
    assert_eq!(field(&saa, "data"), "application/xml|<services/>");
    assert_eq!(field(&saa, "acct"), "aaa://acct.example.com:3868");
    // The next UAR: the assigned server.
    let uaa = line(&erl, "UAA step=2 ").await;
    assert_eq!(field(&uaa, "result"), "2004");
    assert_eq!(field(&uaa, "uri"), SIP2);
    // LIR: where alice is served; and an unknown AOR.
    let lia = line(&erl, "LIA step=known ").await;
    assert_eq!((field(&lia, "result"), field(&lia, "uri")), ("2001", SIP2));
    let lia = line(&erl, "LIA step=unknown ").await;
    assert_eq!(field(&lia, "result"), "5032"); // DIAMETER_ERROR_USER_UNKNOWN
    line(&erl, "READY").await;
    let reg = aaa.server.store().registration(AOR).unwrap().unwrap();
    assert_eq!(reg.state, RegState::Registered);
    assert_eq!(reg.server_uri.as_deref(), Some(SIP2));

    // Operator actions: PPR, then RTR, to the SIP server that registered alice.
    let pushed = aaa
        .push_profile(
            USER,
            vec![UserData {
                data_type: "application/xml".into(),
                contents: b"<services><fwd/></services>".to_vec(),
            }],
            AccountingInfo {
                accounting_servers: vec![],
                // With the port: OTP 25 cannot decode a DiameterURI without one (see
                // tests/interop/sip_peer.escript).
                credit_control_servers: vec!["aaa://ocs.example.com:3868".into()],
            },
        )
        .await
        .expect("PPR");
    assert_eq!(pushed, vec![SipResult::Success]);
    let ppr = line(&erl, "PPR ").await;
    assert_eq!(field(&ppr, "user"), USER);
    assert_eq!(field(&ppr, "dest"), "erl-sip.example.com");
    assert_eq!(
        field(&ppr, "data"),
        "application/xml|<services><fwd/></services>"
    );
    assert_eq!(field(&ppr, "cc"), "aaa://ocs.example.com:3868");
    let dereg = aaa
        .deregister(USER, &[], SipReasonCode::PermanentTermination, None)
        .await
        .expect("RTR");
    assert_eq!(dereg, vec![SipResult::Success]);
    let rtr = line(&erl, "RTR ").await;
    assert_eq!(field(&rtr, "dest"), "erl-sip.example.com");
    assert_eq!(field(&rtr, "reason"), "0"); // PERMANENT_TERMINATION
    let reg = aaa.server.store().registration(AOR).unwrap().unwrap();
    assert_eq!(reg.state, RegState::NotRegistered);

    line(&erl, "DONE").await;
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);

    // Every message of the Erlang peer decodes with our typed decoder and re-encodes byte
    // for byte; so do ours.
    let frames = tap.frames();
    let mut seen = Vec::new();
    for f in &frames {
        let label = if f.from_initiator { "Erlang" } else { "ours" };
        let m = check_peer_message(label, &f.bytes);
        seen.push((f.from_initiator, f.code(), f.is_request()));
        if let Message::UserAuthorizationRequest(u) = &m {
            assert_eq!(u.sip_aor.as_str(), AOR);
        }
    }
    for code in 283..=288 {
        assert!(
            seen.iter().any(|s| s.1 == code && s.2),
            "a request {code}: {seen:?}"
        );
        assert!(
            seen.iter().any(|s| s.1 == code && !s.2),
            "an answer {code}: {seen:?}"
        );
    }
    // Our answers' Result-Codes, in order: UAA 2003, MAA, MAA 2001, SAA 2001, UAA 2004,
    // LIA 2001, LIA 5032.
    let ours: Vec<Option<u32>> = frames
        .iter()
        .filter(|f| !f.from_initiator && !f.is_request() && (283..=286).contains(&f.code()))
        .map(|f| result_code(&f.raw()))
        .collect();
    assert_eq!(ours.len(), 7, "{ours:?}");
    tshark_strict(TEST, dir.path(), &frames);
    if let Some(l) = live {
        l.finish_and_check(TEST, frames.len());
    }
    aaa.stop().await;
}

// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl SipServerEvents for Events {
    fn deregister(&self, r: &Deregistration) -> SipResult {
        self.0.lock().unwrap().push(format!(
            "RTR {:?} {:?} {:?} {:?}",
            r.user_name, r.aors, r.reason, r.info
        ));
        SipResult::Success
    }
    fn push_profile(&self, p: &ProfilePush) -> SipResult {
        let profile: Vec<String> = p
            .profile
            .iter()
            .map(|d| format!("{}|{}", d.data_type, String::from_utf8_lossy(&d.contents)))
            .collect();
        self.0.lock().unwrap().push(format!(
            "PPR {} {profile:?} {:?}",
            p.user_name, p.accounting
        ));
        SipResult::Success
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_sip_client_against_erlang_server() {
    const TEST: &str = "our_sip_client_against_erlang_server";
    let Some(bin) = escript(TEST) else {
        return;
    };
    let dir = temp_dir("erl-sip-server");
    let port = free_port();
    let mut erl = start_escript(
        &bin,
        "server",
        port,
        ["erl-aaa.example.com", "example.com", "example.com"],
    );
    line(&erl, "LISTENING").await;
    let tap = Tap::start(([127, 0, 0, 1], port).into()).await;
    let live = LiveCapture::start(TEST, dir.path(), &[tap.addr.port()]);
    let events = Arc::new(Events::default());
    let host = "rust-sip.example.com";
    let builder = Node::builder()
        .origin_host(host)
        .origin_realm("example.com")
        .auth_application(6)
        .peer(
            PeerConfig::new("erl-aaa.example.com", tap.addr)
                .settings(quick_peer(Duration::from_secs(30))),
        );
    let node = register_events(builder, host, "example.com", events.clone())
        .build()
        .await
        .unwrap();
    assert!(
        node.wait_peer("erl-aaa.example.com", LIMIT).await,
        "CER/CEA"
    );
    let up = line(&erl, "UP ").await;
    assert_eq!(field(&up, "peer"), host);
    let sip = SipClient::new(
        ClientConfig::new(host, "example.com", "example.com"),
        node.clone(),
    );

    // UAR: first registration, with the capabilities to select a server.
    let uaa = sip.uar(AOR, None).await.expect("UAA");
    assert_eq!(uaa.result, SipResult::FirstRegistration);
    assert_eq!(
        uaa.capabilities,
        Some(Capabilities {
            mandatory: vec![1],
            optional: vec![2],
            servers: vec![SIP2.into()],
        })
    );
    let l = line(&erl, "UAR ").await;
    assert_eq!(field(&l, "aor"), AOR);
    assert_eq!(field(&l, "type"), "0"); // REGISTRATION
    assert_eq!(field(&l, "origin"), host);

    // MAR: the challenge and H(A1); a user agent's answer checks out with it.
    let maa = sip
        .mar(&MarParams {
            aor: AOR.into(),
            method: "REGISTER".into(),
            user_name: Some(USER.into()),
            server_uri: Some(SIP2.into()),
            ..Default::default()
        })
        .await
        .expect("MAA");
    assert_eq!(maa.result, SipResult::Success);
    let challenge = maa.challenge.clone().expect("challenge");
    assert_eq!(challenge.realm, "example.com");
    let creds = challenge
        .answer(USER, PASSWORD, "REGISTER", "sip:example.com")
        .unwrap();
    assert!(maa.verify(&creds, "REGISTER"), "H(A1) from Erlang");
    let wrong = challenge
        .answer(USER, "nope", "REGISTER", "sip:example.com")
        .unwrap();
    assert!(!maa.verify(&wrong, "REGISTER"));
    let l = line(&erl, "MAR ").await;
    assert_eq!(field(&l, "method"), "REGISTER");
    assert_eq!(field(&l, "user"), USER);
    assert_eq!(field(&l, "server"), SIP2);
    assert_eq!(field(&l, "items"), "[1]");
    assert_eq!(field(&l, "schemes"), "[0]");

    // SAR: registration, with the profile and the accounting servers.
    let mut sar = SarParams::new(SipServerAssignmentType::Registration, AOR);
    sar.user_name = Some(USER.into());
    sar.server_uri = Some(SIP2.into());
    sar.supported_types = vec!["application/xml".into()];
    let saa = sip.sar(&sar).await.expect("SAA");
    assert_eq!(saa.result, SipResult::Success);
    assert_eq!(
        saa.profile,
        vec![UserData {
            data_type: "application/xml".into(),
            contents: b"<services/>".to_vec(),
        }]
    );
    assert_eq!(
        saa.accounting,
        Some(AccountingInfo {
            accounting_servers: vec!["aaa://acct.example.com:3868".into()],
            credit_control_servers: vec!["aaa://ocs.example.com:3868".into()],
        })
    );
    let l = line(&erl, "SAR ").await;
    assert_eq!(field(&l, "type"), "1"); // REGISTRATION
    assert_eq!(field(&l, "available"), "0"); // USER_DATA_NOT_AVAILABLE
    assert_eq!(field(&l, "aors"), AOR);
    assert_eq!(field(&l, "types"), "application/xml");

    // The next UAR: the assigned server; LIR: the same.
    let uaa = sip.uar(AOR, Some(USER)).await.expect("UAA");
    assert_eq!(
        (uaa.result, uaa.server_uri.as_deref()),
        (SipResult::SubsequentRegistration, Some(SIP2))
    );
    let lia = sip.lir(AOR).await.expect("LIA");
    assert_eq!(
        (lia.result, lia.server_uri.as_deref()),
        (SipResult::Success, Some(SIP2))
    );
    // An unknown AOR: 5032; the Erlang server then pushes a profile and deregisters.
    let lia = sip.lir("sip:nobody@example.com").await.expect("LIA");
    assert_eq!(lia.result, SipResult::UserUnknown);
    let ppa = line(&erl, "PPA ").await;
    assert_eq!(field(&ppa, "result"), "2001");
    assert_eq!(field(&ppa, "origin"), host);
    let rta = line(&erl, "RTA ").await;
    assert_eq!(field(&rta, "result"), "2001");
    let seen = events.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with("PPR alice@example.com")
            && seen[0].contains("application/xml|<services><fwd/></services>")
            && seen[0].contains("aaa://ocs.example.com"),
        "{seen:?}"
    );
    assert!(
        seen[1].contains("PermanentTermination")
            && seen[1].contains(AOR)
            && seen[1].contains("\"bye\""),
        "{seen:?}"
    );

    // DPR/DPA.
    node.stop_peer("erl-aaa.example.com", DisconnectCause::DoNotWantToTalkToYou)
        .await;
    let down = line(&erl, "DOWN").await;
    assert_eq!(field(&down, "peer"), host);
    assert_eq!(erl.wait_exit_async(LIMIT).await, Some(0), "escript exit");
    assert_no_otp_complaints(&erl);

    let frames = tap.frames();
    for f in &frames {
        let label = if f.from_initiator { "ours" } else { "Erlang" };
        check_peer_message(label, &f.bytes);
    }
    for code in 283..=288 {
        assert!(
            frames.iter().any(|f| f.code() == code && f.is_request()),
            "request {code}"
        );
        assert!(
            frames.iter().any(|f| f.code() == code && !f.is_request()),
            "answer {code}"
        );
    }
    tshark_strict(TEST, dir.path(), &frames);
    if let Some(l) = live {
        l.finish_and_check(TEST, frames.len());
    }
    node.abort();
}
