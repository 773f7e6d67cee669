//! Uses the fields that acme.xml adds.

use custom_dictionary_example::dict::{acme, dcca_rfc4006};
use diameter_core::{Command, Limits, RawMessage};

#[test]
fn extended_ccr_carries_the_private_avp() {
    let ccr = dcca_rfc4006::Ccr {
        session_id: "client;1;2".into(),
        origin_host: "client.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "ocs.example.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: dcca_rfc4006::CcRequestType::InitialRequest,
        acme_plan_id: Some("gold".into()),
        multiple_services_credit_control: vec![dcca_rfc4006::MultipleServicesCreditControl {
            rating_group: Some(7),
            acme_loyalty_points: Some(250),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    let wire = ccr.encode(1, 2).freeze();
    // The private AVP is on the wire with the V bit and vendor 99999.
    let needle = [&1001u32.to_be_bytes()[..], &[0x80]].concat();
    assert!(wire.windows(5).any(|w| w == &needle[..]));
    let back =
        dcca_rfc4006::Ccr::decode(&RawMessage::decode(wire, &Limits::default()).unwrap()).unwrap();
    assert_eq!(back, ccr);
    assert_eq!(
        back.multiple_services_credit_control[0].acme_loyalty_points,
        Some(250)
    );
}

#[test]
fn new_enum_value_and_custom_command() {
    assert_eq!(dcca_rfc4006::FinalUnitAction::AcmeThrottle.value(), 100);
    let lq = acme::LoyaltyQueryRequest {
        session_id: "client;1;3".into(),
        origin_host: "client.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        acme_plan_id: "gold".into(),
        ..Default::default()
    };
    let msg = lq.to_message(acme::application::ACME_LOYALTY, 5, 6);
    assert_eq!(msg.header.command_code, 8_388_999);
    assert_eq!(acme::LoyaltyQueryRequest::decode(&msg).unwrap(), lq);
}

#[test]
fn base_types_are_the_diameter_crates_own() {
    // `extern_dictionary`: the base protocol is not generated again, so a value of the
    // `diameter` crate's type goes straight into our extended CCR.
    let proxy = diameter::dict::base_rfc6733::ProxyInfo {
        proxy_host: "relay.example.net".into(),
        proxy_state: b"s1".to_vec().into(),
        ..Default::default()
    };
    let ccr = dcca_rfc4006::Ccr {
        session_id: "client;1;4".into(),
        proxy_info: vec![proxy.clone()].into(),
        termination_cause: Some(diameter::dict::base_rfc6733::TerminationCause::DiameterLogout),
        ..Default::default()
    };
    assert_eq!(ccr.proxy_info, vec![proxy]);
    // The base commands the credit-control application uses are the `diameter` crate's too.
    let rar: dcca_rfc4006::ReAuthRequest = diameter::dict::base_rfc6733::ReAuthRequest::default();
    assert_eq!(rar, Default::default());
}

#[test]
fn named_constants_for_codes() {
    assert_eq!(acme::avp::ACME_PLAN_ID, 1001);
    assert_eq!(acme::command::LOYALTY_QUERY, 8_388_999);
    assert_eq!(dcca_rfc4006::command::CREDIT_CONTROL, 272);
    assert_eq!(
        diameter::dict::base_rfc6733::command::CAPABILITIES_EXCHANGE,
        257
    );
}
