//! The OCS served over TCP on loopback: a client node runs a Gy session, gets a RAR from an
//! operator action, answers RAA 2002 and sends CCR-U; then an SMS event.

mod ocs_common;

use diameter::dict::base_rfc6733::{result_code as base_rc, Raa, Rar};
use diameter::dict::dcca_rfc4006::*;
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::store::{IdKind, SubscriberId};
use diameter_apps::ocs::{start, ServeOptions};
use diameter_core::node::{typed, Node, PeerConfig};
use diameter_core::Command;
use ocs_common::ccr::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gy_session_and_rar_over_tcp() {
    let dir = std::env::temp_dir().join(format!("ocs-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let accounts = dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        "currency = 978\n[[account]]\nname = \"alice\"\nids = [\"e164:491700000009\"]\nbalance = 1000\n",
    )
    .unwrap();
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        origin_host: "ocs.example.net".into(),
        origin_realm: "example.net".into(),
        store: format!("sqlite://{}", dir.join("ocs.db").display()),
        accounts: Some(accounts),
        tariffs: Tariffs::parse(TARIFFS).unwrap(),
        ..ServeOptions::default()
    };
    let ocs = start(opts).await.expect("ocs starts");
    let addr = ocs.local_addrs()[0];

    let client = Node::builder()
        .origin_host("pgw.example.net")
        .origin_realm("example.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.example.net", addr))
        // RAR is a base command sent under the session's application (4).
        .handler(
            4,
            <Rar as Command>::CODE,
            typed(|rar: Rar| async move {
                Raa {
                    session_id: rar.session_id,
                    result_code: base_rc::DIAMETER_LIMITED_SUCCESS,
                    origin_host: "pgw.example.net".into(),
                    origin_realm: "example.net".into(),
                    ..Default::default()
                }
            }),
        )
        .build()
        .await
        .unwrap();
    assert!(
        client
            .wait_peer("ocs.example.net", Duration::from_secs(10))
            .await
    );

    let alice = SubscriberId::new(IdKind::E164, "491700000009");
    let store = ocs.server.store().clone();
    let money = move || {
        let a = store.find_account(&alice).unwrap().unwrap();
        (a.balance, a.reserved)
    };

    let s = client.new_session_id();
    let mut i = base(&s, CcRequestType::InitialRequest, 0, GY);
    i.origin_host = "pgw.example.net".into();
    i.subscription_id = vec![msisdn("491700000009")];
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)];
    let cca: Cca = client.send(&i, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(), (1000, 50));

    // Operator action: RAR → RAA 2002, then the client's CCR-U.
    let raa = ocs.re_auth(&s).await.unwrap();
    assert_eq!(raa.result_code, base_rc::DIAMETER_LIMITED_SUCCESS);
    let mut u = base(&s, CcRequestType::UpdateRequest, 1, GY);
    u.multiple_services_credit_control = vec![data_mscc(100, Some(0), Some(2_000_000))];
    let cca: Cca = client.send(&u, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(), (980, 50));

    let mut t = base(&s, CcRequestType::TerminationRequest, 2, GY);
    t.multiple_services_credit_control = vec![data_mscc(100, None, Some(1))];
    let cca: Cca = client.send(&t, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(), (970, 0));

    let ev = sms_event(
        &client.new_session_id(),
        "491700000009",
        RequestedAction::DirectDebiting,
    );
    let cca: Cca = client.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(), (961, 0));

    client.abort();
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
