//! Wire proof: messages encoded with the typed structs are decoded by tshark (Wireshark's
//! own, independent Diameter dissector and dictionary) without a malformed packet, an expert
//! warning or error, or an AVP it does not know.
//!
//! The messages: a Gy CCR/CCA-Initial, -Update and -Termination with Service-Information →
//! PS-Information and Multiple-Services-Credit-Control (Requested-/Used-/Granted-Service-Unit),
//! Subscription-Id (also credit pools, Tariff-Time-Change with the usage split by
//! Tariff-Change-Usage, Quota-Consumption-Time, Trigger, Low-Balance-Indication); a Ro
//! CCR/CCA-Event for an SMS with SMS-Information; an IMS CCR/CCA with IMS-Information; an Rf
//! ACR/ACA START and STOP with IMS Service-Information; every SIP application command (RFC 4740)
//! and every base command
//! (RFC 6733), each request with its answer. They go into one pcap file (one TCP connection
//! to port 3868, `target/tmp/diameter-wire-proof.pcap`), which tshark dissects as PDML.
//!
//! Checked per message: tshark sees the same command and R flag, the same AVPs in the same
//! order and nesting (so it agrees on every length, padding and grouped boundary), no AVP
//! shown as unknown, and no expert item of severity Warning or Error (or of the Malformed
//! group, such as non-zero padding) and no malformed packet anywhere in the capture; IP and
//! TCP checksums are verified too. Two kinds of expert item are reported but tolerated:
//! one inside an AVP for which `tests/crosscheck-allow.txt` records that Wireshark's
//! dictionary is wrong or incomplete (`type ws` / `missing ws` lines, each with the spec
//! citation), and Wireshark's "Data is empty" on a Grouped AVP whose grammar requires no
//! member (the empty Requested-Service-Unit of a Gy CCR-Initial). A second test feeds
//! deliberately broken messages through the same check to prove it reports them.
//!
//! Skipped with a message when `tshark` is not installed (Debian package `tshark`), unless
//! `REQUIRE_TSHARK` is set, as CI should do. `TSHARK` names another binary.

mod pcap;
mod samples;
use samples::*;

use diameter::core::bytes::Bytes;
use diameter::core::dictionary::DataType;
use diameter::core::{Command, Limits, RawAvp, RawMessage};
use diameter::dict::base_rfc6733::*;
use diameter::dict::dcca_rfc4006::*;
use diameter::dict::sip_rfc4740::*;
use diameter::dict::tgpp_ts32299::*;
use diameter::dict::DICTIONARY;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

const TGPP: u32 = 10_415;

// ---------------------------------------------------------------------------------------
// The messages

/// One encoded message and what it is.
struct Sent {
    label: String,
    from_client: bool,
    wire: Bytes,
}

#[derive(Default)]
struct Capture {
    sent: Vec<Sent>,
    hop: u32,
}

impl Capture {
    /// A request from the client and its answer from the server, under the given
    /// Application-Id (the command's own when `None`).
    fn exchange<Q: Command, A: Command>(
        &mut self,
        label: &str,
        app: Option<u32>,
        req: &Q,
        ans: &A,
    ) {
        self.hop += 1;
        let (hop, e2e) = (0x1000 + self.hop, 0x5a00_0000 + self.hop);
        let req_wire = req
            .encode_with(app.unwrap_or(Q::APPLICATION_ID), hop, e2e)
            .freeze();
        let ans_wire = ans
            .encode_with(app.unwrap_or(A::APPLICATION_ID), hop, e2e)
            .freeze();
        self.sent.push(Sent {
            label: format!("{label} {}", Q::SHORT_NAME),
            from_client: true,
            wire: req_wire,
        });
        self.sent.push(Sent {
            label: format!("{label} {}", A::SHORT_NAME),
            from_client: false,
            wire: ans_wire,
        });
    }
}

const CLIENT: &str = "pgw.example.net";
const SERVER: &str = "ocs.example.net";
const REALM: &str = "example.net";

fn gy_ccr(kind: CcRequestType, number: u32, mscc: MultipleServicesCreditControl) -> Ccr {
    Ccr {
        session_id: "pgw.example.net;1700000000;1".into(),
        origin_host: CLIENT.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        ..samples::gy_ccr(kind, number, mscc)
    }
}

fn cca(req: &Ccr, mscc: Vec<MultipleServicesCreditControl>) -> Cca {
    Cca {
        session_id: req.session_id.clone(),
        result_code: 2001,
        origin_host: SERVER.into(),
        origin_realm: REALM.into(),
        auth_application_id: 4,
        cc_request_type: req.cc_request_type,
        cc_request_number: req.cc_request_number,
        multiple_services_credit_control: mscc.into(),
        ..Default::default()
    }
}

fn granted(mscc: MultipleServicesCreditControl) -> MultipleServicesCreditControl {
    MultipleServicesCreditControl {
        granted_service_unit: some(GrantedServiceUnit {
            cc_total_octets: Some(10_000_000),
            ..Default::default()
        }),
        rating_group: Some(100),
        validity_time: Some(3600),
        result_code: Some(2001),
        volume_quota_threshold: Some(1_000_000),
        ..mscc
    }
}

fn gy(c: &mut Capture) {
    let ccr_i = gy_ccr(
        CcRequestType::InitialRequest,
        0,
        MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit::default()),
            service_identifier: vec![1].into(),
            rating_group: Some(100),
            ..Default::default()
        },
    );
    let cca_i = cca(&ccr_i, vec![granted(Default::default())]);
    c.exchange("Gy initial", None, &ccr_i, &cca_i);

    let ccr_u = gy_ccr(
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
    );
    let cca_u = cca(&ccr_u, vec![granted(Default::default())]);
    c.exchange("Gy update", None, &ccr_u, &cca_u);

    let rar = Rar {
        session_id: ccr_i.session_id.clone(),
        origin_host: SERVER.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        destination_host: CLIENT.into(),
        auth_application_id: 4,
        re_auth_request_type: ReAuthRequestType::AuthorizeOnly,
        ..Default::default()
    };
    let raa = Raa {
        session_id: ccr_i.session_id.clone(),
        result_code: 2001,
        origin_host: CLIENT.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("Gy", Some(4), &rar, &raa);

    // RFC 8506 §5.5 / §10.2: a RAR narrowed to a sub-session, pool, service and rating
    // group; the RAA echoes them.
    let scoped = Rar {
        cc_sub_session_id: Some(1),
        g_s_u_pool_identifier: Some(7),
        service_identifier: Some(1),
        rating_group: Some(100),
        ..rar.clone()
    };
    let scoped_raa = Raa {
        result_code: 2002,
        cc_sub_session_id: Some(1),
        g_s_u_pool_identifier: Some(7),
        service_identifier: Some(1),
        rating_group: Some(100),
        ..raa.clone()
    };
    c.exchange("Gy scoped", Some(4), &scoped, &scoped_raa);

    let ccr_t = gy_ccr(
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
    );
    let cca_t = cca(
        &ccr_t,
        vec![MultipleServicesCreditControl {
            rating_group: Some(100),
            result_code: Some(2001),
            ..Default::default()
        }],
    );
    c.exchange("Gy termination", None, &ccr_t, &cca_t);

    // RFC 8506 §5.6: per-tariff final units (REDIRECT to a top-up URL with a zero-rated
    // filter, RESTRICT_ACCESS with filters), then the report of the used final units
    // without Requested-Service-Unit, answered with Validity-Time only.
    let fui_redirect = FinalUnitIndication {
        final_unit_action: FinalUnitAction::Redirect,
        filter_id: vec!["zero-rated".into()].into(),
        redirect_server: Some(RedirectServer {
            redirect_address_type: RedirectAddressType::Url,
            redirect_server_address: "https://topup.example.net/".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let fui_restrict = FinalUnitIndication {
        final_unit_action: FinalUnitAction::RestrictAccess,
        filter_id: vec!["walled-garden".into()].into(),
        restriction_filter_rule: vec!["permit out ip from any to 192.0.2.10".into()].into(),
        ..Default::default()
    };
    let cca_final = cca(
        &ccr_u,
        vec![
            granted(MultipleServicesCreditControl {
                final_unit_indication: Some(fui_redirect.into()),
                ..Default::default()
            }),
            MultipleServicesCreditControl {
                rating_group: Some(200),
                ..granted(MultipleServicesCreditControl {
                    final_unit_indication: Some(fui_restrict.into()),
                    ..Default::default()
                })
            },
        ],
    );
    c.exchange("Gy final units", None, &ccr_u, &cca_final);
    let ccr_report = gy_ccr(
        CcRequestType::UpdateRequest,
        3,
        MultipleServicesCreditControl {
            used_service_unit: vec![UsedServiceUnit {
                reporting_reason: Some(ReportingReason::QuotaExhausted),
                ..used(2_000_000)
            }]
            .into(),
            rating_group: Some(100),
            ..Default::default()
        },
    );
    let cca_report = cca(
        &ccr_report,
        vec![MultipleServicesCreditControl {
            rating_group: Some(100),
            result_code: Some(2001),
            validity_time: Some(600),
            ..Default::default()
        }],
    );
    c.exchange("Gy final report", None, &ccr_report, &cca_report);

    // RFC 8506 §8.22: a request for money, granted as octets with their price.
    let money = |value_digits| CcMoney {
        unit_value: UnitValue {
            value_digits,
            exponent: Some(-2),
            ..Default::default()
        },
        currency_code: Some(978),
        ..Default::default()
    };
    let ccr_money = gy_ccr(
        CcRequestType::UpdateRequest,
        4,
        MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit {
                cc_money: Some(money(35)),
                ..Default::default()
            }),
            used_service_unit: vec![UsedServiceUnit {
                cc_money: Some(money(20)),
                ..Default::default()
            }]
            .into(),
            reporting_reason: vec![ReportingReason::Qht].into(),
            rating_group: Some(100),
            ..Default::default()
        },
    );
    let cca_money = cca(
        &ccr_money,
        vec![MultipleServicesCreditControl {
            granted_service_unit: some(GrantedServiceUnit {
                cc_total_octets: Some(3_000_000),
                cc_money: Some(money(30)),
                ..Default::default()
            }),
            quota_holding_time: Some(30),
            ..granted(Default::default())
        }],
    );
    c.exchange("Gy money", None, &ccr_money, &cca_money);

    // RFC 8506 §5.1.2 / §5.3, TS 32.299: a grant into credit pool 1 (multiplier 0.01) that
    // crosses a tariff change, with Quota-Consumption-Time and a Trigger; the report splits
    // the usage by Tariff-Change-Usage (pool exhausted, then a rating condition change),
    // and the answer says the balance is low.
    let pooled = MultipleServicesCreditControl {
        granted_service_unit: some(GrantedServiceUnit {
            tariff_time_change: diameter::core::Time::from_unix_seconds(1_700_006_400),
            cc_time: Some(300),
            ..Default::default()
        }),
        rating_group: Some(200),
        g_s_u_pool_reference: vec![GSUPoolReference {
            g_s_u_pool_identifier: 1,
            cc_unit_type: CcUnitType::Time,
            unit_value: UnitValue {
                value_digits: 1,
                exponent: Some(-2),
                ..Default::default()
            },
            ..Default::default()
        }]
        .into(),
        validity_time: Some(600),
        result_code: Some(2001),
        quota_consumption_time: Some(10),
        trigger: Some(
            Trigger {
                trigger_type: vec![TriggerType::ChangeInQos, TriggerType::ChangeInRat].into(),
                ..Default::default()
            }
            .into(),
        ),
        ..Default::default()
    };
    let cca_pool = cca(&ccr_i, vec![pooled.clone()]);
    c.exchange("Gy pool and tariff change", None, &ccr_i, &cca_pool);
    let split = |tcu, secs| UsedServiceUnit {
        tariff_change_usage: Some(tcu),
        cc_time: Some(secs),
        ..Default::default()
    };
    let ccr_split = gy_ccr(
        CcRequestType::UpdateRequest,
        5,
        MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit::default()),
            used_service_unit: vec![
                split(TariffChangeUsage::UnitBeforeTariffChange, 240),
                split(TariffChangeUsage::UnitAfterTariffChange, 120),
            ]
            .into(),
            rating_group: Some(200),
            reporting_reason: vec![
                ReportingReason::PoolExhausted,
                ReportingReason::RatingConditionChange,
            ]
            .into(),
            ..Default::default()
        },
    );
    let cca_split = Cca {
        low_balance_indication: Some(LowBalanceIndication::Yes),
        ..cca(&ccr_split, vec![pooled])
    };
    c.exchange("Gy tariff split", None, &ccr_split, &cca_split);
}

fn sms(c: &mut Capture) {
    let ccr = Ccr {
        session_id: "smsc.example.net;1700000000;2".into(),
        origin_host: "smsc.example.net".into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        ..samples::ro_sms_ccr_event()
    };
    let cca = Cca {
        granted_service_unit: None,
        // What the OCS adds to a direct debit's CCA: the cost, and the low-balance flag.
        cost_information: Some(CostInformation {
            unit_value: UnitValue {
                value_digits: 9,
                exponent: Some(-2),
                ..Default::default()
            },
            currency_code: 978,
            ..Default::default()
        }),
        low_balance_indication: Some(LowBalanceIndication::Yes),
        ..cca(
            &ccr,
            vec![MultipleServicesCreditControl {
                granted_service_unit: some(GrantedServiceUnit {
                    cc_service_specific_units: Some(1),
                    ..Default::default()
                }),
                service_identifier: vec![4].into(),
                result_code: Some(2001),
                ..Default::default()
            }],
        )
    };
    c.exchange("Ro SMS event", None, &ccr, &cca);

    // RFC 8506 §8.3: an event without Requested-Action is answered 5005 with the missing
    // AVP (zeroed, RFC 6733 §7.5) in Failed-AVP, as the OCS does.
    let bare = Ccr {
        requested_action: None,
        ..ccr.clone()
    };
    let missing = Cca {
        result_code: 5005,
        failed_avp: vec![FailedAvp {
            other: vec![RawAvp::new(
                436,
                diameter::core::AvpFlags::MANDATORY,
                0,
                Bytes::from_static(&[0; 4]),
            )]
            .into(),
        }]
        .into(),
        ..self::cca(&bare, Vec::new())
    };
    c.exchange("Ro event without Requested-Action", None, &bare, &missing);

    // RFC 8506 §5.1.2: several MSCCs without Multiple-Services-Indicator, answered 5005
    // naming it, as the OCS does.
    let no_msi = Ccr {
        multiple_services_indicator: None,
        ..ccr.clone()
    };
    let missing_msi = Cca {
        result_code: 5005,
        failed_avp: vec![FailedAvp {
            other: vec![RawAvp::new(
                455,
                diameter::core::AvpFlags::MANDATORY,
                0,
                Bytes::from_static(&[0; 4]),
            )]
            .into(),
        }]
        .into(),
        ..self::cca(&no_msi, Vec::new())
    };
    c.exchange(
        "Ro event without Multiple-Services-Indicator",
        None,
        &no_msi,
        &missing_msi,
    );
}

fn ims(c: &mut Capture) {
    let ccr = Ccr {
        session_id: "scscf.example.net;1700000000;3".into(),
        origin_host: "scscf.example.net".into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        ..samples::ims_ccr_initial()
    };
    let cca = cca(
        &ccr,
        vec![MultipleServicesCreditControl {
            granted_service_unit: some(GrantedServiceUnit {
                cc_time: Some(300),
                ..Default::default()
            }),
            rating_group: Some(200),
            result_code: Some(2001),
            ..Default::default()
        }],
    );
    c.exchange("IMS initial", None, &ccr, &cca);
}

fn sip_commands(c: &mut Capture) {
    const CSCF: &str = "icscf.ims.example.net";
    const SIP_SERVER: &str = "sip.ims.example.net";
    const AOR: &str = "sip:alice@ims.example.net";
    let session =
        |n: u32| -> diameter::core::Utf8String { format!("{CSCF};1700000000;{}", 100 + n).into() };
    let user_data = || SipUserData {
        sip_user_data_type: "application/xml".into(),
        sip_user_data_contents: Bytes::from_static(b"<profile user=\"alice\"/>"),
        ..Default::default()
    };
    let accounting = || SipAccountingInformation {
        sip_accounting_server_uri: vec![uri("aaa://acct.ims.example.net:3868;transport=tcp")]
            .into(),
        sip_credit_control_server_uri: vec![uri("aaa://ocs.ims.example.net")].into(),
        ..Default::default()
    };

    let uar = Uar {
        session_id: session(1),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        sip_aor: AOR.into(),
        user_name: Some("alice@ims.example.net".into()),
        sip_visited_network_id: Some("visited.example.org".into()),
        sip_user_authorization_type: Some(SipUserAuthorizationType::Registration),
        ..Default::default()
    };
    let uaa = Uaa {
        session_id: session(1),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        result_code: 2003,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        sip_server_capabilities: some(SipServerCapabilities {
            sip_mandatory_capability: vec![1].into(),
            sip_optional_capability: vec![2, 3].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    c.exchange("SIP", None, &uar, &uaa);

    let sar = Sar {
        session_id: session(2),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        sip_server_assignment_type: SipServerAssignmentType::Registration,
        sip_user_data_already_available: SipUserDataAlreadyAvailable::UserDataNotAvailable,
        user_name: Some("alice@ims.example.net".into()),
        sip_server_uri: Some("sip:scscf.ims.example.net".into()),
        sip_supported_user_data_type: vec!["application/xml".into()].into(),
        sip_aor: vec![AOR.into()].into(),
        ..Default::default()
    };
    let saa = Saa {
        session_id: session(2),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        sip_user_data: vec![user_data()].into(),
        sip_accounting_information: some(accounting()),
        user_name: Some("alice@ims.example.net".into()),
        ..Default::default()
    };
    c.exchange("SIP", None, &sar, &saa);

    let lir = Lir {
        session_id: session(3),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        sip_aor: AOR.into(),
        ..Default::default()
    };
    let lia = Lia {
        session_id: session(3),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        sip_server_uri: Some("sip:scscf.ims.example.net".into()),
        ..Default::default()
    };
    c.exchange("SIP", None, &lir, &lia);

    let mar = Mar {
        session_id: session(4),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        sip_aor: AOR.into(),
        sip_method: "REGISTER".into(),
        user_name: Some("alice@ims.example.net".into()),
        sip_server_uri: Some("sip:scscf.ims.example.net".into()),
        sip_number_auth_items: Some(1),
        sip_auth_data_item: some(SipAuthDataItem {
            sip_authentication_scheme: SipAuthenticationScheme::Digest,
            sip_authorization: some(SipAuthorization {
                digest_username: "alice".into(),
                digest_realm: "ims.example.net".into(),
                digest_nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
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
    };
    let maa = Maa {
        session_id: session(4),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        user_name: Some("alice@ims.example.net".into()),
        sip_aor: Some(AOR.into()),
        sip_number_auth_items: Some(1),
        sip_auth_data_item: vec![SipAuthDataItem {
            sip_authentication_scheme: SipAuthenticationScheme::Digest,
            sip_item_number: Some(1),
            sip_authenticate: some(SipAuthenticate {
                digest_realm: "ims.example.net".into(),
                digest_nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
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
    };
    c.exchange("SIP", None, &mar, &maa);

    // RFC 4740 §9.6: a MAR asking for two items, answered with two challenges, each with
    // its own nonce and SIP-Item-Number (as the SIP AAA server does).
    let mar2 = Mar {
        sip_number_auth_items: Some(2),
        sip_auth_data_item: None,
        ..mar.clone()
    };
    let challenge = |n: u32, nonce: &str| SipAuthDataItem {
        sip_authentication_scheme: SipAuthenticationScheme::Digest,
        sip_item_number: Some(n),
        sip_authenticate: some(SipAuthenticate {
            digest_realm: "ims.example.net".into(),
            digest_nonce: nonce.into(),
            digest_algorithm: Some("MD5".into()),
            digest_qop: Some("auth".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let maa2 = Maa {
        result_code: 1001,
        sip_number_auth_items: Some(2),
        sip_auth_data_item: vec![
            challenge(1, "0a4f113b6ab3c1f1a0f6e1b7c4d1e2f3"),
            challenge(2, "1b5e224c7bc4d2e2b1e7f2c8d5e2f3a4"),
        ]
        .into(),
        ..maa.clone()
    };
    c.exchange("SIP several challenges", None, &mar2, &maa2);

    let rtr = Rtr {
        session_id: session(5),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        destination_realm: Some(REALM.into()),
        destination_host: "scscf.ims.example.net".into(),
        sip_deregistration_reason: SipDeregistrationReason {
            sip_reason_code: SipReasonCode::PermanentTermination,
            sip_reason_info: Some("subscription ended".into()),
            ..Default::default()
        },
        user_name: Some("alice@ims.example.net".into()),
        sip_aor: vec![AOR.into()].into(),
        ..Default::default()
    };
    let rta = Rta {
        session_id: session(5),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: "scscf.ims.example.net".into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("SIP", None, &rtr, &rta);

    let ppr = Ppr {
        session_id: session(6),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        user_name: "alice@ims.example.net".into(),
        destination_host: Some("scscf.ims.example.net".into()),
        sip_user_data: vec![user_data()].into(),
        sip_accounting_information: some(accounting()),
        ..Default::default()
    };
    let ppa = Ppa {
        session_id: session(6),
        auth_application_id: 6,
        result_code: 2001,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: "scscf.ims.example.net".into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("SIP", None, &ppr, &ppa);

    let str_ = Str {
        session_id: session(7),
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        auth_application_id: 6,
        termination_cause: TerminationCause::DiameterLogout,
        user_name: Some("alice@ims.example.net".into()),
        ..Default::default()
    };
    let sta = Sta {
        session_id: session(7),
        result_code: 2001,
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("SIP", Some(6), &str_, &sta);

    let asr = Asr {
        session_id: session(8),
        origin_host: SIP_SERVER.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        destination_host: CSCF.into(),
        auth_application_id: 6,
        ..Default::default()
    };
    let asa = Asa {
        session_id: session(8),
        result_code: 2001,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("SIP", Some(6), &asr, &asa);
}

fn capabilities(c: &mut Capture) {
    let cer = Cer {
        origin_host: CLIENT.into(),
        origin_realm: REALM.into(),
        host_ip_address: vec![v4(192, 0, 2, 1)].into(),
        vendor_id: TGPP,
        product_name: "diameter-rs".into(),
        origin_state_id: Some(1),
        supported_vendor_id: vec![TGPP].into(),
        auth_application_id: vec![4, 6].into(),
        inband_security_id: vec![0].into(),
        acct_application_id: vec![3].into(),
        vendor_specific_application_id: vec![VendorSpecificApplicationId {
            vendor_id: TGPP,
            auth_application_id: Some(4),
            ..Default::default()
        }]
        .into(),
        firmware_revision: Some(1),
        ..Default::default()
    };
    let cea = Cea {
        result_code: 2001,
        origin_host: SERVER.into(),
        origin_realm: REALM.into(),
        host_ip_address: vec![v4(192, 0, 2, 2)].into(),
        vendor_id: TGPP,
        product_name: "diameter-rs".into(),
        // As `serve ocs` advertises: 3GPP vendor, VSAI {10415, Auth 4} (TS 32.299).
        supported_vendor_id: vec![TGPP].into(),
        auth_application_id: vec![4, 6].into(),
        acct_application_id: vec![3].into(),
        vendor_specific_application_id: vec![VendorSpecificApplicationId {
            vendor_id: TGPP,
            auth_application_id: Some(4),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    c.exchange("base", None, &cer, &cea);

    let dwr = Dwr {
        origin_host: CLIENT.into(),
        origin_realm: REALM.into(),
        origin_state_id: Some(1),
        ..Default::default()
    };
    let dwa = Dwa {
        result_code: 2001,
        origin_host: SERVER.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("base", None, &dwr, &dwa);
}

fn accounting_and_disconnect(c: &mut Capture) {
    let acr = Acr {
        session_id: "pgw.example.net;1700000000;9".into(),
        origin_host: CLIENT.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        accounting_record_type: AccountingRecordType::EventRecord,
        accounting_record_number: 0,
        acct_application_id: Some(3),
        user_name: Some("alice@example.net".into()),
        acct_session_id: Some(Bytes::from_static(&[0, 0, 0, 9])),
        event_timestamp: Some(time(20)),
        ..Default::default()
    };
    let aca = Aca {
        session_id: acr.session_id.clone(),
        result_code: 2001,
        origin_host: SERVER.into(),
        origin_realm: REALM.into(),
        accounting_record_type: AccountingRecordType::EventRecord,
        accounting_record_number: 0,
        acct_application_id: Some(3),
        ..Default::default()
    };
    c.exchange("base", None, &acr, &aca);

    // A session's START as the accounting client sends it, the ACA of `diameter serve
    // acct` with the interval, and its 5004 refusal naming Accounting-Record-Number.
    let start = Acr {
        session_id: "sbc.example.net;1700000000;10".into(),
        accounting_record_type: AccountingRecordType::StartRecord,
        acct_interim_interval: Some(300),
        accounting_realtime_required: Some(AccountingRealtimeRequired::GrantAndStore),
        acct_session_id: None,
        ..acr.clone()
    };
    let started = Aca {
        session_id: start.session_id.clone(),
        accounting_record_type: AccountingRecordType::StartRecord,
        acct_interim_interval: Some(300),
        user_name: start.user_name.clone(),
        ..aca.clone()
    };
    c.exchange("base", None, &start, &started);
    let refused = Aca {
        result_code: 5004,
        failed_avp: Some(FailedAvp {
            other: vec![RawAvp::new(485, 0x40, 0, Bytes::from_static(&[0, 0, 0, 0]))].into(),
        }),
        ..started.clone()
    };
    c.exchange("base", None, &start, &refused);

    let dpr = Dpr {
        origin_host: CLIENT.into(),
        origin_realm: REALM.into(),
        disconnect_cause: DisconnectCause::Rebooting,
        ..Default::default()
    };
    let dpa = Dpa {
        result_code: 2001,
        origin_host: SERVER.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    c.exchange("base", None, &dpr, &dpa);
}

/// Rf (TS 32.299 §6.2.2): an IMS ACR START and STOP with Service-Context-Id and
/// Service-Information → IMS-Information (Event-Type, Role-Of-Node, Node-Functionality).
fn rf(c: &mut Capture) {
    let ims = samples::ims_ccr_initial();
    let start = Acr {
        session_id: "scscf.example.net;1700000000;11".into(),
        origin_host: "scscf.example.net".into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        accounting_record_type: AccountingRecordType::StartRecord,
        accounting_record_number: 0,
        acct_application_id: Some(3),
        event_timestamp: Some(time(30)),
        service_context_id: Some("32260@3gpp.org".into()),
        service_information: ims.service_information.clone(),
        ..Default::default()
    };
    let aca = Aca {
        session_id: start.session_id.clone(),
        result_code: 2001,
        origin_host: "cdf.example.net".into(),
        origin_realm: REALM.into(),
        accounting_record_type: AccountingRecordType::StartRecord,
        accounting_record_number: 0,
        acct_application_id: Some(3),
        ..Default::default()
    };
    c.exchange("Rf", None, &start, &aca);
    let stop = Acr {
        accounting_record_type: AccountingRecordType::StopRecord,
        accounting_record_number: 1,
        ..start
    };
    let stopped = Aca {
        accounting_record_type: AccountingRecordType::StopRecord,
        accounting_record_number: 1,
        ..aca
    };
    c.exchange("Rf", None, &stop, &stopped);
}

fn all_messages() -> Vec<Sent> {
    let mut c = Capture::default();
    capabilities(&mut c);
    gy(&mut c);
    sms(&mut c);
    ims(&mut c);
    sip_commands(&mut c);
    accounting_and_disconnect(&mut c);
    sip_redirect_and_sessions(&mut c);
    rf(&mut c);
    c.sent
}

// ---------------------------------------------------------------------------------------
// Our view of each message: the AVP tree, grouped AVPs opened per our dictionary

#[derive(Debug)]
struct Avp {
    vendor: u32,
    code: u32,
    children: Vec<Avp>,
}

fn our_tree(avps: diameter::core::AvpIter<'_>) -> Vec<Avp> {
    avps.map(|a| {
        let a = a.expect("our own encoding parses");
        let grouped = DICTIONARY
            .avp(a.code, a.vendor)
            .is_some_and(|i| i.data_type == DataType::Grouped);
        Avp {
            vendor: a.vendor,
            code: a.code,
            children: if grouped {
                our_tree(a.children())
            } else {
                Vec::new()
            },
        }
    })
    .collect()
}

fn avp_name(vendor: u32, code: u32) -> String {
    match DICTIONARY.avp(code, vendor) {
        Some(i) => format!("{} ({vendor}:{code})", i.name),
        None => format!("{vendor}:{code}"),
    }
}

// ---------------------------------------------------------------------------------------
// PDML, read as a tree of elements

#[derive(Debug, Default)]
struct Node {
    tag: String,
    name: String,
    showname: String,
    show: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The `diameter.avp` elements directly below this one (not inside a nested AVP).
    fn avps(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        for c in &self.children {
            if c.name == "diameter.avp" {
                out.push(c);
            } else {
                out.extend(c.avps());
            }
        }
        out
    }

    /// (vendor, code) of a `diameter.avp` element.
    fn avp_key(&self) -> (u32, u32) {
        let code = self
            .child("diameter.avp.code")
            .and_then(|c| c.show.parse().ok())
            .unwrap_or(u32::MAX);
        let vendor = self
            .child("diameter.avp.vendorId")
            .and_then(|c| c.show.parse().ok())
            .unwrap_or(0);
        (vendor, code)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Parses PDML into `packet` nodes.
fn parse_pdml(text: &str) -> Vec<Node> {
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        // The tag ends at the first '>' outside quotes.
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, ch)| {
                if ch == '"' {
                    quoted = !quoted;
                }
                ch == '>' && !quoted
            })
            .map(|(i, _)| i)
            .expect("PDML tag end");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if tag.starts_with('/') {
            let done = stack.pop().expect("balanced PDML");
            stack.last_mut().expect("PDML root").children.push(done);
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let mut node = Node {
            tag: tag.split_whitespace().next().unwrap_or("").to_string(),
            ..Default::default()
        };
        let mut attrs = tag;
        while let Some(eq) = attrs.find("=\"") {
            let key = attrs[..eq].rsplit(' ').next().unwrap_or("");
            let after = &attrs[eq + 2..];
            let close = after.find('"').expect("attribute end");
            let value = unescape(&after[..close]);
            match key {
                "name" => node.name = value,
                "showname" => node.showname = value,
                "show" => node.show = value,
                _ => {}
            }
            attrs = &after[close + 1..];
        }
        if self_closing {
            stack.last_mut().expect("PDML root").children.push(node);
        } else {
            stack.push(node);
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced PDML");
    let root = stack.pop().unwrap();
    let mut packets = Vec::new();
    for n in root.children {
        if n.tag == "pdml" {
            packets.extend(n.children.into_iter().filter(|p| p.tag == "packet"));
        } else if n.tag == "packet" {
            packets.push(n);
        }
    }
    packets
}

// ---------------------------------------------------------------------------------------
// Findings

/// Expert severity Warning (epan/proto.h); Error is above it.
const PI_WARN: u32 = 0x0060_0000;
/// Expert group Malformed: reported whatever the severity ("Padding is non-zero" is a Note).
const PI_MALFORMED: u32 = 0x0700_0000;

/// One problem tshark showed, with the innermost AVP it sits in.
struct Finding {
    frame: String,
    avp: Option<(u32, u32)>,
    /// The expert message alone, when it is an expert item.
    message: String,
    what: String,
}

impl Finding {
    /// Why this finding is acceptable, if it is: the AVP is a recorded Wireshark dictionary
    /// gap, or Wireshark's "Data is empty" warning hits a Grouped AVP whose grammar has no
    /// required member (an empty Requested-Service-Unit is the usual Gy CCR-Initial).
    fn excuse(&self, gaps: &BTreeSet<(u32, u32)>) -> Option<&'static str> {
        let (vendor, code) = self.avp?;
        if gaps.contains(&(vendor, code)) {
            return Some("Wireshark dictionary gap recorded in tests/crosscheck-allow.txt");
        }
        let info = DICTIONARY.avp(code, vendor)?;
        let may_be_empty = info
            .grouped
            .is_some_and(|g| g.entries.iter().all(|e| e.min == 0));
        (self.message == "Data is empty" && may_be_empty)
            .then_some("empty Grouped AVP: its grammar requires no member")
    }
}

/// Expert items of severity Warning or above or in the Malformed group, malformed-packet
/// markers and unknown AVPs.
fn findings(node: &Node, frame: &str, avp: Option<(u32, u32)>, out: &mut Vec<Finding>) {
    let avp = if node.name == "diameter.avp" {
        if node.showname.starts_with("AVP: Unknown(") {
            out.push(Finding {
                frame: frame.to_string(),
                avp: Some(node.avp_key()),
                message: String::new(),
                what: format!("unknown AVP: {}", node.showname),
            });
        }
        Some(node.avp_key())
    } else {
        avp
    };
    if node.name == "_ws.expert" {
        let severity: u32 = node
            .child("_ws.expert.severity")
            .and_then(|s| s.show.parse().ok())
            .unwrap_or(u32::MAX);
        let group: u32 = node
            .child("_ws.expert.group")
            .and_then(|s| s.show.parse().ok())
            .unwrap_or(0);
        if severity >= PI_WARN || group == PI_MALFORMED {
            out.push(Finding {
                frame: frame.to_string(),
                avp,
                message: node
                    .child("_ws.expert.message")
                    .map_or(String::new(), |m| m.show.clone()),
                what: node.showname.clone(),
            });
        }
    }
    if node.name == "_ws.malformed" || node.name.starts_with("_ws.malformed.") {
        out.push(Finding {
            frame: frame.to_string(),
            avp,
            message: String::new(),
            what: format!("malformed: {}", node.showname),
        });
    }
    for c in &node.children {
        findings(c, frame, avp, out);
    }
}

/// Compares tshark's AVP tree with ours; `trusted` keys are not opened.
fn compare_tree(
    label: &str,
    path: &str,
    ours: &[Avp],
    theirs: &[&Node],
    tolerated: &BTreeSet<(u32, u32)>,
    problems: &mut Vec<String>,
) -> usize {
    let ours_keys: Vec<(u32, u32)> = ours.iter().map(|a| (a.vendor, a.code)).collect();
    let their_keys: Vec<(u32, u32)> = theirs.iter().map(|n| n.avp_key()).collect();
    if ours_keys != their_keys {
        let fmt = |keys: &[(u32, u32)]| {
            keys.iter()
                .map(|&(v, c)| avp_name(v, c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "{label}: {path}: tshark sees [{}], we sent [{}]",
            fmt(&their_keys),
            fmt(&ours_keys)
        ));
        return 0;
    }
    let mut count = ours.len();
    for (a, n) in ours.iter().zip(theirs) {
        if tolerated.contains(&(a.vendor, a.code)) {
            continue;
        }
        let sub = format!("{path}/{}", avp_name(a.vendor, a.code));
        count += compare_tree(label, &sub, &a.children, &n.avps(), tolerated, problems);
    }
    count
}

/// (vendor, code) of every AVP for which `tests/crosscheck-allow.txt` records a Wireshark
/// dictionary error or gap (`type ws` and `missing ws` lines).
fn wireshark_gaps() -> BTreeSet<(u32, u32)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crosscheck-allow.txt");
    let text = std::fs::read_to_string(&path).expect("tests/crosscheck-allow.txt");
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        let key = line.split('|').next().unwrap_or("");
        let key = key.split('=').next().unwrap_or("");
        let words: Vec<&str> = key.split_whitespace().collect();
        if let ["type" | "missing", "ws", avps] = words.as_slice() {
            let (vendor, codes) = avps.split_once(':').expect("vendor:codes");
            let vendor: u32 = vendor.parse().expect("vendor");
            for range in codes.split(',') {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                let (lo, hi): (u32, u32) = (lo.parse().unwrap(), hi.parse().unwrap());
                out.extend((lo..=hi).map(|c| (vendor, c)));
            }
        }
    }
    out
}

fn tshark() -> Option<PathBuf> {
    let candidate = std::env::var_os("TSHARK").unwrap_or_else(|| "tshark".into());
    let found = Process::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from(candidate));
    }
    assert!(
        std::env::var_os("REQUIRE_TSHARK").is_none(),
        "REQUIRE_TSHARK is set but {candidate:?} does not run"
    );
    eprintln!(
        "skipped: tshark not installed (Debian/Ubuntu: apt-get install tshark; or set TSHARK \
         to its path); the wire proof against Wireshark's dissector did not run"
    );
    None
}

/// What tshark made of a capture.
struct Analysis {
    file: PathBuf,
    /// Disagreements and complaints that fail the test.
    problems: Vec<String>,
    /// Complaints with a recorded reason.
    explained: Vec<String>,
    /// AVPs compared with tshark's tree.
    avps: usize,
}

/// Writes `sent` into `target/tmp/<name>.pcap`, has tshark dissect it, and compares.
fn analyse(tshark: &Path, name: &str, sent: &[Sent]) -> Analysis {
    let mut capture = pcap::Pcap::new();
    for s in sent {
        capture.send(s.from_client, &s.wire);
    }
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.pcap"));
    std::fs::write(&file, capture.finish()).expect("write pcap");

    let out = Process::new(tshark)
        .arg("-r")
        .arg(&file)
        .args(["-T", "pdml"])
        .args(["-o", "ip.check_checksum:TRUE"])
        .args(["-o", "tcp.check_checksum:TRUE"])
        .args(["-o", "tcp.desegment_tcp_streams:TRUE"])
        .args(["-o", "diameter.desegment:TRUE"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let packets = parse_pdml(&String::from_utf8_lossy(&out.stdout));
    let gaps = wireshark_gaps();

    let mut problems = Vec::new();
    let mut explained = Vec::new();
    let mut found = Vec::new();
    let mut pdus: Vec<(String, &Node)> = Vec::new();
    for p in &packets {
        let frame = p
            .child("geninfo")
            .and_then(|g| g.child("num"))
            .map_or("?".to_string(), |n| n.show.clone());
        findings(p, &frame, None, &mut found);
        for proto in p
            .children
            .iter()
            .filter(|c| c.tag == "proto" && c.name == "diameter")
        {
            pdus.push((frame.clone(), proto));
        }
    }
    for f in found {
        let where_ = f.avp.map_or("outside any AVP".to_string(), |(v, c)| {
            format!("in {}", avp_name(v, c))
        });
        let line = format!("frame {} {where_}: {}", f.frame, f.what);
        match f.excuse(&gaps) {
            Some(why) => explained.push(format!("{line} ({why})")),
            None => problems.push(line),
        }
    }
    if pdus.len() != sent.len() {
        problems.push(format!(
            "tshark found {} Diameter messages, we sent {}",
            pdus.len(),
            sent.len()
        ));
    }
    let mut avps = 0;
    for (s, (frame, pdu)) in sent.iter().zip(&pdus) {
        let msg = RawMessage::decode(s.wire.clone(), &Limits::default()).expect("our framing");
        let label = format!("{} (frame {frame})", s.label);
        let code = pdu.child("diameter.cmd.code").map(|c| c.show.as_str());
        if code != Some(msg.header.command_code.to_string().as_str()) {
            problems.push(format!("{label}: tshark shows command {code:?}"));
        }
        let request = pdu
            .child("diameter.flags")
            .and_then(|f| f.child("diameter.flags.request"))
            .map(|f| f.show == "1");
        if request != Some(s.from_client) {
            problems.push(format!("{label}: tshark shows request flag {request:?}"));
        }
        avps += compare_tree(
            &label,
            "",
            &our_tree(msg.avps()),
            &pdu.avps(),
            &gaps,
            &mut problems,
        );
    }
    Analysis {
        file,
        problems,
        explained,
        avps,
    }
}

#[test]
fn tshark_decodes_every_message_without_complaint() {
    let Some(tshark) = tshark() else { return };
    let sent = all_messages();
    let a = analyse(&tshark, "diameter-wire-proof", &sent);
    eprintln!(
        "tshark decoded {} messages, {} AVPs, from {}",
        sent.len(),
        a.avps,
        a.file.display()
    );
    for e in &a.explained {
        eprintln!("tolerated: {e}");
    }
    assert!(
        a.problems.is_empty(),
        "tshark disagrees with our encoding ({}):\n{}",
        a.file.display(),
        a.problems.join("\n")
    );
    assert!(a.avps > 400, "only {} AVPs compared", a.avps);
}

/// The checker itself: broken messages must be reported.
#[test]
fn tshark_check_reports_broken_messages() {
    let Some(tshark) = tshark() else { return };
    let dwr = |other: Vec<RawAvp>| Dwr {
        origin_host: "a.example.net".into(),
        origin_realm: REALM.into(),
        other: other.into(),
        ..Default::default()
    };
    let sent = |label: &str, wire: Bytes| Sent {
        label: label.to_string(),
        from_client: true,
        wire,
    };
    let unknown = dwr(vec![RawAvp::new(
        59_999,
        0x80,
        TGPP,
        Bytes::from_static(b"x"),
    )]);
    // Origin-State-Id (Unsigned32) with three bytes.
    let short = dwr(vec![RawAvp::new(
        278,
        0x40,
        0,
        Bytes::from_static(&[0, 0, 1]),
    )]);
    // Origin-Host's three padding bytes set to 0xff.
    let mut bad_pad = dwr(Vec::new()).encode(9, 9);
    let host_end = 20 + 8 + "a.example.net".len();
    bad_pad[host_end..host_end + 3].copy_from_slice(&[0xff; 3]);
    let cases = [
        sent("unknown AVP", unknown.encode(1, 1).freeze()),
        sent("short Unsigned32", short.encode(2, 2).freeze()),
        sent("non-zero padding", bad_pad.freeze()),
    ];
    for case in cases {
        let a = analyse(
            &tshark,
            "diameter-wire-proof-negative",
            std::slice::from_ref(&case),
        );
        assert!(
            !a.problems.is_empty(),
            "{}: tshark check found nothing in {}",
            case.label,
            a.file.display()
        );
        eprintln!("{}: {}", case.label, a.problems.join("; "));
    }
}

/// The capture covers every command of the base, Credit-Control and SIP dictionaries.
#[test]
fn capture_covers_every_command() {
    let sent: BTreeSet<(u32, bool)> = all_messages()
        .iter()
        .map(|s| {
            let m = RawMessage::decode(s.wire.clone(), &Limits::default()).unwrap();
            (m.header.command_code, s.from_client)
        })
        .collect();
    for c in DICTIONARY.commands {
        for request in [true, false] {
            assert!(
                sent.contains(&(c.code, request)),
                "{} {} is not in the tshark capture",
                c.name,
                if request { "request" } else { "answer" }
            );
        }
    }
}

/// SIP (RFC 4740) messages of the client behind a redirect agent and of STATE_MAINTAINED
/// sessions: a UAA 3006 with Redirect-Host, Redirect-Host-Usage ALL_USER and
/// Redirect-Max-Cache-Time; a MAR asking for three auth items; a SAR/SAA with
/// Authorization-Lifetime and Auth-Grace-Period; the START ACR towards the accounting
/// server an SAA named.
fn sip_redirect_and_sessions(c: &mut Capture) {
    const CSCF: &str = "scscf.ims.example.net";
    const AOR: &str = "sip:bob@ims.example.net";
    let session =
        |n: u32| -> diameter::core::Utf8String { format!("{CSCF};1700000001;{n}").into() };
    let uar = Uar {
        session_id: session(1),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        sip_aor: AOR.into(),
        user_name: Some("bob@ims.example.net".into()),
        ..Default::default()
    };
    let uaa = Uaa {
        session_id: session(1),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        result_code: 3006,
        origin_host: "locator.ims.example.net".into(),
        origin_realm: REALM.into(),
        redirect_host: Some(uri("aaa://aaa2.ims.example.net:3868;transport=tcp")),
        redirect_host_usage: Some(RedirectHostUsage::AllUser),
        redirect_max_cache_time: Some(600),
        ..Default::default()
    };
    c.exchange("SIP redirect", None, &uar, &uaa);

    let mar = Mar {
        session_id: session(2),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::StateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        destination_host: Some("aaa2.ims.example.net".into()),
        sip_aor: AOR.into(),
        sip_method: "REGISTER".into(),
        user_name: Some("bob@ims.example.net".into()),
        sip_number_auth_items: Some(3),
        sip_auth_data_item: some(SipAuthDataItem {
            sip_authentication_scheme: SipAuthenticationScheme::Digest,
            ..Default::default()
        }),
        ..Default::default()
    };
    let maa = Maa {
        session_id: session(2),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::StateMaintained,
        result_code: 1001,
        origin_host: "aaa2.ims.example.net".into(),
        origin_realm: REALM.into(),
        sip_number_auth_items: Some(1),
        authorization_lifetime: Some(3600),
        auth_grace_period: Some(60),
        ..Default::default()
    };
    c.exchange("SIP stateful", None, &mar, &maa);

    let sar = Sar {
        session_id: session(3),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::StateMaintained,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        destination_host: Some("aaa2.ims.example.net".into()),
        sip_server_assignment_type: SipServerAssignmentType::ReRegistration,
        sip_user_data_already_available: SipUserDataAlreadyAvailable::UserDataAlreadyAvailable,
        sip_aor: vec![AOR.into()].into(),
        ..Default::default()
    };
    let saa = Saa {
        session_id: session(3),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::StateMaintained,
        result_code: 2001,
        origin_host: "aaa2.ims.example.net".into(),
        origin_realm: REALM.into(),
        authorization_lifetime: Some(3600),
        auth_grace_period: Some(60),
        ..Default::default()
    };
    c.exchange("SIP stateful", None, &sar, &saa);

    let acr = Acr {
        session_id: session(4),
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        destination_host: Some("acct.ims.example.net".into()),
        accounting_record_type: AccountingRecordType::StartRecord,
        accounting_record_number: 0,
        acct_application_id: Some(3),
        user_name: Some("bob@ims.example.net".into()),
        ..Default::default()
    };
    let aca = Aca {
        session_id: session(4),
        result_code: 2001,
        origin_host: "acct.ims.example.net".into(),
        origin_realm: REALM.into(),
        accounting_record_type: AccountingRecordType::StartRecord,
        accounting_record_number: 0,
        acct_application_id: Some(3),
        ..Default::default()
    };
    c.exchange("SIP accounting", Some(3), &acr, &aca);
}

/// The end of a STATE_MAINTAINED SIP session as the SIP AAA server and client of
/// `diameter-apps` build it (`sip::client::termination::build_str`,
/// `Server::handle_str`, `Server::build_asr`, `answer_asr`), under Application-Id 6:
/// STR with DIAMETER_AUTH_EXPIRED answered 2001, STR for an unknown session answered 5002
/// DIAMETER_UNKNOWN_SESSION_ID, ASR with User-Name answered 2001 and followed by the STR
/// with DIAMETER_ADMINISTRATIVE, and an ASA 5002 from a SIP server that keeps no sessions.
fn sip_session_end(c: &mut Capture) {
    const CSCF: &str = "scscf.ims.example.net";
    const AAA: &str = "aaa.ims.example.net";
    let session =
        |n: u32| -> diameter::core::Utf8String { format!("{CSCF};1700000002;{n}").into() };
    let str_ = |n: u32, cause: TerminationCause| Str {
        session_id: session(n),
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        destination_realm: REALM.into(),
        destination_host: Some(AAA.into()),
        auth_application_id: 6,
        termination_cause: cause,
        ..Default::default()
    };
    let sta = |n: u32, code: u32| Sta {
        session_id: session(n),
        result_code: code,
        origin_host: AAA.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    let asr = |n: u32| Asr {
        session_id: session(n),
        origin_host: AAA.into(),
        origin_realm: REALM.into(),
        destination_host: CSCF.into(),
        destination_realm: REALM.into(),
        auth_application_id: 6,
        user_name: Some("bob@ims.example.net".into()),
        ..Default::default()
    };
    let asa = |n: u32, code: u32| Asa {
        session_id: session(n),
        result_code: code,
        origin_host: CSCF.into(),
        origin_realm: REALM.into(),
        ..Default::default()
    };
    let expired = str_(1, TerminationCause::DiameterAuthExpired);
    c.exchange("SIP session end", Some(6), &expired, &sta(1, 2001));
    let logout = str_(2, TerminationCause::DiameterLogout);
    c.exchange("SIP session end", Some(6), &logout, &sta(2, 5002));
    c.exchange("SIP session end", Some(6), &asr(3), &asa(3, 2001));
    let administrative = str_(3, TerminationCause::DiameterAdministrative);
    c.exchange("SIP session end", Some(6), &administrative, &sta(3, 2001));
    c.exchange("SIP session end", Some(6), &asr(4), &asa(4, 5002));
}

/// tshark reads the STR/STA and ASR/ASA of a SIP session's end without complaint, as the
/// messages of SIP application 6 (the Application-Id it shows is ours).
#[test]
fn tshark_decodes_the_end_of_sip_sessions() {
    let Some(tshark) = tshark() else { return };
    let mut c = Capture::default();
    sip_session_end(&mut c);
    let sent = c.sent;
    for s in &sent {
        let m = RawMessage::decode(s.wire.clone(), &Limits::default()).unwrap();
        assert_eq!(m.header.application_id, 6, "{}", s.label);
        assert!([274, 275].contains(&m.header.command_code), "{}", s.label);
    }
    let a = analyse(&tshark, "diameter-sip-session-end", &sent);
    assert!(
        a.problems.is_empty(),
        "tshark disagrees with our encoding ({}):\n{}",
        a.file.display(),
        a.problems.join("\n")
    );
    assert!(a.avps >= 50, "only {} AVPs compared", a.avps);
}
