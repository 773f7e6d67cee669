//! A credit-control server and client in one process, over loopback.
//!
//! Run: `cargo run -p diameter-apps --example quickstart`

use diameter::dict::dcca_rfc4006::{
    CcRequestType, Cca, Ccr, GrantedServiceUnit, MultipleServicesCreditControl,
    RequestedServiceUnit,
};
use diameter_core::node::{Node, PeerConfig};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A server that grants what is asked for.
    let server = Node::builder()
        .origin_host("ocs.example.net")
        .origin_realm("example.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse()?)
        .typed_handler(|ccr: Ccr| async move {
            let grants = ccr
                .multiple_services_credit_control
                .iter()
                .map(|m| MultipleServicesCreditControl {
                    rating_group: m.rating_group,
                    granted_service_unit: m.requested_service_unit.as_ref().map(|r| {
                        GrantedServiceUnit {
                            cc_total_octets: r.cc_total_octets,
                            ..Default::default()
                        }
                        .into()
                    }),
                    result_code: Some(2001),
                    ..Default::default()
                })
                .collect();
            Cca {
                session_id: ccr.session_id,
                result_code: 2001,
                origin_host: "ocs.example.net".into(),
                origin_realm: "example.net".into(),
                auth_application_id: 4,
                cc_request_type: ccr.cc_request_type,
                cc_request_number: ccr.cc_request_number,
                multiple_services_credit_control: grants,
                ..Default::default()
            }
        })
        .build()
        .await?;

    // A client connected to it.
    let client = Node::builder()
        .origin_host("pgw.example.net")
        .origin_realm("example.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.example.net", server.local_addrs()[0]))
        .build()
        .await?;
    if !client
        .wait_peer("ocs.example.net", Duration::from_secs(5))
        .await
    {
        return Err("the server did not answer the CER".into());
    }

    let ccr = Ccr {
        session_id: client.new_session_id().into(),
        origin_host: "pgw.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: CcRequestType::InitialRequest,
        multiple_services_credit_control: vec![MultipleServicesCreditControl {
            rating_group: Some(100),
            requested_service_unit: Some(
                RequestedServiceUnit {
                    cc_total_octets: Some(1_000_000),
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    let cca: Cca = client.send::<Ccr, Cca>(&ccr, 4).await?;
    let granted = cca.multiple_services_credit_control[0]
        .granted_service_unit
        .as_ref()
        .and_then(|g| g.cc_total_octets);
    println!(
        "Result-Code {}; granted {granted:?} octets",
        cca.result_code
    );
    assert_eq!(cca.result_code, 2001);
    client
        .stop(diameter_core::base::DisconnectCause::DoNotWantToTalkToYou)
        .await;
    Ok(())
}
