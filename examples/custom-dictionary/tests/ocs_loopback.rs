//! Our extended CCR (with Acme-Plan-Id and Acme-Loyalty-Points) charged by the OCS library
//! of `diameter-apps`, end to end over loopback: the client sends our type, the server's
//! handler reads our extension from it typed and hands it, still our type, to
//! `ChargingServer::handle_extended_ccr_async`, which answers in our CCA type.

use custom_dictionary_example::dict::dcca_rfc4006 as ours;
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
use diameter_apps::ocs::store::{self, IdKind, NewAccount, SubscriberId};
use diameter_core::node::{Node, PeerConfig};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const ALICE: &str = "491700000001";
const TARIFFS: &str = r#"
currency = 978
exponent = 2
[[tariff]]
name = "data"
rating_group = 100
unit = "total_octets"
block = 1000000
price = 10
default_quota = 5000000
"#;

fn charging_server() -> Arc<ChargingServer> {
    let store = store::open("sqlite::memory:").unwrap();
    store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, ALICE)],
            10_000,
            978,
        ))
        .unwrap();
    let cfg = ServerConfig::new("ocs.example.net", "example.net");
    Arc::new(ChargingServer::new(
        store,
        Tariffs::parse(TARIFFS).unwrap(),
        cfg,
    ))
}

#[tokio::test]
async fn extended_ccr_is_charged_by_the_ocs_library_over_loopback() {
    let ocs = charging_server();
    let plans_seen = Arc::new(Mutex::new(Vec::new()));
    let (ocs_h, seen) = (ocs.clone(), plans_seen.clone());
    let server = Node::builder()
        .origin_host("ocs.example.net")
        .origin_realm("example.net")
        .auth_application(4)
        .listen("127.0.0.1:0".parse().unwrap())
        .typed_handler(move |ccr: ours::Ccr| {
            let (ocs, seen) = (ocs_h.clone(), seen.clone());
            async move {
                // Our extension, typed: what a vendor-specific policy would look at.
                seen.lock().unwrap().push((
                    ccr.acme_plan_id.as_ref().map(|p| p.to_string()),
                    ccr.multiple_services_credit_control
                        .first()
                        .and_then(|m| m.acme_loyalty_points),
                ));
                let peer = ccr.origin_host.as_str().to_ascii_lowercase();
                ocs.handle_extended_ccr_async::<ours::Ccr, ours::Cca>(
                    &ccr,
                    &peer,
                    SystemTime::now(),
                )
                .await
                .expect("our CCR is the standard CCR with more AVPs")
            }
        })
        .build()
        .await
        .unwrap();
    let client = Node::builder()
        .origin_host("pgw.example.net")
        .origin_realm("example.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.example.net", server.local_addrs()[0]))
        .build()
        .await
        .unwrap();
    assert!(
        client
            .wait_peer("ocs.example.net", Duration::from_secs(5))
            .await
    );

    #[allow(clippy::useless_conversion)]
    let ccr = ours::Ccr {
        session_id: client.new_session_id().into(),
        origin_host: "pgw.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: ours::CcRequestType::InitialRequest,
        cc_request_number: 0,
        multiple_services_indicator: Some(
            ours::MultipleServicesIndicator::MultipleServicesSupported,
        ),
        subscription_id: vec![ours::SubscriptionId {
            subscription_id_type: ours::SubscriptionIdType::EndUserE164,
            subscription_id_data: ALICE.into(),
            ..Default::default()
        }]
        .into(),
        acme_plan_id: Some("gold".into()),
        multiple_services_credit_control: vec![ours::MultipleServicesCreditControl {
            rating_group: Some(100),
            requested_service_unit: Some(
                ours::RequestedServiceUnit {
                    cc_total_octets: Some(2_000_000),
                    ..Default::default()
                }
                .into(),
            ),
            acme_loyalty_points: Some(250),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    let cca: ours::Cca = tokio::time::timeout(
        Duration::from_secs(10),
        client.send::<ours::Ccr, ours::Cca>(&ccr, 4),
    )
    .await
    .expect("answer in time")
    .expect("answer");

    assert_eq!(cca.result_code, 2001, "{cca:?}");
    let mscc = &cca.multiple_services_credit_control[0];
    assert_eq!(mscc.result_code, Some(2001));
    let granted = mscc.granted_service_unit.as_ref().expect("granted");
    assert_eq!(granted.cc_total_octets, Some(2_000_000));
    // The server read our extension from our type.
    assert_eq!(
        *plans_seen.lock().unwrap(),
        vec![(Some("gold".to_string()), Some(250))]
    );
    // The OCS library reserved money for the grant: 2 blocks of 1 MB at 10.
    let account = ocs
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, ALICE))
        .unwrap()
        .unwrap();
    assert_eq!((account.balance, account.reserved), (10_000, 20));
}
