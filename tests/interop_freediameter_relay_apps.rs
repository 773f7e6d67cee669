//! Credit-Control (Gy, Ro SMS, IMS) and SIP application (RFC 4740) messages relayed by a
//! real freeDiameter (Debian packages `freediameterd` and `freediameter-extensions`).
//!
//! `freediameter_relays_charging_and_sip_commands` starts `freeDiameterd` as a relay agent
//! (its own dictionaries `dict_nasreq`, `dict_dcca`, `dict_dcca_3gpp` and `dict_sip`
//! loaded, so that it parses every AVP it knows) between two of our nodes:
//! `client.a.net` (realm a.net) and `server.b.net` (realm b.net), both advertising the
//! Credit-Control (4) and SIP (6) applications, freeDiameter connecting to each through a
//! recording tap. The client sends, with the typed structs of `diameter::dict`:
//! - Gy CCR-Initial, -Update and -Termination with Service-Information → PS-Information,
//!   Multiple-Services-Credit-Control (Requested-/Used-Service-Unit), Subscription-Id;
//! - a Ro CCR-Event for an SMS with SMS-Information;
//! - an IMS CCR-Initial with IMS-Information;
//! - UAR, SAR, LIR and MAR;
//!
//! and the server sends RTR and PPR back to the client (Destination-Host client.a.net:
//! the server has freeDiameter as its only peer, a relay, and freeDiameter routes on
//! Destination-Host to its peer client.a.net). Each request is answered by a typed
//! handler with the typed answer.
//!
//! freeDiameter parses each message into its own tree and serialises it again before
//! sending it on, so what it sends are bytes it produced. For every request and answer the
//! test compares, from the taps, the bytes our node sent with the bytes freeDiameter sent
//! on, and asserts exactly what freeDiameter 1.2.1 changes: the Hop-by-Hop Identifier
//! (its own on the relayed request; the original one restored on the relayed answer) and
//! one Route-Record appended after the last AVP, naming the peer it received the message
//! from (RFC 6733 §6.1.9 for requests; on answers freeDiameter does it too, see
//! `tests/peer_fixtures.rs`). Everything else, header flags, Application-Id, End-to-End
//! Identifier, every AVP with its flags, vendor, length, value and padding, in order, is
//! byte-identical. Then each message freeDiameter sent decodes with
//! `diameter::dict::Message::decode`, raw decode → encode reproduces its bytes, and,
//! without the Route-Record, the typed decode equals the typed value our side sent.
//!
//! freeDiameter's `dbg_msg_dumps` extension logs every message it received and sent as a
//! tree resolved in its dictionaries: the test asserts that it resolved every AVP (none
//! left without a dictionary entry, all key grouped AVPs named) and logged no parsing or
//! routing error, so these are messages it really understood, not opaque bytes.
//!
//! With `INTEROP_UPDATE_FIXTURES=1` what freeDiameter sent is saved as
//! `tests/fixtures/relayed_apps/freediameter_relayed_<cmd>.hex` (checked by
//! `tests/peer_fixtures_apps.rs`; a subdirectory, because `tests/peer_fixtures.rs` insists
//! that the top level of `tests/fixtures` holds exactly its own list). The taps' pcap and a
//! live capture on `lo` (when permitted) must be dissected by tshark without malformed
//! packets or expert warnings, apart from Wireshark's "Data is empty" on the empty
//! Requested-Service-Unit of the Gy CCR-Initial (valid: RFC 4006 §8.18 requires no member).

mod interop;
mod samples;
use samples::*;

use diameter::core::bytes::Bytes;
use diameter::core::fields::route_records;
use diameter::core::node::{Node, NodeEvent};
use diameter::core::{Command, RawAvp, RawMessage};
use diameter::dict::base_rfc6733::*;
use diameter::dict::dcca_rfc4006::*;
use diameter::dict::sip_rfc4740::*;
use diameter::dict::tgpp_ts32299::*;
use interop::*;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

const TEST: &str = "freediameter_relays_charging_and_sip_commands";
const FD_HOST: &str = "fd.relay.net";
const FD_REALM: &str = "relay.net";
const CLIENT: &str = "client.a.net";
const CLIENT_REALM: &str = "a.net";
const SERVER: &str = "server.b.net";
const SERVER_REALM: &str = "b.net";
const FD_VERSION: &str = "freeDiameter 1.2.1 (Debian freediameterd 1.2.1-8+b1)";
/// The freeDiameter extensions this test loads (all of them from freediameter-extensions).
const EXTENSIONS: &[&str] = &[
    "dict_nasreq",
    "dict_dcca",
    "dict_dcca_3gpp",
    "dict_sip",
    "dbg_msg_dumps",
];
const FIXTURE_DIR: &str = "relayed_apps";

// ---------------------------------------------------------------------------------------
// freeDiameter as a relay between our two nodes

/// A `freeDiameterd` started by this test, killed by PID when dropped.
struct FreeDiameter {
    daemon: Daemon,
}

/// freeDiameterd and its dictionary extensions, or `None` after saying why the test is
/// skipped.
fn freediameter() -> Option<PathBuf> {
    let bin = require("freeDiameterd", "freediameterd", TEST)?;
    require("openssl", "openssl", TEST)?;
    let missing: Vec<&str> = EXTENSIONS
        .iter()
        .copied()
        .filter(|e| !extension(e).exists())
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("REQUIRE_INTEROP").is_none(),
            "{TEST}: freeDiameter extensions {missing:?} missing (Debian package freediameter-extensions) and REQUIRE_INTEROP is set"
        );
        eprintln!(
            "SKIPPED {TEST}: freeDiameter extensions {missing:?} not installed (Debian package freediameter-extensions)"
        );
        return None;
    }
    Some(bin)
}

fn extension(name: &str) -> PathBuf {
    Path::new("/usr/lib/freeDiameter").join(format!("{name}.fdx"))
}

impl FreeDiameter {
    /// Starts freeDiameterd with no listener, connecting to each of `connect` (Diameter
    /// identity, port on 127.0.0.1) without TLS.
    fn start(bin: &Path, dir: &Path, connect: &[(&str, u16)]) -> FreeDiameter {
        // freeDiameter insists on TLS credentials even when no peer uses TLS.
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let st = Process::new("openssl")
            .args(["req", "-new", "-batch", "-x509", "-days", "2", "-nodes"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .arg("-subj")
            .arg(format!("/CN={FD_HOST}"))
            .arg("-out")
            .arg(&cert)
            .arg("-keyout")
            .arg(&key)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(st.success(), "openssl could not make a certificate");
        let mut text = format!(
            "# Generated by tests/interop_freediameter_relay_apps.rs\n\
             Identity = \"{FD_HOST}\";\n\
             Realm = \"{FD_REALM}\";\n\
             Port = 0;\n\
             SecPort = 0;\n\
             No_SCTP;\n\
             No_IPv6;\n\
             TwTimer = 6;\n\
             TcTimer = 3;\n\
             TLS_Cred = \"{}\", \"{}\";\n\
             TLS_CA = \"{}\";\n",
            cert.display(),
            key.display(),
            cert.display()
        );
        for e in EXTENSIONS.iter().filter(|e| e.starts_with("dict_")) {
            text.push_str(&format!(
                "LoadExtension = \"{}\";\n",
                extension(e).display()
            ));
        }
        // Every message received and sent, dumped as a tree resolved by its dictionary
        // (and parsing errors in full): what freeDiameter understood of ours.
        text.push_str(&format!(
            "LoadExtension = \"{}\" : \"0x0088\";\n",
            extension("dbg_msg_dumps").display()
        ));
        for (host, port) in connect {
            text.push_str(&format!(
                "ConnectPeer = \"{host}\" {{ ConnectTo = \"127.0.0.1\"; Port = {port}; No_TLS; No_SCTP; }};\n"
            ));
        }
        let path = dir.join("freeDiameter.conf");
        write_file(&path, &text);
        let mut cmd = Process::new(bin);
        cmd.arg("-c").arg(&path);
        let daemon = Daemon::spawn("freeDiameterd", cmd).expect("start freeDiameterd");
        assert!(
            daemon.wait_line("daemon initialized", LIMIT).is_some(),
            "freeDiameterd did not start:\n{}\n--- config ---\n{text}",
            daemon.output()
        );
        FreeDiameter { daemon }
    }
}

// ---------------------------------------------------------------------------------------
// The messages (the shapes of tests/tshark.rs, between client.a.net and server.b.net)

fn session(n: u32) -> diameter::core::Utf8String {
    format!("{CLIENT};1700000000;{n}").into()
}

fn gy_ccr(kind: CcRequestType, number: u32, mscc: MultipleServicesCreditControl) -> Ccr {
    Ccr {
        session_id: session(1),
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        ..samples::gy_ccr(kind, number, mscc)
    }
}

fn gy_ccr_initial() -> Ccr {
    gy_ccr(
        CcRequestType::InitialRequest,
        0,
        MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit::default()),
            service_identifier: vec![1].into(),
            rating_group: Some(100),
            ..Default::default()
        },
    )
}

fn gy_ccr_update() -> Ccr {
    gy_ccr(
        CcRequestType::UpdateRequest,
        1,
        MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit {
                cc_total_octets: Some(10_000_000),
                ..Default::default()
            }),
            used_service_unit: vec![used(9_000_000)].into(),
            service_identifier: vec![1].into(),
            rating_group: Some(100),
            reporting_reason: vec![ReportingReason::Threshold].into(),
            ..Default::default()
        },
    )
}

fn gy_ccr_termination() -> Ccr {
    gy_ccr(
        CcRequestType::TerminationRequest,
        2,
        MultipleServicesCreditControl {
            used_service_unit: vec![UsedServiceUnit {
                reporting_reason: Some(ReportingReason::Final),
                ..used(2_500_000)
            }]
            .into(),
            service_identifier: vec![1].into(),
            rating_group: Some(100),
            ..Default::default()
        },
    )
}

fn ro_sms_ccr_event() -> Ccr {
    Ccr {
        session_id: session(2),
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        ..samples::ro_sms_ccr_event()
    }
}

fn ims_ccr_initial() -> Ccr {
    Ccr {
        session_id: session(3),
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        ..samples::ims_ccr_initial()
    }
}

/// The server's answer to any CCR: grants per the request's kind of unit.
fn cca_for(req: &Ccr) -> Cca {
    let rsu = req
        .multiple_services_credit_control
        .first()
        .and_then(|m| m.requested_service_unit.as_deref());
    let gsu = match rsu {
        Some(u) if u.cc_service_specific_units.is_some() => some(GrantedServiceUnit {
            cc_service_specific_units: Some(1),
            ..Default::default()
        }),
        Some(u) if u.cc_time.is_some() => some(GrantedServiceUnit {
            cc_time: Some(300),
            ..Default::default()
        }),
        Some(_) => some(GrantedServiceUnit {
            cc_total_octets: Some(10_000_000),
            ..Default::default()
        }),
        None => None,
    };
    let first = req.multiple_services_credit_control.first();
    Cca {
        session_id: req.session_id.clone(),
        result_code: 2001,
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        auth_application_id: 4,
        cc_request_type: req.cc_request_type,
        cc_request_number: req.cc_request_number,
        multiple_services_credit_control: vec![MultipleServicesCreditControl {
            validity_time: gsu.as_ref().map(|_| 3600),
            granted_service_unit: gsu,
            rating_group: first.and_then(|m| m.rating_group),
            service_identifier: first
                .map(|m| m.service_identifier.clone())
                .unwrap_or_default(),
            result_code: Some(2001),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    }
}

const AOR: &str = "sip:alice@ims.example.net";
const USER: &str = "alice@ims.example.net";
const SCSCF: &str = "sip:scscf.ims.example.net";

fn user_data() -> SipUserData {
    SipUserData {
        sip_user_data_type: "application/xml".into(),
        sip_user_data_contents: Bytes::from_static(b"<profile user=\"alice\"/>"),
        ..Default::default()
    }
}

fn accounting() -> SipAccountingInformation {
    SipAccountingInformation {
        sip_accounting_server_uri: vec![uri("aaa://acct.ims.example.net:3868;transport=tcp")]
            .into(),
        sip_credit_control_server_uri: vec![uri("aaa://ocs.ims.example.net")].into(),
        ..Default::default()
    }
}

fn uar() -> Uar {
    Uar {
        session_id: session(11),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        sip_aor: AOR.into(),
        user_name: Some(USER.into()),
        sip_visited_network_id: Some("visited.example.org".into()),
        sip_user_authorization_type: Some(SipUserAuthorizationType::Registration),
        ..Default::default()
    }
}

fn uaa_for(req: &Uar) -> Uaa {
    Uaa {
        session_id: req.session_id.clone(),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        result_code: 2003, // DIAMETER_FIRST_REGISTRATION
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        sip_server_capabilities: some(SipServerCapabilities {
            sip_mandatory_capability: vec![1].into(),
            sip_optional_capability: vec![2, 3].into(),
            sip_server_uri: vec![SCSCF.into()].into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn sar() -> Sar {
    Sar {
        session_id: session(12),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        sip_server_assignment_type: SipServerAssignmentType::Registration,
        sip_user_data_already_available: SipUserDataAlreadyAvailable::UserDataNotAvailable,
        user_name: Some(USER.into()),
        sip_server_uri: Some(SCSCF.into()),
        sip_supported_user_data_type: vec!["application/xml".into()].into(),
        sip_aor: vec![AOR.into()].into(),
        ..Default::default()
    }
}

fn saa_for(req: &Sar) -> Saa {
    Saa {
        session_id: req.session_id.clone(),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        sip_user_data: vec![user_data()].into(),
        sip_accounting_information: some(accounting()),
        user_name: req.user_name.clone(),
        ..Default::default()
    }
}

fn lir() -> Lir {
    Lir {
        session_id: session(13),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        sip_aor: AOR.into(),
        ..Default::default()
    }
}

fn lia_for(req: &Lir) -> Lia {
    Lia {
        session_id: req.session_id.clone(),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        sip_server_uri: Some(SCSCF.into()),
        ..Default::default()
    }
}

const NONCE: &str = "dcd98b7102dd2f0e8b11d0f600bfb0c093";

fn mar() -> Mar {
    Mar {
        session_id: session(14),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        destination_realm: SERVER_REALM.into(),
        sip_aor: AOR.into(),
        sip_method: "REGISTER".into(),
        user_name: Some(USER.into()),
        sip_server_uri: Some(SCSCF.into()),
        sip_number_auth_items: Some(1),
        sip_auth_data_item: some(SipAuthDataItem {
            sip_authentication_scheme: SipAuthenticationScheme::Digest,
            sip_authorization: some(SipAuthorization {
                digest_username: "alice".into(),
                digest_realm: "ims.example.net".into(),
                digest_nonce: NONCE.into(),
                digest_uri: "sip:ims.example.net".into(),
                digest_response: "6629fae49393a05397450978507c4ef1".into(),
                digest_algorithm: Some("MD5".into()),
                digest_cnonce: Some("0a4f113b".into()),
                digest_qop: Some("auth".into()),
                digest_nonce_count: Some("00000001".into()),
                digest_method: Some("REGISTER".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn maa_for(req: &Mar) -> Maa {
    Maa {
        session_id: req.session_id.clone(),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        user_name: req.user_name.clone(),
        sip_aor: Some(req.sip_aor.clone()),
        sip_number_auth_items: Some(1),
        sip_auth_data_item: vec![SipAuthDataItem {
            sip_authentication_scheme: SipAuthenticationScheme::Digest,
            sip_item_number: Some(1),
            sip_authenticate: some(SipAuthenticate {
                digest_realm: "ims.example.net".into(),
                digest_nonce: NONCE.into(),
                digest_algorithm: Some("MD5".into()),
                digest_qop: Some("auth".into()),
                digest_ha1: Some("939e7578ed9e3c518a452acee763bce9".into()),
                ..Default::default()
            }),
            sip_authentication_info: some(SipAuthenticationInfo {
                digest_nextnonce: Some("f84f1cec41e6cbe5aea9c8e88d359".into()),
                digest_qop: Some("auth".into()),
                ..Default::default()
            }),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    }
}

fn rtr() -> Rtr {
    Rtr {
        session_id: format!("{SERVER};1700000000;15").into(),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        destination_realm: Some(CLIENT_REALM.into()),
        destination_host: CLIENT.into(),
        sip_deregistration_reason: SipDeregistrationReason {
            sip_reason_code: SipReasonCode::PermanentTermination,
            sip_reason_info: Some("subscription ended".into()),
            ..Default::default()
        },
        user_name: Some(USER.into()),
        sip_aor: vec![AOR.into()].into(),
        ..Default::default()
    }
}

fn rta_for(req: &Rtr) -> Rta {
    Rta {
        session_id: req.session_id.clone(),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        ..Default::default()
    }
}

fn ppr() -> Ppr {
    Ppr {
        session_id: format!("{SERVER};1700000000;16").into(),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SERVER.into(),
        origin_realm: SERVER_REALM.into(),
        destination_realm: CLIENT_REALM.into(),
        user_name: USER.into(),
        destination_host: Some(CLIENT.into()),
        sip_user_data: vec![user_data()].into(),
        sip_accounting_information: some(accounting()),
        ..Default::default()
    }
}

fn ppa_for(req: &Ppr) -> Ppa {
    Ppa {
        session_id: req.session_id.clone(),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CLIENT.into(),
        origin_realm: CLIENT_REALM.into(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Comparing what we sent with what freeDiameter sent on

/// What freeDiameter changed in one message it relayed.
#[derive(Debug, Default)]
struct RelayDiff {
    /// Header fields that differ (name, ours, its).
    header: Vec<(&'static str, u32, u32)>,
    /// AVPs it added after all of ours, which it left byte-identical and in order.
    appended: Vec<RawAvp>,
    /// Anything else: AVPs changed, dropped, reordered.
    changed: Vec<String>,
}

fn top_avps(msg: &RawMessage) -> Vec<(u32, u32, u8, Bytes)> {
    msg.avps()
        .map(|a| {
            let a = a.expect("AVP header");
            (a.code, a.vendor, a.flags, a.raw_bytes())
        })
        .collect()
}

fn relay_diff(ours: &RawMessage, relayed: &RawMessage) -> RelayDiff {
    let mut d = RelayDiff::default();
    let (a, b) = (ours.header, relayed.header);
    for (name, x, y) in [
        ("version", u32::from(a.version), u32::from(b.version)),
        ("flags", u32::from(a.flags), u32::from(b.flags)),
        ("command code", a.command_code, b.command_code),
        ("application id", a.application_id, b.application_id),
        ("hop-by-hop", a.hop_by_hop, b.hop_by_hop),
        ("end-to-end", a.end_to_end, b.end_to_end),
    ] {
        if x != y {
            d.header.push((name, x, y));
        }
    }
    let (mine, theirs) = (top_avps(ours), top_avps(relayed));
    let common = mine
        .iter()
        .zip(&theirs)
        .take_while(|(x, y)| x.3 == y.3)
        .count();
    if common == mine.len() {
        d.appended = relayed
            .avps()
            .skip(common)
            .map(|a| a.expect("AVP header").to_raw())
            .collect();
    } else {
        for (i, x) in mine.iter().enumerate().skip(common) {
            match theirs.get(i) {
                Some(y) if x.3 == y.3 => {}
                Some(y) => d.changed.push(format!(
                    "AVP #{i}: ours code {} vendor {} flags {:#04x} {} bytes {:02x?}, \
                     its code {} vendor {} flags {:#04x} {} bytes {:02x?}",
                    x.0,
                    x.1,
                    x.2,
                    x.3.len(),
                    &x.3[..],
                    y.0,
                    y.1,
                    y.2,
                    y.3.len(),
                    &y.3[..]
                )),
                None => d
                    .changed
                    .push(format!("AVP #{i} (code {} vendor {}) missing", x.0, x.1)),
            }
        }
        for (i, y) in theirs.iter().enumerate().skip(mine.len()) {
            d.changed
                .push(format!("extra AVP #{i}: code {} vendor {}", y.0, y.1));
        }
    }
    d
}

/// The message without its Route-Record AVPs after the first `keep` ones.
fn without_added_route_record(msg: &RawMessage, keep: usize) -> RawMessage {
    let mut seen = 0;
    let avps: Vec<RawAvp> = msg
        .avps()
        .map(|a| a.expect("AVP header").to_raw())
        .filter(|a| {
            if a.code == 282 && a.vendor == 0 {
                seen += 1;
                seen <= keep
            } else {
                true
            }
        })
        .collect();
    RawMessage::from_avps(msg.header, &avps)
}

/// The first frame of `tap` with this command, R bit, direction and End-to-End id,
/// waited for at most [`LIMIT`].
async fn frame(tap: &Tap, code: u32, request: bool, from_initiator: bool, e2e: u32) -> Frame {
    let end = Instant::now() + LIMIT;
    loop {
        let found = tap.frames().into_iter().find(|f| {
            f.code() == code
                && f.is_request() == request
                && f.from_initiator == from_initiator
                && f.raw().header.end_to_end == e2e
        });
        if let Some(f) = found {
            return f;
        }
        assert!(
            Instant::now() < end,
            "no frame: code {code} request {request} from_initiator {from_initiator} e2e {e2e:#x}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks one message freeDiameter relayed against the bytes and the typed value our node
/// sent. `via` is the identity freeDiameter received it from (its Route-Record).
fn check_relayed<T: Command + PartialEq + Debug>(
    label: &str,
    ours: &Frame,
    relayed: &Frame,
    sent: &T,
    via: &str,
    report: &mut Vec<String>,
) -> diameter::dict::Message {
    // Raw decode -> encode reproduces its bytes; the typed decoder accepts it.
    let message = check_peer_message(label, &relayed.bytes);
    let (o, r) = (ours.raw(), relayed.raw());
    assert_eq!(
        T::decode(&o).as_ref(),
        Ok(sent),
        "{label}: our own bytes decode to what we sent"
    );
    let d = relay_diff(&o, &r);
    // Only the Hop-by-Hop id changes in the header.
    assert!(
        d.header.iter().all(|(name, _, _)| *name == "hop-by-hop"),
        "{label}: freeDiameter changed the header: {:?}",
        d.header
    );
    assert!(
        d.changed.is_empty(),
        "{label}: freeDiameter changed our AVPs:\n{}",
        d.changed.join("\n")
    );
    // One Route-Record appended, naming the peer it came from.
    let appended: Vec<(u32, u32, u8, &[u8])> = d
        .appended
        .iter()
        .map(|a| (a.code, a.vendor, a.flags, a.data.as_ref()))
        .collect();
    assert_eq!(
        appended,
        [(282, 0, 0x40, via.as_bytes())],
        "{label}: freeDiameter appended something else than Route-Record({via})"
    );
    let before = route_records(&o).len();
    assert_eq!(route_records(&r).len(), before + 1, "{label}");
    // Typed: what we sent, once the Route-Record it added is taken out.
    let stripped = without_added_route_record(&r, before);
    assert_eq!(
        T::decode(&stripped).as_ref(),
        Ok(sent),
        "{label}: typed decode of the relayed message without its Route-Record"
    );
    report.push(format!(
        "{label}: {} bytes from us, {} from freeDiameter; header: {:?}; appended {:?}",
        ours.bytes.len(),
        relayed.bytes.len(),
        d.header,
        d.appended
            .iter()
            .map(|a| format!("Route-Record {:?} flags {:#04x}", a.data, a.flags))
            .collect::<Vec<_>>()
    ));
    message
}

/// Where each node sits: the tap freeDiameter uses to reach it.
struct Side<'a> {
    node: &'a Node,
    host: &'a str,
    tap: &'a Tap,
}

/// One request/answer through freeDiameter: `from` sends `req` (under `app`), `to`
/// answers it with `answer(req)`. Checks what each side received and what freeDiameter
/// sent, and saves both relayed messages as fixtures.
#[allow(clippy::too_many_arguments)]
async fn relay<Q, A>(
    label: &str,
    stem: (&str, &str),
    from: &Side<'_>,
    to: &Side<'_>,
    app: u32,
    req: Q,
    answer: fn(&Q) -> A,
    report: &mut Vec<String>,
) -> (diameter::dict::Message, diameter::dict::Message)
where
    Q: Command + PartialEq + Debug,
    A: Command + PartialEq + Debug,
{
    let e2e = from.node.next_end_to_end();
    let ans = from
        .node
        .request(req.to_message(app, 0, e2e))
        .await
        .unwrap_or_else(|e| panic!("{label}: no answer through freeDiameter: {e:?}"));
    assert!(
        !ans.header.is_error(),
        "{label}: error answer {:?}",
        diameter::core::fields::result_code(&ans)
    );
    let expected = answer(&req);
    assert_eq!(
        A::decode(&without_added_route_record(&ans, 0)).as_ref(),
        Ok(&expected),
        "{label}: the answer {} received",
        from.host
    );

    let code = Q::CODE;
    // On each tap freeDiameter is the initiator: `from_initiator` = sent by freeDiameter.
    let our_req = frame(from.tap, code, true, false, e2e).await;
    let relayed_req = frame(to.tap, code, true, true, e2e).await;
    let our_ans = frame(to.tap, code, false, false, e2e).await;
    let relayed_ans = frame(from.tap, code, false, true, e2e).await;
    let q = check_relayed(
        &format!("{label} {}", Q::SHORT_NAME),
        &our_req,
        &relayed_req,
        &req,
        from.host,
        report,
    );
    let a = check_relayed(
        &format!("{label} {}", A::SHORT_NAME),
        &our_ans,
        &relayed_ans,
        &expected,
        to.host,
        report,
    );
    let how = format!("captured by tests/interop_freediameter_relay_apps.rs ({TEST})");
    save(
        stem.0,
        &format!(
            "{label} {} of our {} as relayed by {FD_VERSION} to our {} \
             (Route-Record {} appended)\n{how}",
            Q::SHORT_NAME,
            from.host,
            to.host,
            from.host
        ),
        &relayed_req.bytes,
    );
    save(
        stem.1,
        &format!(
            "{label} {} of our {} as relayed by {FD_VERSION} back to our {} \
             (Route-Record {} appended)\n{how}",
            A::SHORT_NAME,
            to.host,
            from.host,
            to.host
        ),
        &relayed_ans.bytes,
    );
    (q, a)
}

/// `tests/fixtures/relayed_apps/freediameter_relayed_<stem>.hex`, when
/// `INTEROP_UPDATE_FIXTURES` is set.
fn save(stem: &str, description: &str, bytes: &[u8]) {
    if std::env::var_os("INTEROP_UPDATE_FIXTURES").is_none() {
        return;
    }
    let dir = root().join("tests/fixtures").join(FIXTURE_DIR);
    std::fs::create_dir_all(&dir).expect("fixture directory");
    save_fixture(
        &format!("{FIXTURE_DIR}/freediameter_relayed_{stem}"),
        description,
        bytes,
    );
}

/// [`assert_tshark_clean`], except for Wireshark's "Data is empty" warning on an empty
/// Requested-Service-Unit (the Gy CCR-Initial's, and freeDiameter's relay of it): RFC 4006
/// §8.18 gives it no required member, so it is valid empty (tests/tshark.rs tolerates the
/// same warning).
fn tshark_clean(dir: &Path, frames: &[Frame]) {
    let Some(tshark) = require("tshark", "tshark", TEST) else {
        return;
    };
    let pcap = dir.join(format!("{TEST}.pcap"));
    write_pcap(&pcap, frames);
    let mut ports: Vec<u16> = frames.iter().map(|f| f.acceptor.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let report = tshark_check(&tshark, &pcap, &ports);
    assert_eq!(
        report.diameter_pdus,
        frames.len(),
        "tshark dissected {} Diameter PDUs of {}",
        report.diameter_pdus,
        frames.len()
    );
    let mut avp = "";
    let (mut tolerated, mut problems) = (0, Vec::new());
    for line in report.text.lines().map(str::trim) {
        if line.starts_with("AVP: ") {
            avp = line;
        }
        let problem = line.contains("Malformed")
            || line.contains("Expert Info (Error")
            || (line.contains("Expert Info (Warn") && !line.contains("/Sequence)"));
        if !problem {
            continue;
        }
        if line.contains("Data is empty")
            && avp.starts_with("AVP: Requested-Service-Unit(437) l=8 ")
        {
            tolerated += 1;
        } else {
            problems.push(format!("{line} (in {avp})"));
        }
    }
    assert!(
        problems.is_empty(),
        "tshark reports problems: {problems:#?}\n{}",
        report.text
    );
    // Our CCR-Initial and freeDiameter's relay of it.
    assert_eq!(tolerated, 2, "empty Requested-Service-Unit warnings");
    eprintln!(
        "{TEST}: tshark dissected {} Diameter PDUs without malformed packets or expert warnings \
         (apart from {tolerated} empty Requested-Service-Unit)",
        report.diameter_pdus
    );
}

// ---------------------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freediameter_relays_charging_and_sip_commands() {
    let Some(bin) = freediameter() else {
        return;
    };
    let dir = temp_dir("fd-relay-apps");
    let server = Node::builder()
        .origin_host(SERVER)
        .origin_realm(SERVER_REALM)
        .auth_application(4)
        .auth_application(6)
        .supported_vendor(10_415)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(quick_peer(Duration::from_secs(30)))
        .typed_handler(|r: Ccr| std::future::ready(cca_for(&r)))
        .typed_handler(|r: Uar| std::future::ready(uaa_for(&r)))
        .typed_handler(|r: Sar| std::future::ready(saa_for(&r)))
        .typed_handler(|r: Lir| std::future::ready(lia_for(&r)))
        .typed_handler(|r: Mar| std::future::ready(maa_for(&r)))
        .build()
        .await
        .unwrap();
    let client = Node::builder()
        .origin_host(CLIENT)
        .origin_realm(CLIENT_REALM)
        .auth_application(4)
        .auth_application(6)
        .supported_vendor(10_415)
        .listen("127.0.0.1:0".parse().unwrap())
        .responder_settings(quick_peer(Duration::from_secs(30)))
        .typed_handler(|r: Rtr| std::future::ready(rta_for(&r)))
        .typed_handler(|r: Ppr| std::future::ready(ppa_for(&r)))
        .build()
        .await
        .unwrap();
    let to_server = Tap::start(server.local_addrs()[0]).await;
    let to_client = Tap::start(client.local_addrs()[0]).await;
    let live = LiveCapture::start(
        TEST,
        dir.path(),
        &[to_server.addr.port(), to_client.addr.port()],
    );
    let mut fd = FreeDiameter::start(
        &bin,
        dir.path(),
        &[
            (SERVER, to_server.addr.port()),
            (CLIENT, to_client.addr.port()),
        ],
    );
    assert!(server.wait_peer(FD_HOST, LIMIT).await, "server <-> fd");
    // Watched from here: the check below is that nothing dropped the open connections.
    let mut events = events_once_open(&client, FD_HOST, LIMIT).await;

    let c = Side {
        node: &client,
        host: CLIENT,
        tap: &to_client,
    };
    let s = Side {
        node: &server,
        host: SERVER,
        tap: &to_server,
    };
    let mut report = Vec::new();
    let r = &mut report;
    let cases = [
        (
            "Gy initial",
            ("gy_ccr_initial", "gy_cca_initial"),
            gy_ccr_initial(),
        ),
        (
            "Gy update",
            ("gy_ccr_update", "gy_cca_update"),
            gy_ccr_update(),
        ),
        (
            "Gy termination",
            ("gy_ccr_termination", "gy_cca_termination"),
            gy_ccr_termination(),
        ),
        (
            "Ro SMS event",
            ("ro_sms_ccr_event", "ro_sms_cca_event"),
            ro_sms_ccr_event(),
        ),
        (
            "IMS initial",
            ("ims_ccr_initial", "ims_cca_initial"),
            ims_ccr_initial(),
        ),
    ];
    for (label, stem, req) in cases {
        relay(label, stem, &c, &s, 4, req, cca_for, r).await;
    }
    relay("SIP", ("uar", "uaa"), &c, &s, 6, uar(), uaa_for, r).await;
    relay("SIP", ("sar", "saa"), &c, &s, 6, sar(), saa_for, r).await;
    relay("SIP", ("lir", "lia"), &c, &s, 6, lir(), lia_for, r).await;
    relay("SIP", ("mar", "maa"), &c, &s, 6, mar(), maa_for, r).await;
    // Server -> client: the server's only peer is freeDiameter (a relay), which routes on
    // Destination-Host to its peer client.a.net.
    relay("SIP", ("rtr", "rta"), &s, &c, 6, rtr(), rta_for, r).await;
    relay("SIP", ("ppr", "ppa"), &s, &c, 6, ppr(), ppa_for, r).await;
    for line in &report {
        eprintln!("{line}");
    }
    assert_eq!(report.len(), 22);

    // What freeDiameter understood of our messages: its dbg_msg_dumps trees name every
    // AVP it resolved in its own dictionaries; none is left unresolved, and it logged no
    // parsing or routing error and dropped nothing.
    let log = fd.daemon.output();
    if std::env::var_os("INTEROP_KEEP").is_some() {
        write_file(&dir.path().join("freeDiameter.log"), &log);
    }
    for bad in [
        "PARSING ERROR",
        "ROUTING ERROR",
        "DROPPED",
        "FAILOVER",
        "ERROR",
    ] {
        assert!(!log.contains(bad), "freeDiameter logged {bad:?}:\n{log}");
    }
    let avp_lines: Vec<&str> = log.lines().filter(|l| l.contains("AVP: ")).collect();
    let unresolved: Vec<&&str> = avp_lines.iter().filter(|l| !l.contains("AVP: '")).collect();
    assert!(
        unresolved.is_empty(),
        "AVPs freeDiameter did not find in its dictionaries: {unresolved:#?}"
    );
    for name in [
        "Multiple-Services-Credit-Control",
        "Requested-Service-Unit",
        "Used-Service-Unit",
        "Subscription-Id",
        "Service-Information",
        "PS-Information",
        "3GPP-Charging-Id",
        "SMS-Information",
        "Recipient-Info",
        "IMS-Information",
        "SDP-Media-Component",
        "SIP-Server-Capabilities",
        "SIP-Server-URI",
        "SIP-User-Data",
        "SIP-Accounting-Information",
        "SIP-Auth-Data-Item",
        "SIP-Authorization",
        "SIP-Authenticate",
        "SIP-Deregistration-Reason",
    ] {
        assert!(
            log.contains(&format!("AVP: '{name}'(")),
            "freeDiameter's dump does not name {name}"
        );
    }
    eprintln!(
        "{TEST}: freeDiameter resolved all {} AVPs of its dumps in its dictionaries",
        avp_lines.len()
    );
    // The connections stayed up through all of it (nothing made either side drop them).
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, NodeEvent::PeerDown { .. }),
            "client lost freeDiameter: {e:?}"
        );
    }
    assert!(client.is_peer_available(FD_HOST) && server.is_peer_available(FD_HOST));
    fd.daemon.terminate();
    assert_eq!(
        fd.daemon.wait_exit_async(LIMIT).await,
        Some(0),
        "freeDiameterd exit"
    );

    let mut frames = to_server.frames();
    frames.extend(to_client.frames());
    for f in frames.iter().filter(|f| f.from_initiator) {
        check_peer_message("freeDiameter message", &f.bytes);
    }
    tshark_clean(dir.path(), &frames);
    if let Some(l) = live {
        l.finish_and_check_allowing(TEST, frames.len(), &["Data is empty"]);
    }
}
