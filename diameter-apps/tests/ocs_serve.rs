//! The OCS served over TCP on loopback: a client node runs a Gy session, gets a RAR from an
//! operator action, answers RAA 2002 and sends CCR-U; then an SMS event.

mod ocs_common;

use diameter::dict::base_rfc6733::{result_code as base_rc, Cea, Raa, Rar};
use diameter::dict::dcca_rfc4006::result_code::DIAMETER_RATING_FAILED;
use diameter::dict::dcca_rfc4006::*;
use diameter_apps::ocs::client::{CcSession, ClientConfig, Output, ServiceKey, State};
use diameter_apps::ocs::rating::{Tariffs, UnitType, Units};
use diameter_apps::ocs::server::ReAuthScope;
use diameter_apps::ocs::store::{IdKind, SubscriberId};
use diameter_apps::ocs::{start, ServeOptions};
use diameter_core::node::{typed, Node, PeerConfig};
use diameter_core::Command;
use ocs_common::ccr::*;
use std::sync::Arc;
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

/// Starts an OCS on loopback with alice (e164 491700000009, 1000 minor units) and the
/// test tariffs; `tweak` adjusts the options first.
async fn ocs_with(
    name: &str,
    tweak: impl FnOnce(&mut ServeOptions),
) -> (diameter_apps::ocs::OcsHandle, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ocs-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let accounts = dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        "currency = 978\n[[account]]\nname = \"alice\"\nids = [\"e164:491700000009\"]\nbalance = 1000\n",
    )
    .unwrap();
    let mut opts = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        origin_host: "ocs.example.net".into(),
        origin_realm: "example.net".into(),
        store: format!("sqlite://{}", dir.join("ocs.db").display()),
        accounts: Some(accounts),
        tariffs: Tariffs::parse(TARIFFS).unwrap(),
        ..ServeOptions::default()
    };
    tweak(&mut opts);
    (start(opts).await.expect("ocs starts"), dir)
}

/// A client node `host` connected to the OCS at `addr`.
async fn client_of(host: &str, addr: std::net::SocketAddr) -> Node {
    let client = Node::builder()
        .origin_host(host)
        .origin_realm("example.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.example.net", addr))
        .build()
        .await
        .unwrap();
    assert!(
        client
            .wait_peer("ocs.example.net", Duration::from_secs(10))
            .await
    );
    client
}

/// RFC 8506 §8.3: an EVENT_REQUEST without Requested-Action is answered 5005 with the
/// missing AVP in Failed-AVP and charges nothing; a peer configured as lenient gets the old
/// reading (a direct debit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_without_requested_action_is_5005_unless_the_peer_is_lenient() {
    let (ocs, dir) = ocs_with("noaction", |o| {
        o.lenient_requested_action_peers = vec!["SMSC.example.net".into()];
    })
    .await;
    let addr = ocs.local_addrs()[0];
    let alice = SubscriberId::new(IdKind::E164, "491700000009");
    let store = ocs.server.store().clone();
    let balance = move || store.find_account(&alice).unwrap().unwrap().balance;

    let strict = client_of("pgw.example.net", addr).await;
    let mut ev = sms_event(
        &strict.new_session_id(),
        "491700000009",
        RequestedAction::DirectDebiting,
    );
    ev.origin_host = "pgw.example.net".into();
    ev.requested_action = None;
    let cca: Cca = strict.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_MISSING_AVP);
    assert_eq!(cca.cc_request_type, CcRequestType::EventRequest);
    assert_eq!(cca.failed_avp.len(), 1);
    let missing = &cca.failed_avp[0].other;
    assert_eq!(missing.len(), 1);
    assert_eq!(
        (missing[0].code, missing[0].vendor),
        (avp::REQUESTED_ACTION, 0)
    );
    assert_eq!(&missing[0].data[..], &[0, 0, 0, 0]);
    assert!(cca.multiple_services_credit_control.is_empty());
    assert_eq!(balance(), 1000, "nothing charged");

    // The same request with the AVP is charged.
    ev.requested_action = Some(RequestedAction::DirectDebiting);
    ev.session_id = strict.new_session_id().as_str().into();
    let cca: Cca = strict.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(balance(), 991);

    // A lenient peer: the missing AVP means DIRECT_DEBITING.
    let lenient = client_of("smsc.example.net", addr).await;
    let mut ev = sms_event(
        &lenient.new_session_id(),
        "491700000009",
        RequestedAction::DirectDebiting,
    );
    ev.origin_host = "smsc.example.net".into();
    ev.requested_action = None;
    let cca: Cca = lenient.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(balance(), 982);

    strict.abort();
    lenient.abort();
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connects as `host`, sends a CER and returns the OCS's CEA.
fn exchange_capabilities(addr: std::net::SocketAddr, host: &str) -> Cea {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&ocs_common::raw::cer(host, "test")).unwrap();
    let msg = ocs_common::raw::read_message(&mut s).expect("a CEA");
    Cea::decode(&msg).expect("the CEA decodes")
}

/// The CEA advertises Supported-Vendor-Id 10415 and the 3GPP Vendor-Specific-Application-Id
/// {10415, Auth 4} next to Auth-Application-Id 4; Host-IP-Address is the listen address,
/// or the configured ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cea_advertises_3gpp_vendor_and_host_addresses() {
    let (ocs, dir) = ocs_with("cea", |_| {}).await;
    let addr = ocs.local_addrs()[0];
    let cea = tokio::task::spawn_blocking(move || exchange_capabilities(addr, "pgw.example.net"))
        .await
        .unwrap();
    assert_eq!(cea.result_code, 2001);
    assert_eq!(cea.supported_vendor_id, vec![10_415]);
    assert_eq!(cea.auth_application_id, vec![4]);
    assert_eq!(cea.vendor_specific_application_id.len(), 1);
    let vsai = &cea.vendor_specific_application_id[0];
    assert_eq!(
        (
            vsai.vendor_id,
            vsai.auth_application_id,
            vsai.acct_application_id
        ),
        (10_415, Some(4), None)
    );
    let ips: Vec<_> = cea.host_ip_address.iter().filter_map(|a| a.ip()).collect();
    assert_eq!(ips, vec![std::net::IpAddr::from([127, 0, 0, 1])]);
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let given: Vec<std::net::IpAddr> =
        vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
    let set = given.clone();
    let (ocs, dir) = ocs_with("cea-ips", move |o| o.host_ip_addresses = set).await;
    let addr = ocs.local_addrs()[0];
    let cea = tokio::task::spawn_blocking(move || exchange_capabilities(addr, "pgw.example.net"))
        .await
        .unwrap();
    let ips: Vec<_> = cea.host_ip_address.iter().filter_map(|a| a.ip()).collect();
    assert_eq!(ips, given);
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A direct debit's CCA carries Cost-Information (what was charged, in the tariff's
/// currency) and, once the balance left is under the threshold, Low-Balance-Indication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_debit_reports_its_cost_and_a_low_balance() {
    use diameter::dict::tgpp_ts32299::LowBalanceIndication;
    let tariffs = format!(
        "{TARIFFS}[[tariff]]\nname = \"mms\"\nservice_context_id = \"32274@3gpp.org\"\n\
         service_identifier = 2\nunit = \"service_specific\"\nprice = 20\ncurrency = 826\nexponent = 3\n"
    );
    let (ocs, dir) = ocs_with("cost", move |o| {
        o.tariffs = Tariffs::parse(&tariffs).unwrap();
        o.low_balance_threshold = Some(985);
    })
    .await;
    let addr = ocs.local_addrs()[0];
    let client = client_of("pgw.example.net", addr).await;
    let debit = |service: u32| {
        let mut ev = sms_event(
            &client.new_session_id(),
            "491700000009",
            RequestedAction::DirectDebiting,
        );
        ev.origin_host = "pgw.example.net".into();
        ev.multiple_services_credit_control[0].service_identifier = vec![service];
        ev
    };
    let cost = |cca: &Cca| {
        let c = cca.cost_information.as_ref().expect("Cost-Information");
        (
            c.unit_value.value_digits,
            c.unit_value.exponent,
            c.currency_code,
        )
    };

    // 1000 - 9 = 991, not under 985.
    let cca: Cca = client.send(&debit(1), 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(cost(&cca), (9, Some(-2), 978));
    assert_eq!(cca.low_balance_indication, None);

    // 991 - 9 = 982: under the threshold.
    let cca: Cca = client.send(&debit(1), 4).await.unwrap();
    assert_eq!(cost(&cca), (9, Some(-2), 978));
    assert_eq!(cca.low_balance_indication, Some(LowBalanceIndication::Yes));

    // A tariff with its own currency.
    let cca: Cca = client.send(&debit(2), 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(cost(&cca), (20, Some(-3), 826));

    // Two services in two currencies: charged, but no one cost to state.
    let mut both = debit(1);
    let mut mms = both.multiple_services_credit_control[0].clone();
    mms.service_identifier = vec![2];
    both.multiple_services_credit_control.push(mms);
    let cca: Cca = client.send(&both, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(cca.cost_information, None);
    let alice = SubscriberId::new(IdKind::E164, "491700000009");
    let left = ocs
        .server
        .store()
        .find_account(&alice)
        .unwrap()
        .unwrap()
        .balance;
    assert_eq!(left, 1000 - 9 - 9 - 20 - 9 - 20);

    // Nothing charged (no tariff for service 7): no cost, no indication.
    let cca: Cca = client.send(&debit(7), 4).await.unwrap();
    assert_eq!(cca.result_code, DIAMETER_RATING_FAILED);
    assert_eq!(cca.cost_information, None);
    assert_eq!(cca.low_balance_indication, None);

    client.abort();
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends what the client session wants sent over `node` and feeds the answers back, until
/// it wants nothing more (bounded). Returns the CCRs sent.
async fn drive(node: &Node, s: &std::sync::Mutex<CcSession>) -> Vec<Ccr> {
    let mut sent = Vec::new();
    for _ in 0..20 {
        let out = s.lock().unwrap().poll_output();
        match out {
            None => break,
            Some(Output::Event(_)) => {}
            Some(Output::Send(req)) => {
                let cca: Cca =
                    tokio::time::timeout(Duration::from_secs(10), node.send(&req.ccr, 4))
                        .await
                        .expect("CCA in time")
                        .expect("CCA");
                s.lock().unwrap().on_cca(&cca, std::time::Instant::now());
                sent.push(req.ccr);
            }
        }
    }
    sent
}

/// RFC 8506 §5.5: the operator re-authorizes one rating group; the RAR carries
/// Rating-Group, the client answers 2002 echoing it and re-reports only that quota. A RAR
/// naming a rating group the session does not use is answered 2001 and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rar_for_one_rating_group_re_reports_only_that_quota() {
    let (ocs, dir) = ocs_with("rar-scope", |_| {}).await;
    let addr = ocs.local_addrs()[0];
    let mut config = ClientConfig::new("pgw.example.net", "example.net", "example.net", GY);
    config.subscription_id = vec![msisdn("491700000009")];
    let session = Arc::new(std::sync::Mutex::new(CcSession::new(
        "pgw.example.net;rar;1",
        config,
    )));
    let (rars_tx, mut rars) = tokio::sync::mpsc::unbounded_channel::<Rar>();
    let s = session.clone();
    let client = Node::builder()
        .origin_host("pgw.example.net")
        .origin_realm("example.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs.example.net", addr))
        .handler(
            4,
            <Rar as Command>::CODE,
            typed(move |rar: Rar| {
                let raa = s.lock().unwrap().on_rar(&rar, std::time::Instant::now());
                let _ = rars_tx.send(rar);
                async move { raa }
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
    const DATA: ServiceKey = ServiceKey {
        rating_group: Some(100),
        service_identifier: None,
    };
    const VOICE: ServiceKey = ServiceKey {
        rating_group: Some(200),
        service_identifier: None,
    };
    let now = std::time::Instant::now();
    session
        .lock()
        .unwrap()
        .start(&[(DATA, None), (VOICE, None)], now);
    let sent = drive(&client, &session).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(session.lock().unwrap().state(), State::Open);
    {
        let mut s = session.lock().unwrap();
        s.report_usage(DATA, Units::only(UnitType::TotalOctets, 1_000_000), now);
        s.report_usage(VOICE, Units::only(UnitType::Time, 60), now);
    }
    assert!(
        drive(&client, &session).await.is_empty(),
        "part of each grant used"
    );

    let scope = ReAuthScope {
        rating_group: Some(100),
        ..Default::default()
    };
    let raa = ocs
        .re_auth_for("pgw.example.net;rar;1", &scope)
        .await
        .unwrap();
    assert_eq!(raa.result_code, base_rc::DIAMETER_LIMITED_SUCCESS);
    assert_eq!(raa.rating_group, Some(100));
    let rar = rars.recv().await.unwrap();
    assert_eq!(
        (
            rar.rating_group,
            rar.service_identifier,
            rar.g_s_u_pool_identifier,
            rar.cc_sub_session_id
        ),
        (Some(100), None, None, None)
    );
    let sent = drive(&client, &session).await;
    assert_eq!(sent.len(), 1, "one CCR-U");
    assert_eq!(sent[0].cc_request_type, CcRequestType::UpdateRequest);
    let msccs = &sent[0].multiple_services_credit_control;
    assert_eq!(msccs.len(), 1, "only the named quota: {msccs:?}");
    assert_eq!(msccs[0].rating_group, Some(100));
    assert_eq!(
        msccs[0].used_service_unit[0].cc_total_octets,
        Some(1_000_000)
    );
    // The voice usage is still held, to be reported later.
    let voice = session.lock().unwrap().quota(&VOICE).unwrap().used;
    assert_eq!(voice.time, Some(60));

    // A rating group the session does not use: 2001, nothing sent.
    let scope = ReAuthScope {
        rating_group: Some(999),
        ..Default::default()
    };
    let raa = ocs
        .re_auth_for("pgw.example.net;rar;1", &scope)
        .await
        .unwrap();
    assert_eq!(raa.result_code, base_rc::DIAMETER_SUCCESS);
    assert!(drive(&client, &session).await.is_empty());

    // The whole session: both quotas.
    let raa = ocs.re_auth("pgw.example.net;rar;1").await.unwrap();
    assert_eq!(raa.result_code, base_rc::DIAMETER_LIMITED_SUCCESS);
    let sent = drive(&client, &session).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].multiple_services_credit_control.len(), 2);

    client.abort();
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// RFC 8506 §5.1.2: our client indicates MULTIPLE_SERVICES_SUPPORTED in its CCR-I when it
/// uses MSCC, and is answered per MSCC; a client that does not indicate it is answered at
/// session level (its one MSCC taken as the session's service, in the CCR-U too); several
/// MSCCs without the indicator are 5005 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_services_indicator_decides_between_mscc_and_session_level() {
    let (ocs, dir) = ocs_with("msi", |_| {}).await;
    let addr = ocs.local_addrs()[0];
    let client = client_of("pgw.example.net", addr).await;

    // Our client: the indicator goes with the MSCC of the CCR-I; the answer is per MSCC.
    let mut config = ClientConfig::new("pgw.example.net", "example.net", "example.net", GY);
    config.subscription_id = vec![msisdn("491700000009")];
    let session = std::sync::Mutex::new(CcSession::new("pgw.example.net;msi;1", config));
    let data = ServiceKey {
        rating_group: Some(100),
        service_identifier: None,
    };
    session
        .lock()
        .unwrap()
        .start(&[(data, None)], std::time::Instant::now());
    let sent = drive(&client, &session).await;
    assert_eq!(
        sent[0].multiple_services_indicator,
        Some(MultipleServicesIndicator::MultipleServicesSupported)
    );
    assert!(
        session.lock().unwrap().quota(&data).is_some(),
        "granted per MSCC"
    );

    // A client without the indicator, one MSCC: session-level units.
    let sid = client.new_session_id();
    let mut i = base(&sid, CcRequestType::InitialRequest, 0, GY);
    i.multiple_services_indicator = None;
    i.subscription_id = vec![msisdn("491700000009")];
    i.multiple_services_credit_control = vec![data_mscc(100, Some(2_000_000), None)];
    let cca: Cca = client.send(&i, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert!(cca.multiple_services_credit_control.is_empty(), "{cca:?}");
    let gsu = cca
        .granted_service_unit
        .as_ref()
        .expect("session-level GSU");
    assert_eq!(gsu.cc_total_octets, Some(2_000_000));
    assert!(cca.validity_time.is_some());
    let mut u = base(&sid, CcRequestType::UpdateRequest, 1, GY);
    u.multiple_services_credit_control = vec![data_mscc(100, Some(1_000_000), Some(1_000_000))];
    let cca: Cca = client.send(&u, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert!(cca.multiple_services_credit_control.is_empty());
    assert_eq!(
        cca.granted_service_unit
            .as_ref()
            .and_then(|g| g.cc_total_octets),
        Some(1_000_000)
    );

    // Several services without the indicator: 5005 naming it, nothing opened.
    let mut i = base(
        &client.new_session_id(),
        CcRequestType::InitialRequest,
        0,
        GY,
    );
    i.multiple_services_indicator = None;
    i.subscription_id = vec![msisdn("491700000009")];
    i.multiple_services_credit_control = vec![
        data_mscc(100, Some(1_000_000), None),
        voice_mscc(Some(60), None),
    ];
    let cca: Cca = client.send(&i, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_MISSING_AVP);
    assert_eq!(
        cca.failed_avp[0].other[0].code,
        avp::MULTIPLE_SERVICES_INDICATOR
    );
    assert!(cca.multiple_services_credit_control.is_empty());

    client.abort();
    ocs.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
