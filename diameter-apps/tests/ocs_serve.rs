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
    let mut opts = ServeOptions::default();
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.origin_host = "ocs.example.net".into();
    opts.origin_realm = "example.net".into();
    opts.store = format!("sqlite://{}", dir.join("ocs.db").display());
    opts.accounts = Some(accounts);
    opts.tariffs = Tariffs::parse(TARIFFS).unwrap();
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
    i.subscription_id = vec![msisdn("491700000009")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = client.send(&i, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(), (1000, 50));

    // Operator action: RAR → RAA 2002, then the client's CCR-U.
    let raa = ocs.re_auth(&s).await.unwrap();
    assert_eq!(raa.result_code, base_rc::DIAMETER_LIMITED_SUCCESS);
    let mut u = base(&s, CcRequestType::UpdateRequest, 1, GY);
    u.multiple_services_credit_control = vec![data_mscc(100, Some(0), Some(2_000_000))].into();
    let cca: Cca = client.send(&u, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(), (980, 50));

    let mut t = base(&s, CcRequestType::TerminationRequest, 2, GY);
    t.multiple_services_credit_control = vec![data_mscc(100, None, Some(1))].into();
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
    let mut opts = ServeOptions::default();
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.origin_host = "ocs.example.net".into();
    opts.origin_realm = "example.net".into();
    opts.store = format!("sqlite://{}", dir.join("ocs.db").display());
    opts.accounts = Some(accounts);
    opts.tariffs = Tariffs::parse(TARIFFS).unwrap();
    tweak(&mut opts);
    (start(opts).await.expect("ocs starts"), dir)
}

/// A direct-debit SMS event of `who` sent by pgw.example.net.
fn pgw_sms(session: &str, who: &str) -> Ccr {
    let mut ev = sms_event(session, who, RequestedAction::DirectDebiting);
    ev.origin_host = "pgw.example.net".into();
    ev
}

/// A database path in `dir`.
fn db_in(dir: &tempfile::TempDir) -> String {
    dir.path().join("ocs.db").to_str().unwrap().to_owned()
}

/// A charging server straight on the embedded store at `db` (no node), with `who` given
/// `balance`; dropped, it closes the store.
fn server_on_store(
    db: &str,
    who: &str,
    balance: i64,
    cfg: diameter_apps::ocs::server::ServerConfig,
) -> diameter_apps::ocs::server::ChargingServer {
    use diameter_apps::ocs::store::{Engine, EngineOptions};
    let engine = Arc::new(Engine::open(db, EngineOptions::default()).unwrap());
    ocs_common::add_e164(&*engine, who, balance);
    diameter_apps::ocs::server::ChargingServer::new(engine, Tariffs::parse(TARIFFS).unwrap(), cfg)
}

/// The Result-Code answering `ccr`, with or without the E bit.
async fn result_code_of(client: &Node, ccr: &Ccr) -> u32 {
    use diameter_core::node::{RequestError, SendOptions};
    match client
        .send_with::<_, Cca>(ccr, 4, SendOptions::default())
        .await
    {
        Ok(cca) => cca.result_code,
        Err(RequestError::Protocol { result_code, .. }) => result_code,
        Err(e) => panic!("{e}"),
    }
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
        ev.multiple_services_credit_control[0].service_identifier = vec![service].into();
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
    mms.service_identifier = vec![2].into();
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
    i.subscription_id = vec![msisdn("491700000009")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(2_000_000), None)].into();
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
    u.multiple_services_credit_control =
        vec![data_mscc(100, Some(1_000_000), Some(1_000_000))].into();
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
    i.subscription_id = vec![msisdn("491700000009")].into();
    i.multiple_services_credit_control = vec![
        data_mscc(100, Some(1_000_000), None),
        voice_mscc(Some(60), None),
    ]
    .into();
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

// ---- Credit pools, tariff change, Quota-Consumption-Time, Trigger, money over TCP ----

mod gy_loopback {
    use super::*;
    use diameter::dict::base_rfc6733::TerminationCause;
    use diameter::dict::tgpp_ts32299::{LowBalanceIndication, ReportingReason, TriggerType};
    use diameter_apps::ocs::client::{ClientEvent, Enforcement, Filters, Request};
    use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
    use diameter_apps::ocs::store::{self};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    const ALICE: &str = "491700000009";
    const DATA: ServiceKey = ServiceKey {
        rating_group: Some(100),
        service_identifier: None,
    };
    const VOICE: ServiceKey = ServiceKey {
        rating_group: Some(200),
        service_identifier: None,
    };

    /// An OCS node on 127.0.0.1 whose charging clock the test sets (Unix seconds), and a
    /// client node connected to it.
    struct Loop {
        server: Arc<ChargingServer>,
        clock: Arc<AtomicI64>,
        ocs: Node,
        client: Node,
    }

    impl Loop {
        async fn start(tariffs: &str, low_balance: Option<i64>, clock_s: i64) -> Loop {
            Loop::with(tariffs, 1000, clock_s, |cfg| {
                cfg.low_balance_threshold = low_balance
            })
            .await
        }

        /// An OCS whose account holds `balance` and whose configuration `tune` adjusts
        /// (Validity-Time 600 s before it).
        async fn with(
            tariffs: &str,
            balance: i64,
            clock_s: i64,
            tune: impl FnOnce(&mut ServerConfig),
        ) -> Loop {
            let store = store::open("sqlite::memory:").unwrap();
            ocs_common::add_e164(&*store, ALICE, balance);
            let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
            cfg.validity_time = 600;
            tune(&mut cfg);
            let server = Arc::new(ChargingServer::new(
                store,
                Tariffs::parse(tariffs).unwrap(),
                cfg,
            ));
            let clock = Arc::new(AtomicI64::new(clock_s));
            let (srv, c) = (server.clone(), clock.clone());
            let ocs = Node::builder()
                .origin_host("ocs.example.net")
                .origin_realm("example.net")
                .listen("127.0.0.1:0".parse().unwrap())
                .auth_application(4)
                .handler(
                    4,
                    <Ccr as Command>::CODE,
                    typed(move |ccr: Ccr| {
                        let (srv, c) = (srv.clone(), c.clone());
                        async move {
                            let secs = u64::try_from(c.load(Ordering::SeqCst)).unwrap();
                            let now = UNIX_EPOCH + Duration::from_secs(secs);
                            tokio::task::spawn_blocking(move || srv.handle_ccr(ccr, now))
                                .await
                                .unwrap()
                        }
                    }),
                )
                .build()
                .await
                .unwrap();
            let client = client_of("pgw.example.net", ocs.local_addrs()[0]).await;
            Loop {
                server,
                clock,
                ocs,
                client,
            }
        }

        fn money(&self) -> (i64, i64) {
            let a = self
                .server
                .store()
                .find_account(&SubscriberId::new(IdKind::E164, ALICE))
                .unwrap()
                .unwrap();
            (a.balance, a.reserved)
        }

        fn top_up(&self, amount: i64) {
            let store = self.server.store();
            let id = store
                .find_account(&SubscriberId::new(IdKind::E164, ALICE))
                .unwrap()
                .unwrap()
                .id;
            store.adjust_balance(id, amount, 0).unwrap();
        }

        /// Sends the session's one queued CCR over TCP and feeds the answer back at `now`.
        async fn exchange(&self, s: &mut CcSession, now: Instant) -> (Ccr, Cca) {
            let mut reqs: Vec<Request> = Vec::new();
            while let Some(o) = s.poll_output() {
                if let Output::Send(r) = o {
                    reqs.push(r);
                }
            }
            assert_eq!(reqs.len(), 1, "{reqs:?}");
            let ccr = reqs.remove(0).ccr;
            let cca: Cca = self.client.send(&ccr, 4).await.unwrap();
            s.on_cca(&cca, now);
            (ccr, cca)
        }

        /// Sends every CCR the session queues over TCP (one at a time, at most `max`) and
        /// feeds the answers back at `now`; returns them and the client's events.
        async fn pump(
            &self,
            s: &mut CcSession,
            now: Instant,
            max: usize,
        ) -> (Vec<(Ccr, Cca)>, Vec<ClientEvent>) {
            let (mut sent, mut events) = (Vec::new(), Vec::new());
            loop {
                let mut reqs: Vec<Request> = Vec::new();
                while let Some(o) = s.poll_output() {
                    match o {
                        Output::Send(r) => reqs.push(r),
                        Output::Event(e) => events.push(e),
                    }
                }
                if reqs.is_empty() {
                    return (sent, events);
                }
                for r in reqs {
                    assert!(sent.len() < max, "more than {max} CCRs: {sent:?}");
                    let cca: Cca = self.client.send(&r.ccr, 4).await.unwrap();
                    s.on_cca(&cca, now);
                    sent.push((r.ccr, cca));
                }
            }
        }

        async fn stop(self) {
            self.client.abort();
            self.ocs.abort();
        }
    }

    fn session(id: &str) -> CcSession {
        let mut c = ClientConfig::new("pgw.example.net", "example.net", "example.net", GY);
        c.subscription_id = vec![msisdn(ALICE)];
        CcSession::new(id, c)
    }

    fn tariffs(data_extra: &str, voice_extra: &str) -> String {
        format!(
            "currency = 978\nexponent = 2\n\
             [[tariff]]\nname = \"data\"\nrating_group = 100\nunit = \"total_octets\"\n\
             block = 1000000\nprice = 10\ndefault_quota = 5000000\n{data_extra}\n\
             [[tariff]]\nname = \"voice\"\nrating_group = 200\nunit = \"time\"\nblock = 60\n\
             price = 5\ndefault_quota = 300\n{voice_extra}\n"
        )
    }

    fn now_s() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn credit_pool_over_tcp() {
        let l = Loop::start(
            &tariffs(
                "pool = { id = 1, multiplier = \"0.000001\" }",
                "pool = { id = 1, multiplier = \"0.01\" }",
            ),
            None,
            now_s(),
        )
        .await;
        let mut s = session(&l.client.new_session_id());
        let t0 = Instant::now();
        s.start(&[(DATA, None), (VOICE, None)], t0);
        l.exchange(&mut s, t0).await;
        assert_eq!(s.pool_balance(1), Some(8_000_000_000));
        s.report_usage(VOICE, Units::only(UnitType::Time, 400), t0);
        s.report_usage(DATA, Units::only(UnitType::TotalOctets, 3_000_000), t0);
        let sends = std::iter::from_fn(|| s.poll_output())
            .filter(|o| matches!(o, Output::Send(_)))
            .count();
        assert_eq!(sends, 0, "1 pool unit left");
        s.report_usage(DATA, Units::only(UnitType::TotalOctets, 1_000_000), t0);
        let (u, cca) = l.exchange(&mut s, t0).await;
        assert_eq!(cca.result_code, 2001);
        let reasons: Vec<_> = u
            .multiple_services_credit_control
            .iter()
            .map(|m| m.reporting_reason.clone())
            .collect();
        assert_eq!(reasons, vec![vec![ReportingReason::PoolExhausted]; 2]);
        assert_eq!(l.money(), (1000 - 40 - 35, 75));
        l.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tariff_change_over_tcp() {
        let day = 19_000 * 86_400;
        let wall0 = day + 19 * 3600 + 55 * 60;
        let l = Loop::start(
            &tariffs(
                "",
                "bands = [{ start = \"08:00\", price = 5 }, { start = \"20:00\", price = 1 }]",
            ),
            None,
            wall0,
        )
        .await;
        let mut s = session(&l.client.new_session_id());
        let t0 = Instant::now();
        s.set_wall_clock(t0, UNIX_EPOCH + Duration::from_secs(wall0 as u64));
        s.start(&[(VOICE, None)], t0);
        let (_, cca) = l.exchange(&mut s, t0).await;
        let gsu = cca.multiple_services_credit_control[0]
            .granted_service_unit
            .clone()
            .unwrap();
        assert_eq!(
            gsu.tariff_time_change.map(|t| t.unix_seconds()),
            Some(day + 20 * 3600)
        );
        s.report_usage(
            VOICE,
            Units::only(UnitType::Time, 240),
            t0 + Duration::from_secs(240),
        );
        let t1 = t0 + Duration::from_secs(420);
        l.clock.store(wall0 + 420, Ordering::SeqCst);
        s.report_usage(VOICE, Units::only(UnitType::Time, 120), t1);
        let (u, _) = l.exchange(&mut s, t1).await;
        let usu = &u.multiple_services_credit_control[0].used_service_unit;
        assert_eq!(
            usu.iter()
                .map(|u| (u.tariff_change_usage, u.cc_time))
                .collect::<Vec<_>>(),
            vec![
                (Some(TariffChangeUsage::UnitBeforeTariffChange), Some(240)),
                (Some(TariffChangeUsage::UnitAfterTariffChange), Some(120)),
            ]
        );
        assert_eq!(l.money(), (1000 - 22, 5));
        l.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consumption_time_and_trigger_over_tcp() {
        let l = Loop::start(
            &tariffs(
                "",
                "quota_consumption_time = 10\ntriggers = [\"change_in_rat\"]",
            ),
            None,
            now_s(),
        )
        .await;
        let mut s = session(&l.client.new_session_id());
        let t0 = Instant::now();
        s.start(&[(VOICE, None)], t0);
        l.exchange(&mut s, t0).await;
        let q = s.quota(&VOICE).unwrap();
        assert_eq!(q.consumption_time, Some(Duration::from_secs(10)));
        assert_eq!(q.triggers, vec![TriggerType::ChangeInRat]);
        for secs in [0, 30, 33] {
            s.report_activity(VOICE, Units::default(), t0 + Duration::from_secs(secs));
        }
        let t1 = t0 + Duration::from_secs(33);
        assert!(!s.rating_condition_changed(TriggerType::ChangeInQos, t1));
        assert!(s.rating_condition_changed(TriggerType::ChangeInRat, t1));
        let (u, cca) = l.exchange(&mut s, t1).await;
        assert_eq!(cca.result_code, 2001);
        let m = &u.multiple_services_credit_control[0];
        assert_eq!(
            m.reporting_reason,
            vec![ReportingReason::RatingConditionChange]
        );
        assert_eq!(m.used_service_unit[0].cc_time, Some(13));
        assert_eq!(l.money(), (995, 25));
        l.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn money_requests_and_low_balance_over_tcp() {
        let l = Loop::start(&tariffs("", ""), Some(960), now_s()).await;
        let cents = |n: i64| CcMoney {
            unit_value: UnitValue {
                value_digits: n,
                exponent: Some(-2),
                ..Default::default()
            },
            currency_code: Some(978),
            ..Default::default()
        };
        let mut s = session(&l.client.new_session_id());
        let t0 = Instant::now();
        s.request_money(DATA, cents(30));
        s.start(&[(DATA, None)], t0);
        l.exchange(&mut s, t0).await;
        assert_eq!(
            s.quota(&DATA).unwrap().granted.total_octets,
            Some(3_000_000)
        );
        s.report_money(DATA, &cents(30), t0);
        let (_, cca) = l.exchange(&mut s, t0).await;
        assert_eq!(cca.low_balance_indication, Some(LowBalanceIndication::Yes));
        assert_eq!(l.money(), (970, 30));
        s.terminate(TerminationCause::DiameterLogout, t0);
        l.exchange(&mut s, t0).await;
        let events: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(
            events.contains(&Output::Event(ClientEvent::Closed)),
            "{events:?}"
        );
        assert_eq!(l.money(), (970, 0));
        l.stop().await;
    }

    use super::ocs_common::tariffs::FINAL_TARIFFS;

    /// Starts `service` with a balance of 20 (two 1 MB blocks: the grant is final, its
    /// Final-Unit-Action on the wire `action`), uses those 2 MB over TCP and returns the
    /// CCRs sent for that usage and the events.
    async fn use_final_units(
        l: &Loop,
        s: &mut CcSession,
        service: ServiceKey,
        action: FinalUnitAction,
        t0: Instant,
    ) -> (Vec<(Ccr, Cca)>, Vec<ClientEvent>) {
        s.start(&[(service, None)], t0);
        let (sent, ev) = l.pump(s, t0, 1).await;
        let m = &sent[0].1.multiple_services_credit_control[0];
        assert_eq!(
            m.granted_service_unit.as_ref().unwrap().cc_total_octets,
            Some(2_000_000)
        );
        let fui = m
            .final_unit_indication
            .as_ref()
            .expect("Final-Unit-Indication");
        assert_eq!(fui.final_unit_action, action);
        assert!(
            ev.iter().any(|e| matches!(
                e,
                ClientEvent::Granted {
                    final_units: true,
                    ..
                }
            )),
            "{ev:?}"
        );
        assert_eq!(l.money(), (20, 20));
        s.report_usage(service, Units::only(UnitType::TotalOctets, 2_000_000), t0);
        l.pump(s, t0, 2).await
    }

    fn enforcement_of(ev: &[ClientEvent]) -> Enforcement {
        ev.iter()
            .find_map(|e| match e {
                ClientEvent::FinalUnitAction { enforcement, .. } => Some(enforcement.clone()),
                _ => None,
            })
            .expect("a final-unit action")
    }

    /// The report of the final units: an update with the 2 MB used and no
    /// Requested-Service-Unit (RFC 8506 §5.6.2).
    fn assert_final_report(ccr: &Ccr) {
        assert_eq!(ccr.cc_request_type, CcRequestType::UpdateRequest);
        let m = &ccr.multiple_services_credit_control[0];
        assert!(m.requested_service_unit.is_none(), "{m:?}");
        assert_eq!(m.used_service_unit[0].cc_total_octets, Some(2_000_000));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn final_unit_indication_over_tcp() {
        // REDIRECT (the server's own action TERMINATE loses to the tariff's): enforced
        // until Validity-Time, when the client asks again and a new grant lifts it.
        let l = Loop::with(FINAL_TARIFFS, 20, now_s(), |c| {
            c.final_unit_action = FinalUnitAction::Terminate
        })
        .await;
        let mut s = session(&l.client.new_session_id());
        let t0 = Instant::now();
        let (sent, ev) = use_final_units(&l, &mut s, DATA, FinalUnitAction::Redirect, t0).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_final_report(&sent[0].0);
        let redirect = Enforcement::Redirect {
            address_type: RedirectAddressType::Url,
            address: "https://topup.example.net/".into(),
            filters: Filters {
                filter_ids: vec!["zero-rated".into()],
                rules: vec![],
            },
        };
        assert_eq!(enforcement_of(&ev), redirect);
        assert!(
            !ev.iter()
                .any(|e| matches!(e, ClientEvent::TerminateService { .. })),
            "{ev:?}"
        );
        assert_eq!(s.state(), State::Open);
        assert_eq!(s.enforcement(&DATA), Some(redirect));
        assert_eq!(l.money(), (0, 0));
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(600));
        l.top_up(1000);
        s.handle_timeout(deadline);
        let (sent, ev) = l.pump(&mut s, deadline, 1).await;
        let m = &sent[0].0.multiple_services_credit_control[0];
        assert!(m.requested_service_unit.is_some() && m.used_service_unit.is_empty());
        assert_eq!(m.reporting_reason, vec![ReportingReason::ValidityTime]);
        assert!(
            ev.contains(&ClientEvent::FinalUnitActionEnded { service: DATA }),
            "{ev:?}"
        );
        assert_eq!(s.enforcement(&DATA), None);
        assert_eq!(
            s.quota(&DATA).unwrap().granted.total_octets,
            Some(5_000_000)
        );
        assert_eq!(l.money(), (1000, 50));
        l.stop().await;

        // RESTRICT_ACCESS: the tariff's Filter-Id and Restriction-Filter-Rule apply.
        let l = Loop::with(FINAL_TARIFFS, 20, now_s(), |c| {
            c.final_unit_action = FinalUnitAction::Terminate
        })
        .await;
        let mut s = session(&l.client.new_session_id());
        let svc = ServiceKey::rating_group(200);
        let (sent, ev) = use_final_units(
            &l,
            &mut s,
            svc,
            FinalUnitAction::RestrictAccess,
            Instant::now(),
        )
        .await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_final_report(&sent[0].0);
        let restrict = Enforcement::RestrictAccess(Filters {
            filter_ids: vec!["walled-garden".into()],
            rules: vec!["permit out ip from any to 192.0.2.10".into()],
        });
        assert_eq!(enforcement_of(&ev), restrict);
        assert!(!ev
            .iter()
            .any(|e| matches!(e, ClientEvent::TerminateService { .. })));
        assert_eq!(s.state(), State::Open);
        assert_eq!(s.enforcement(&svc), Some(restrict));
        assert_eq!(l.money(), (0, 0));
        l.stop().await;

        // TERMINATE (the server's own action REDIRECT loses): the session ends.
        let l = Loop::with(FINAL_TARIFFS, 20, now_s(), |c| {
            c.final_unit_action = FinalUnitAction::Redirect
        })
        .await;
        let mut s = session(&l.client.new_session_id());
        let svc = ServiceKey::rating_group(300);
        let (sent, ev) =
            use_final_units(&l, &mut s, svc, FinalUnitAction::Terminate, Instant::now()).await;
        assert_eq!(enforcement_of(&ev), Enforcement::Terminate);
        assert!(ev
            .iter()
            .any(|e| matches!(e, ClientEvent::TerminateService { .. })));
        assert!(ev.contains(&ClientEvent::Closed), "{ev:?}");
        let (last, _) = sent.last().unwrap();
        assert_eq!(last.cc_request_type, CcRequestType::TerminationRequest);
        let used: u64 = sent
            .iter()
            .flat_map(|(c, _)| &c.multiple_services_credit_control)
            .flat_map(|m| &m.used_service_unit)
            .filter_map(|u| u.cc_total_octets)
            .sum();
        assert_eq!(used, 2_000_000, "{sent:?}");
        assert_eq!(s.state(), State::Idle);
        assert_eq!(l.money(), (0, 0));
        l.stop().await;
    }

    /// Data (RG 100) with a 1 MB Volume-Quota-Threshold and a 30 s Quota-Holding-Time,
    /// voice (RG 200) with a 60 s Time-Quota-Threshold, and a service-specific RG 300
    /// (1 cent per unit, 10 granted) with a Unit-Quota-Threshold of 2.
    fn threshold_tariffs() -> String {
        tariffs(
            "quota_threshold = 1000000\nquota_holding_time = 30",
            "quota_threshold = 60",
        ) + "[[tariff]]\nname = \"units\"\nrating_group = 300\nunit = \"service_specific\"\n\
             block = 1\nprice = 1\ndefault_quota = 10\nquota_threshold = 2\n"
    }

    const UNITS: ServiceKey = ServiceKey {
        rating_group: Some(300),
        service_identifier: None,
    };

    /// `used` of `service` at `now` sends nothing.
    fn assert_quiet(s: &mut CcSession, service: ServiceKey, used: Units, now: Instant) {
        s.report_usage(service, used, now);
        let sends: Vec<Output> = std::iter::from_fn(|| s.poll_output())
            .filter(|o| matches!(o, Output::Send(_)))
            .collect();
        assert!(sends.is_empty(), "{sends:?}");
    }

    /// The one MSCC of an update, for `service`.
    fn only_mscc(ccr: &Ccr, service: ServiceKey) -> &MultipleServicesCreditControl {
        assert_eq!(ccr.cc_request_type, CcRequestType::UpdateRequest);
        let m = &ccr.multiple_services_credit_control;
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].rating_group, service.rating_group);
        &m[0]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thresholds_and_holding_time_over_tcp() {
        let l = Loop::start(&threshold_tariffs(), None, now_s()).await;
        let mut s = session(&l.client.new_session_id());
        let t0 = Instant::now();
        s.start(&[(DATA, None), (VOICE, None), (UNITS, None)], t0);
        let (_, cca) = l.exchange(&mut s, t0).await;
        let sent: Vec<_> = cca
            .multiple_services_credit_control
            .iter()
            .map(|m| {
                (
                    m.rating_group,
                    m.time_quota_threshold,
                    m.volume_quota_threshold,
                    m.unit_quota_threshold,
                    m.quota_holding_time,
                )
            })
            .collect();
        assert!(sent.contains(&(Some(100), None, Some(1_000_000), None, Some(30))));
        assert!(sent.contains(&(Some(200), Some(60), None, None, None)));
        assert!(sent.contains(&(Some(300), None, None, Some(2), None)));
        assert_eq!(
            s.quota(&DATA).unwrap().holding_time,
            Some(Duration::from_secs(30))
        );
        assert_eq!(l.money(), (1000, 50 + 25 + 10));
        let threshold = Some(ReportingReason::Threshold);

        // Volume: 1.5 MB left is quiet; 0.9 MB left asks early, THRESHOLD in the USU.
        assert_quiet(
            &mut s,
            DATA,
            Units::only(UnitType::TotalOctets, 3_500_000),
            t0,
        );
        s.report_usage(DATA, Units::only(UnitType::TotalOctets, 600_000), t0);
        let (u, _) = l.exchange(&mut s, t0).await;
        let m = only_mscc(&u, DATA);
        assert_eq!(m.used_service_unit[0].reporting_reason, threshold);
        assert_eq!(m.used_service_unit[0].cc_total_octets, Some(4_100_000));
        assert!(m.requested_service_unit.is_some());
        assert_eq!(l.money(), (950, 85));

        // Time: 100 s left is quiet; 50 s left asks early.
        assert_quiet(&mut s, VOICE, Units::only(UnitType::Time, 200), t0);
        s.report_usage(VOICE, Units::only(UnitType::Time, 50), t0);
        let (u, _) = l.exchange(&mut s, t0).await;
        let m = only_mscc(&u, VOICE);
        assert_eq!(m.used_service_unit[0].reporting_reason, threshold);
        assert_eq!(m.used_service_unit[0].cc_time, Some(250));
        assert!(m.requested_service_unit.is_some());
        assert_eq!(l.money(), (925, 85));

        // Units: 3 left is quiet; 2 left asks early.
        assert_quiet(&mut s, UNITS, Units::only(UnitType::ServiceSpecific, 7), t0);
        s.report_usage(UNITS, Units::only(UnitType::ServiceSpecific, 1), t0);
        let (u, _) = l.exchange(&mut s, t0).await;
        let m = only_mscc(&u, UNITS);
        assert_eq!(m.used_service_unit[0].reporting_reason, threshold);
        assert_eq!(m.used_service_unit[0].cc_service_specific_units, Some(8));
        assert!(m.requested_service_unit.is_some());
        assert_eq!(l.money(), (917, 85));

        // The whole grant at once: QUOTA_EXHAUSTED.
        s.report_usage(DATA, Units::only(UnitType::TotalOctets, 5_000_000), t0);
        let (u, _) = l.exchange(&mut s, t0).await;
        let m = only_mscc(&u, DATA);
        assert_eq!(
            m.used_service_unit[0].reporting_reason,
            Some(ReportingReason::QuotaExhausted)
        );
        assert_eq!(l.money(), (867, 85));

        // 30 s without data: QHT, reported in the MSCC and released without asking.
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(30));
        s.report_usage(DATA, Units::only(UnitType::TotalOctets, 100_000), t0);
        s.handle_timeout(deadline);
        let (u, _) = l.exchange(&mut s, deadline).await;
        let m = only_mscc(&u, DATA);
        assert_eq!(m.reporting_reason, vec![ReportingReason::Qht]);
        assert!(m.requested_service_unit.is_none());
        assert_eq!(m.used_service_unit[0].cc_total_octets, Some(100_000));
        assert!(s.quota(&DATA).is_none());
        assert_eq!(l.money(), (857, 35));

        // Validity-Time: voice and units report VALIDITY_TIME and ask again.
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(600));
        s.report_usage(VOICE, Units::only(UnitType::Time, 30), deadline);
        s.handle_timeout(deadline);
        let (u, _) = l.exchange(&mut s, deadline).await;
        assert_eq!(u.cc_request_type, CcRequestType::UpdateRequest);
        let mut msccs = u.multiple_services_credit_control.clone();
        msccs.sort_by_key(|m| m.rating_group);
        assert_eq!(msccs.len(), 2, "{msccs:?}");
        for m in &msccs {
            assert_eq!(m.reporting_reason, vec![ReportingReason::ValidityTime]);
            assert!(m.requested_service_unit.is_some());
        }
        assert_eq!(msccs[0].used_service_unit[0].cc_time, Some(30));
        assert_eq!(l.money(), (852, 35));

        // Termination: each report is FINAL and the reservations go.
        s.terminate(TerminationCause::DiameterLogout, deadline);
        let (t, _) = l.exchange(&mut s, deadline).await;
        assert_eq!(t.cc_request_type, CcRequestType::TerminationRequest);
        assert_eq!(t.multiple_services_credit_control.len(), 2);
        for m in &t.multiple_services_credit_control {
            assert_eq!(m.reporting_reason, vec![ReportingReason::Final]);
        }
        assert_eq!(s.state(), State::Idle);
        assert_eq!(l.money(), (852, 0));
        l.stop().await;
    }
}

/// The T flag on the wire decides how far back the OCS looks for a request's key once the
/// embedded store's filter of recent keys is full: a marked retransmission is found in
/// SQLite and answered as the first time, an unmarked request is taken as new (RFC 6733
/// Appendix C).
/// A peer opens sessions it never ends: past the store's bound on open sessions, a CCR-I
/// is answered 3004 with the E bit and nothing is reserved, while open sessions go on and
/// a session ended makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_past_the_bound_get_3004_and_open_ones_go_on() {
    const WHO: &str = "491700000009"; // alice, 1000
    let (ocs, _dir) = ocs_with("session-bound", |o| o.engine.limits.sessions = 3).await;
    let client = client_of("pgw.example.net", ocs.local_addrs()[0]).await;
    let ccr = |session: &str, kind: CcRequestType, n: u32| {
        let mut c = base(session, kind, n, GY);
        c.subscription_id = vec![msisdn(WHO)].into();
        c.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
        c
    };
    let send = |c: Ccr| {
        let client = client.clone();
        async move { result_code_of(&client, &c).await }
    };
    for s in ["pgw;b1", "pgw;b2", "pgw;b3"] {
        assert_eq!(send(ccr(s, CcRequestType::InitialRequest, 0)).await, 2001);
    }
    let reserved = || {
        let who = SubscriberId::new(IdKind::E164, WHO);
        ocs.server
            .store()
            .find_account(&who)
            .unwrap()
            .unwrap()
            .reserved
    };
    let held = reserved();
    assert!(held > 0);
    assert_eq!(
        send(ccr("pgw;b4", CcRequestType::InitialRequest, 0)).await,
        3004
    );
    assert_eq!(reserved(), held, "nothing reserved for the refused session");
    assert_eq!(
        send(ccr("pgw;b1", CcRequestType::UpdateRequest, 1)).await,
        2001
    );
    assert_eq!(
        send(ccr("pgw;b1", CcRequestType::TerminationRequest, 2)).await,
        2001
    );
    assert_eq!(
        send(ccr("pgw;b4", CcRequestType::InitialRequest, 0)).await,
        2001
    );
    client.abort();
    ocs.stop().await;
}

/// A hostile (or broken) peer replays old requests as fast as it can: each one's answer
/// must be read back from SQLite, some ten CCRs of CPU. Past the store's look-up budget
/// the replays are answered 3004 with the E bit, and nothing is charged twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_replaying_old_requests_gets_3004_past_the_lookup_budget() {
    use diameter_apps::ocs::server::ServerConfig;
    use diameter_apps::ocs::store::{IdKind, SubscriberId};
    use std::time::SystemTime;
    const WHO: &str = "491700000010";
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let sms = |session: &str| pgw_sms(session, WHO);
    let sessions = ["pgw;r1", "pgw;r2", "pgw;r3", "pgw;r4"];
    {
        let cfg = ServerConfig::new("ocs.example.net", "example.net");
        let server = server_on_store(&db, WHO, 100, cfg);
        for session in sessions {
            let cca = server.handle_ccr_from(sms(session), "pgw.example.net", SystemTime::now());
            assert_eq!(cca.result_code, 2001);
        }
    }
    // Reopened, the store knows the keys but holds none of their answers in memory.
    let (ocs, _ocs_dir) = ocs_with("replays", |o| {
        o.store = format!("sqlite://{db}");
        o.accounts = None;
        o.engine.sql_lookups_per_s = 2;
    })
    .await;
    let client = client_of("pgw.example.net", ocs.local_addrs()[0]).await;
    let mut codes = Vec::new();
    for session in sessions {
        codes.push(result_code_of(&client, &sms(session)).await);
    }
    assert_eq!(codes, [2001, 2001, 3004, 3004], "two look-ups, then 3004");
    // New requests are not held back.
    assert_eq!(result_code_of(&client, &sms("pgw;new")).await, 2001);
    let who = SubscriberId::new(IdKind::E164, WHO);
    let balance = ocs
        .server
        .store()
        .find_account(&who)
        .unwrap()
        .unwrap()
        .balance;
    assert_eq!(balance, 100 - 5 * 9, "five SMS charged, each once");
    client.abort();
    ocs.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_key_filter_the_t_flag_on_the_wire_finds_the_old_answer() {
    use diameter_apps::ocs::server::ServerConfig;
    use diameter_core::node::SendOptions;
    use std::time::SystemTime;
    const WHO: &str = "491700000009";
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let sms = |session: &str| pgw_sms(session, WHO);
    // Three SMS from pgw.example.net, a minute apart, charged straight on the store.
    let now = SystemTime::now();
    let first = {
        let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
        // A peer that may refund gets each debit's reference.
        cfg.refund_peers.insert("pgw.example.net".into());
        let server = server_on_store(&db, WHO, 100, cfg);
        let mut answers = Vec::new();
        for (ago, session) in [(180, "pgw;old"), (120, "pgw;a"), (60, "pgw;b")] {
            let at = now - Duration::from_secs(ago);
            let cca = server.handle_ccr_from(sms(session), "pgw.example.net", at);
            assert_eq!(cca.result_code, 2001);
            answers.push(cca);
        }
        answers.swap_remove(0)
    };
    // Each debit has a reference of its own (Refund-Information): the same one again is
    // the saved answer, a new one is a new charge.
    let reference = |cca: &Cca| {
        cca.multiple_services_credit_control[0]
            .refund_information
            .clone()
    };
    assert!(reference(&first).is_some());
    // The OCS on that store, with a filter of two keys: the oldest minute is left out.
    let (ocs, _ocs_dir) = ocs_with("tflag", |o| {
        o.store = format!("sqlite://{db}");
        o.accounts = None;
        o.engine.limits.filter_keys = 2;
        o.refund_peers = vec!["pgw.example.net".into()];
    })
    .await;
    let client = client_of("pgw.example.net", ocs.local_addrs()[0]).await;
    let send = |options: SendOptions| {
        let client = client.clone();
        let ccr = sms("pgw;old");
        async move {
            let cca: Cca = client.send_with(&ccr, 4, options).await.unwrap();
            cca
        }
    };
    let marked = send(SendOptions::retransmission()).await;
    assert_eq!(marked.result_code, 2001);
    assert_eq!(reference(&marked), reference(&first), "the saved answer");
    let unmarked = send(SendOptions::default()).await;
    assert_eq!(unmarked.result_code, 2001);
    assert_ne!(reference(&unmarked), reference(&first), "charged as new");
    client.abort();
    ocs.stop().await;
}
