//! Example charging messages shared by the tshark and freeDiameter-relay tests: the same
//! realistic Gy building blocks (Subscription-Id, PS-Information, usage) in one place.
#![allow(dead_code)]

use diameter::core::bytes::Bytes;
use diameter::core::{Address, DiameterUri, Time};
use diameter::dict::base_rfc6733::TerminationCause;
use diameter::dict::dcca_rfc4006::*;
use diameter::dict::tgpp_ts32299::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `Some`, boxing when the field is boxed (the generator boxes large grouped fields).
pub fn some<T, U: From<T>>(value: T) -> Option<U> {
    Some(U::from(value))
}

pub fn time(offset: u32) -> Time {
    Time::from_unix_seconds(1_700_000_000 + i64::from(offset)).expect("in range")
}

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> Address {
    Address::from(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

pub fn uri(s: &str) -> DiameterUri {
    DiameterUri::parse(s).expect("valid DiameterURI")
}

pub fn subscription_ids() -> Vec<SubscriptionId> {
    vec![
        SubscriptionId {
            subscription_id_type: SubscriptionIdType::EndUserE164,
            subscription_id_data: "14155550100".into(),
            ..Default::default()
        },
        SubscriptionId {
            subscription_id_type: SubscriptionIdType::EndUserImsi,
            subscription_id_data: "310410123456789".into(),
            ..Default::default()
        },
    ]
}

/// TS 29.061 §16.4.7.2 3GPP-User-Location-Info: type 130 (TAI and ECGI), MCC 310 MNC 410.
pub fn user_location_info() -> Bytes {
    Bytes::from_static(&[
        130, 0x13, 0x00, 0x14, 0x00, 0x01, 0x13, 0x00, 0x14, 0x00, 0x00, 0x01, 0x01,
    ])
}

pub fn ps_information() -> PsInformation {
    PsInformation {
        tgpp_charging_id: Some(0x0102_0304),
        node_id: Some("pgw1".into()),
        tgpp_pdp_type: Some(TgppPdpType::Ipv4),
        pdp_address: vec![v4(10, 45, 0, 17)].into(),
        dynamic_address_flag: Some(DynamicAddressFlag::Dynamic),
        qos_information: some(QosInformation {
            qos_class_identifier: Some(QosClassIdentifier::Qci9),
            allocation_retention_priority: some(AllocationRetentionPriority {
                priority_level: 8,
                pre_emption_capability: Some(PreEmptionCapability::PreEmptionCapabilityDisabled),
                pre_emption_vulnerability: Some(
                    PreEmptionVulnerability::PreEmptionVulnerabilityEnabled,
                ),
                ..Default::default()
            }),
            apn_aggregate_max_bitrate_ul: Some(50_000_000),
            apn_aggregate_max_bitrate_dl: Some(100_000_000),
            ..Default::default()
        }),
        sgsn_address: vec![v4(192, 0, 2, 10)].into(),
        ggsn_address: vec![v4(192, 0, 2, 20)].into(),
        sgw_address: vec![Address::from(IpAddr::V6(Ipv6Addr::new(
            0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20,
        )))]
        .into(),
        serving_node_type: Some(ServingNodeType::Gtpsgw),
        tgpp_imsi_mcc_mnc: Some("310410".into()),
        tgpp_ggsn_mcc_mnc: Some("310410".into()),
        tgpp_nsapi: Some(Bytes::from_static(b"5")),
        called_station_id: Some("internet".into()),
        tgpp_selection_mode: Some("0".into()),
        tgpp_charging_characteristics: Some("0800".into()),
        charging_characteristics_selection_mode: Some(
            ChargingCharacteristicsSelectionMode::HomeDefault,
        ),
        tgpp_sgsn_mcc_mnc: Some("310410".into()),
        tgpp_ms_timezone: Some(Bytes::from_static(&[0x40, 0x00])),
        tgpp_user_location_info: Some(user_location_info()),
        tgpp_rat_type: Some(Bytes::from_static(&[6])),
        start_time: Some(time(0)),
        ..Default::default()
    }
}

pub fn used(total: u64) -> UsedServiceUnit {
    UsedServiceUnit {
        cc_time: Some(60),
        cc_total_octets: Some(total),
        cc_input_octets: Some(total / 4),
        cc_output_octets: Some(total - total / 4),
        ..Default::default()
    }
}

/// SMS-Information of a mobile-originated SMS through an SMSC (Ro event charging).
pub fn sms_information() -> SmsInformation {
    SmsInformation {
        sms_node: Some(SmsNode::SmsSc),
        client_address: Some(v4(192, 0, 2, 30)),
        originator_sccp_address: Some(Address::E164(Bytes::from_static(b"14155550199"))),
        smsc_address: Some(Address::E164(Bytes::from_static(b"14155550199"))),
        data_coding_scheme: Some(0),
        sm_discharge_time: Some(time(4)),
        sm_message_type: Some(SmMessageType::Submission),
        sm_protocol_id: Some(Bytes::from_static(&[0])),
        reply_path_requested: Some(ReplyPathRequested::NoReplyPathSet),
        number_of_messages_sent: Some(1),
        recipient_info: vec![RecipientInfo {
            recipient_address: vec![RecipientAddress {
                address_type: Some(AddressType::Msisdn),
                address_data: Some("14155550111".into()),
                address_domain: some(AddressDomain {
                    domain_name: Some("example.net".into()),
                    tgpp_imsi_mcc_mnc: Some("310410".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        }]
        .into(),
        originator_received_address: some(OriginatorReceivedAddress {
            address_type: Some(AddressType::Msisdn),
            address_data: Some("14155550100".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// IMS-Information of an originating voice session at an S-CSCF.
pub fn ims_information() -> ImsInformation {
    ImsInformation {
        event_type: some(EventType {
            sip_method: Some("INVITE".into()),
            ..Default::default()
        }),
        role_of_node: Some(RoleOfNode::OriginatingRole),
        node_functionality: NodeFunctionality::SCscf,
        user_session_id: Some("a84b4c76e66710@pc33.example.net".into()),
        calling_party_address: vec!["sip:+14155550100@ims.example.net".into()].into(),
        called_party_address: Some("tel:+14155550111".into()),
        requested_party_address: vec!["tel:+14155550111".into()].into(),
        time_stamps: some(TimeStamps {
            sip_request_timestamp: Some(time(10)),
            sip_request_timestamp_fraction: Some(250),
            ..Default::default()
        }),
        application_server_information: vec![ApplicationServerInformation {
            application_server: Some("sip:mmtel.ims.example.net".into()),
            ..Default::default()
        }]
        .into(),
        inter_operator_identifier: vec![InterOperatorIdentifier {
            originating_ioi: Some("ims.example.net".into()),
            terminating_ioi: Some("ims.example.org".into()),
            ..Default::default()
        }]
        .into(),
        ims_charging_identifier: Some("icid-value-0001".into()),
        sdp_session_description: vec!["v=0".into(), "o=- 2890844526 1 IN IP4 10.45.0.17".into()]
            .into(),
        sdp_media_component: vec![SdpMediaComponent {
            sdp_media_name: Some("m=audio 49170 RTP/AVP 0".into()),
            sdp_media_description: vec!["a=rtpmap:0 PCMU/8000".into()].into(),
            media_initiator_flag: Some(MediaInitiatorFlag::CallingParty),
            sdp_type: Some(SdpType::SdpOffer),
            ..Default::default()
        }]
        .into(),
        served_party_ip_address: Some(v4(10, 45, 0, 17)),
        access_network_information: vec![Bytes::from_static(
            b"3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=3104100010000101",
        )]
        .into(),
        ims_communication_service_identifier: Some("urn:urn-7:3gpp-service.ims.icsi.mmtel".into()),
        from_address: Some("<sip:+14155550100@ims.example.net>;tag=1928301774".into()),
        ..Default::default()
    }
}

/// A Gy CCR from a PGW (PS-Information, IMEISV, one MSCC), without Session-Id and
/// identities: callers fill those with `Ccr { session_id, .., ..gy_ccr(..) }`.
pub fn gy_ccr(kind: CcRequestType, number: u32, mscc: MultipleServicesCreditControl) -> Ccr {
    Ccr {
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: kind,
        cc_request_number: number,
        origin_state_id: Some(1),
        event_timestamp: Some(time(number * 60)),
        subscription_id: subscription_ids().into(),
        termination_cause: (kind == CcRequestType::TerminationRequest)
            .then_some(TerminationCause::DiameterLogout),
        multiple_services_indicator: Some(MultipleServicesIndicator::MultipleServicesSupported),
        multiple_services_credit_control: vec![mscc].into(),
        user_equipment_info: some(UserEquipmentInfo {
            user_equipment_info_type: UserEquipmentInfoType::Imeisv,
            user_equipment_info_value: Bytes::from_static(&[
                0x53, 0x43, 0x09, 0x96, 0x78, 0x33, 0x00, 0x10,
            ]),
            ..Default::default()
        }),
        service_information: some(ServiceInformation {
            ps_information: some(ps_information()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Ro CCR-EVENT for one SMS (direct debiting, SMS-Information), without Session-Id and
/// identities.
pub fn ro_sms_ccr_event() -> Ccr {
    Ccr {
        auth_application_id: 4,
        service_context_id: "32274@3gpp.org".into(),
        cc_request_type: CcRequestType::EventRequest,
        cc_request_number: 0,
        event_timestamp: Some(time(5)),
        subscription_id: subscription_ids().into(),
        requested_action: Some(RequestedAction::DirectDebiting),
        multiple_services_indicator: Some(MultipleServicesIndicator::MultipleServicesSupported),
        multiple_services_credit_control: vec![MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit {
                cc_service_specific_units: Some(1),
                ..Default::default()
            }),
            service_identifier: vec![4].into(),
            ..Default::default()
        }]
        .into(),
        service_information: some(ServiceInformation {
            sms_information: some(sms_information()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An IMS CCR-INITIAL from an S-CSCF (SIP URI subscriber, IMS-Information), without
/// Session-Id and identities.
pub fn ims_ccr_initial() -> Ccr {
    Ccr {
        auth_application_id: 4,
        service_context_id: "32260@3gpp.org".into(),
        cc_request_type: CcRequestType::InitialRequest,
        cc_request_number: 0,
        event_timestamp: Some(time(10)),
        subscription_id: vec![SubscriptionId {
            subscription_id_type: SubscriptionIdType::EndUserSipUri,
            subscription_id_data: "sip:+14155550100@ims.example.net".into(),
            ..Default::default()
        }]
        .into(),
        multiple_services_indicator: Some(MultipleServicesIndicator::MultipleServicesSupported),
        multiple_services_credit_control: vec![MultipleServicesCreditControl {
            requested_service_unit: some(RequestedServiceUnit {
                cc_time: Some(300),
                ..Default::default()
            }),
            rating_group: Some(200),
            ..Default::default()
        }]
        .into(),
        service_information: some(ServiceInformation {
            subscription_id: vec![SubscriptionId {
                subscription_id_type: SubscriptionIdType::EndUserE164,
                subscription_id_data: "14155550100".into(),
                ..Default::default()
            }]
            .into(),
            ims_information: some(ims_information()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
