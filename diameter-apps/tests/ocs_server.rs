//! The charging server end to end (without sockets): Gy sessions, Ro events, error paths,
//! Tcc expiry and retransmissions, with the balance checked after each step.

mod ocs_common;

use diameter::dict::base_rfc6733::{result_code as base_rc, ReAuthRequestType};
use diameter::dict::dcca_rfc4006::result_code::*;
use diameter::dict::dcca_rfc4006::*;
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
use diameter_apps::ocs::store::{self, IdKind, SubscriberId};
use diameter_core::Command;
use ocs_common::ccr::*;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ALICE: &str = "491700000001";

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn server(balance: i64) -> ChargingServer {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, balance);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.validity_time = 600;
    cfg.tcc = Duration::from_secs(1200);
    // The test client (Origin-Host of `base`) may refund.
    cfg.refund_peers.insert("pgw.example.net".into());
    ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg)
}

/// (balance, reserved) of alice.
fn money(ocs: &ChargingServer) -> (i64, i64) {
    let a = ocs
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, ALICE))
        .unwrap()
        .unwrap();
    (a.balance, a.reserved)
}

/// Handles the CCR and checks that the answer survives the wire.
fn ask(ocs: &ChargingServer, ccr: Ccr, now: SystemTime) -> Cca {
    let wire = Ccr::decode(&ccr.to_message(4, 1, 1)).expect("ccr encodes");
    assert_eq!(wire, ccr);
    let cca = ocs.handle_ccr(ccr, now);
    assert_eq!(
        Cca::decode(&cca.to_message(4, 1, 1)).expect("cca encodes"),
        cca
    );
    cca
}

fn initial(session: &str, msccs: Vec<MultipleServicesCreditControl>) -> Ccr {
    let mut c = base(session, CcRequestType::InitialRequest, 0, GY);
    c.subscription_id = vec![msisdn(ALICE)].into();
    c.multiple_services_credit_control = msccs.into();
    c
}

fn update(session: &str, n: u32, msccs: Vec<MultipleServicesCreditControl>) -> Ccr {
    let mut c = base(session, CcRequestType::UpdateRequest, n, GY);
    c.multiple_services_credit_control = msccs.into();
    c
}

fn terminate(session: &str, n: u32, msccs: Vec<MultipleServicesCreditControl>) -> Ccr {
    let mut c = base(session, CcRequestType::TerminationRequest, n, GY);
    c.multiple_services_credit_control = msccs.into();
    c
}

fn octets(cca: &Cca, i: usize) -> Option<u64> {
    cca.multiple_services_credit_control[i]
        .granted_service_unit
        .as_ref()
        .and_then(|g| g.cc_total_octets)
}

#[test]
fn gy_data_session_initial_updates_termination() {
    let ocs = server(1000);
    let s = "pgw.example.net;1;1";
    let cca = ask(
        &ocs,
        initial(s, vec![data_mscc(100, Some(5_000_000), None)]),
        t(0),
    );
    assert_eq!(cca.result_code, 2001);
    let m = &cca.multiple_services_credit_control[0];
    assert_eq!(
        (m.result_code, m.rating_group, m.validity_time),
        (Some(2001), Some(100), Some(600))
    );
    assert_eq!(octets(&cca, 0), Some(5_000_000));
    assert!(m.final_unit_indication.is_none());
    assert_eq!(money(&ocs), (1000, 50));

    let cca = ask(
        &ocs,
        update(s, 1, vec![data_mscc(100, Some(5_000_000), Some(3_000_000))]),
        t(60),
    );
    assert_eq!((cca.result_code, octets(&cca, 0)), (2001, Some(5_000_000)));
    assert_eq!(money(&ocs), (970, 50));

    // A started block is charged: 2.5 MB cost 3 blocks.
    let cca = ask(
        &ocs,
        update(s, 2, vec![data_mscc(100, Some(0), Some(2_500_000))]),
        t(120),
    );
    assert_eq!((cca.result_code, octets(&cca, 0)), (2001, Some(5_000_000)));
    assert_eq!(money(&ocs), (940, 50));

    let cca = ask(
        &ocs,
        terminate(s, 3, vec![data_mscc(100, None, Some(1_000_000))]),
        t(180),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(&ocs), (930, 0));
    let id = ocs.store().session_account(s).unwrap();
    assert_eq!(id, None, "session closed");
    let acc = ocs
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, ALICE))
        .unwrap()
        .unwrap();
    assert_eq!(ocs.store().ledger_totals(acc.id).unwrap().debits, 70);

    // The session is gone: a further update is 5002.
    let cca = ask(
        &ocs,
        update(s, 4, vec![data_mscc(100, Some(1), None)]),
        t(200),
    );
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
}

#[test]
fn several_services_in_one_session_share_the_balance() {
    let ocs = server(100);
    let s = "pgw;multi";
    // data wants 50 (5 MB), voice wants 25 (5 min): both fit.
    let cca = ask(
        &ocs,
        initial(
            s,
            vec![data_mscc(100, Some(0), None), voice_mscc(Some(300), None)],
        ),
        t(0),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(octets(&cca, 0), Some(5_000_000));
    let voice = &cca.multiple_services_credit_control[1];
    assert_eq!(
        voice.granted_service_unit.as_ref().unwrap().cc_time,
        Some(300)
    );
    assert_eq!(money(&ocs), (100, 75));
    // Voice used 61 s (2 started minutes = 10) and asks for 5 more minutes (25): granted.
    // Data asks 10 MB (100): only what remains is granted, with Final-Unit-Indication.
    let cca = ask(
        &ocs,
        update(
            s,
            1,
            vec![
                voice_mscc(Some(300), Some(61)),
                data_mscc(100, Some(10_000_000), Some(0)),
            ],
        ),
        t(60),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(&ocs).0, 90);
    let voice = &cca.multiple_services_credit_control[0];
    assert_eq!(
        voice.granted_service_unit.as_ref().unwrap().cc_time,
        Some(300)
    );
    // 90 - 25 = 65 left for data: 6 blocks.
    assert_eq!(octets(&cca, 1), Some(6_000_000));
    let fui = cca.multiple_services_credit_control[1]
        .final_unit_indication
        .as_ref()
        .unwrap();
    assert_eq!(fui.final_unit_action, FinalUnitAction::Terminate);
    assert_eq!(money(&ocs), (90, 85));
    let cca = ask(
        &ocs,
        terminate(
            s,
            2,
            vec![
                voice_mscc(None, Some(10)),
                data_mscc(100, None, Some(6_000_000)),
            ],
        ),
        t(90),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(&ocs), (90 - 5 - 60, 0));
}

#[test]
fn insufficient_balance_gives_4012_and_final_unit() {
    let ocs = server(25);
    let s = "pgw;poor";
    // 5 MB cost 50; 25 buys 2 blocks, marked as the final units.
    let cca = ask(
        &ocs,
        initial(s, vec![data_mscc(100, Some(5_000_000), None)]),
        t(0),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(octets(&cca, 0), Some(2_000_000));
    assert!(cca.multiple_services_credit_control[0]
        .final_unit_indication
        .is_some());
    assert_eq!(money(&ocs), (25, 20));
    // Used everything; nothing more can be granted.
    let cca = ask(
        &ocs,
        update(s, 1, vec![data_mscc(100, Some(0), Some(2_000_000))]),
        t(10),
    );
    assert_eq!(cca.result_code, DIAMETER_CREDIT_LIMIT_REACHED);
    assert_eq!(
        cca.multiple_services_credit_control[0].result_code,
        Some(4012)
    );
    assert!(cca.multiple_services_credit_control[0]
        .granted_service_unit
        .is_none());
    assert_eq!(money(&ocs), (5, 0));
    // Over-use beyond the balance is capped: never below zero.
    let cca = ask(
        &ocs,
        terminate(s, 2, vec![data_mscc(100, None, Some(9_000_000))]),
        t(20),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(&ocs), (0, 0));
}

#[test]
fn unknown_subscriber_rating_failed_and_auto_provision() {
    let ocs = server(100);
    let mut c = initial("pgw;nobody", vec![data_mscc(100, Some(0), None)]);
    c.subscription_id = vec![msisdn("4900")].into();
    assert_eq!(
        ask(&ocs, c.clone(), t(0)).result_code,
        DIAMETER_USER_UNKNOWN
    );
    // No tariff for rating group 999.
    let cca = ask(
        &ocs,
        initial("pgw;rg", vec![data_mscc(999, Some(0), None)]),
        t(0),
    );
    assert_eq!(cca.result_code, DIAMETER_RATING_FAILED);
    assert_eq!(
        cca.multiple_services_credit_control[0].result_code,
        Some(5031)
    );
    // One good and one unrated service: the command succeeds, the MSCC says 5031.
    let cca = ask(
        &ocs,
        initial(
            "pgw;rg2",
            vec![data_mscc(999, Some(0), None), data_mscc(100, Some(0), None)],
        ),
        t(0),
    );
    assert_eq!(cca.result_code, 2001);
    assert_eq!(
        cca.multiple_services_credit_control[0].result_code,
        Some(5031)
    );
    assert_eq!(
        cca.multiple_services_credit_control[1].result_code,
        Some(2001)
    );

    let store = store::open("sqlite::memory:").unwrap();
    let mut cfg = ServerConfig::new("ocs", "example.net");
    cfg.auto_provision = Some(500);
    let lab = ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg);
    let cca = ask(&lab, c, t(0));
    assert_eq!(cca.result_code, 2001);
    let acc = lab
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, "4900"))
        .unwrap()
        .unwrap();
    assert_eq!((acc.balance, acc.reserved), (500, 50));
}

/// The clients of open sessions this server remembers (for RAR/ASR) are bounded whatever
/// the store: past the bound a session is still charged, just not remembered.
#[test]
fn the_sessions_whose_client_is_remembered_are_bounded() {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, 1000);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.max_known_sessions = 2;
    let ocs = ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg);
    for s in ["pgw;k1", "pgw;k2", "pgw;k3"] {
        let cca = ask(&ocs, initial(s, vec![data_mscc(100, Some(0), None)]), t(0));
        assert_eq!(cca.result_code, 2001);
    }
    assert!(ocs.session_peer("pgw;k2").is_some());
    assert!(ocs.session_peer("pgw;k3").is_none(), "past the bound");
    // Not remembered, still charged: the store knows the session.
    let u = update("pgw;k3", 1, vec![data_mscc(100, Some(0), Some(1_000_000))]);
    assert_eq!(ask(&ocs, u, t(1)).result_code, 2001);
    // A session ended makes room.
    let term = terminate("pgw;k1", 1, vec![data_mscc(100, None, Some(1))]);
    assert_eq!(ask(&ocs, term, t(2)).result_code, 2001);
    let cca = ask(
        &ocs,
        initial("pgw;k4", vec![data_mscc(100, Some(0), None)]),
        t(3),
    );
    assert_eq!(cca.result_code, 2001);
    assert!(ocs.session_peer("pgw;k4").is_some());
}

/// Auto-provisioning (labs) stops at its limit: a peer naming ever new subscribers cannot
/// create accounts, and the money in them, without bound.
#[test]
fn auto_provisioning_stops_at_its_limit() {
    let store = store::open("sqlite::memory:").unwrap();
    let mut cfg = ServerConfig::new("ocs", "example.net");
    cfg.auto_provision = Some(500);
    cfg.auto_provision_limit = 2;
    let lab = ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg);
    let ccr = |session: &str, who: &str| {
        let mut c = initial(session, vec![data_mscc(100, Some(0), None)]);
        c.subscription_id = vec![msisdn(who)].into();
        c
    };
    assert_eq!(ask(&lab, ccr("pgw;1", "4901"), t(0)).result_code, 2001);
    assert_eq!(ask(&lab, ccr("pgw;2", "4902"), t(0)).result_code, 2001);
    let third = ask(&lab, ccr("pgw;3", "4903"), t(0));
    assert_eq!(third.result_code, DIAMETER_USER_UNKNOWN);
    let who = SubscriberId::new(IdKind::E164, "4903");
    assert!(lab.store().find_account(&who).unwrap().is_none());
    // The accounts made go on being charged.
    assert_eq!(ask(&lab, ccr("pgw;4", "4901"), t(1)).result_code, 2001);
}

#[test]
fn ro_sms_event_direct_debit_refund_check_and_price() {
    let ocs = server(20);
    let cca = ask(
        &ocs,
        sms_event("smsc;1", ALICE, RequestedAction::DirectDebiting),
        t(0),
    );
    assert_eq!(cca.result_code, 2001);
    let m = &cca.multiple_services_credit_control[0];
    assert_eq!(
        m.granted_service_unit
            .as_ref()
            .unwrap()
            .cc_service_specific_units,
        Some(1)
    );
    assert_eq!(money(&ocs), (11, 0));
    // The debit's reference, for a refund.
    let first_debit = m.refund_information.clone();
    assert_eq!(first_debit.as_ref().map(|r| r.len()), Some(17));
    assert_eq!(
        ask(
            &ocs,
            sms_event("smsc;2", ALICE, RequestedAction::DirectDebiting),
            t(1)
        )
        .result_code,
        2001
    );
    assert_eq!(money(&ocs), (2, 0));
    // The third SMS cannot be paid: 4012, nothing debited.
    let cca = ask(
        &ocs,
        sms_event("smsc;3", ALICE, RequestedAction::DirectDebiting),
        t(2),
    );
    assert_eq!(cca.result_code, DIAMETER_CREDIT_LIMIT_REACHED);
    assert_eq!(money(&ocs), (2, 0));
    // Balance check: not enough for one SMS.
    let cca = ask(
        &ocs,
        sms_event("smsc;4", ALICE, RequestedAction::CheckBalance),
        t(3),
    );
    assert_eq!(
        (cca.result_code, cca.check_balance_result),
        (2001, Some(CheckBalanceResult::NoCredit))
    );
    // Refund one SMS, against the first debit.
    let mut refund = sms_event("smsc;5", ALICE, RequestedAction::RefundAccount);
    refund.multiple_services_credit_control[0].refund_information = first_debit;
    let cca = ask(&ocs, refund, t(4));
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(&ocs), (11, 0));
    let cca = ask(
        &ocs,
        sms_event("smsc;6", ALICE, RequestedAction::CheckBalance),
        t(5),
    );
    assert_eq!(
        cca.check_balance_result,
        Some(CheckBalanceResult::EnoughCredit)
    );
    assert_eq!(money(&ocs), (11, 0));
    // Price enquiry: 9 cents in EUR, nothing charged.
    let cca = ask(
        &ocs,
        sms_event("smsc;7", ALICE, RequestedAction::PriceEnquiry),
        t(6),
    );
    let cost = cca.cost_information.unwrap();
    assert_eq!(
        (
            cost.unit_value.value_digits,
            cost.unit_value.exponent,
            cost.currency_code
        ),
        (9, Some(-2), 978)
    );
    assert_eq!(money(&ocs), (11, 0));
    // Unknown subscriber.
    let cca = ask(
        &ocs,
        sms_event("smsc;8", "4999", RequestedAction::DirectDebiting),
        t(7),
    );
    assert_eq!(cca.result_code, DIAMETER_USER_UNKNOWN);
    // A retransmitted event is charged once and answered the same.
    let ev = sms_event("smsc;9", ALICE, RequestedAction::DirectDebiting);
    let first = ask(&ocs, ev.clone(), t(8));
    let again = ask(&ocs, ev, t(9));
    assert_eq!(first, again);
    assert_eq!(money(&ocs), (2, 0));
    let acc = ocs
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, ALICE))
        .unwrap()
        .unwrap();
    let totals = ocs.store().ledger_totals(acc.id).unwrap();
    assert_eq!((totals.debits, totals.refunds), (27, 9));
}

#[test]
fn retransmitted_update_is_charged_once() {
    let ocs = server(1000);
    let s = "pgw;retx";
    ask(&ocs, initial(s, vec![data_mscc(100, Some(0), None)]), t(0));
    let u = update(s, 1, vec![data_mscc(100, Some(0), Some(4_000_000))]);
    let first = ask(&ocs, u.clone(), t(10));
    assert_eq!(money(&ocs), (960, 50));
    // The same CCR-U again (as resent with the T flag after a failover): same answer,
    // charged once.
    let again = ask(&ocs, u, t(11));
    assert_eq!(first, again);
    assert_eq!(money(&ocs), (960, 50));
    // Retransmitted CCR-T after the session closed: still the same answer, no 5002.
    let term = terminate(s, 2, vec![data_mscc(100, None, Some(1))]);
    let first = ask(&ocs, term.clone(), t(20));
    let again = ask(&ocs, term, t(21));
    assert_eq!((first.result_code, first), (2001, again));
    assert_eq!(money(&ocs), (950, 0));
}

/// The embedded store keeps the keys of recent requests in a bounded filter; past it, only
/// a request marked as a possible duplicate (the T flag) is looked for among the older
/// saved answers (RFC 6733 Appendix C), so that new requests cost no SQL.
#[test]
fn past_the_key_filter_only_a_marked_retransmission_is_looked_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = store::EngineOptions::default();
    opts.limits.outcome_bytes = 0; // every answer leaves memory once checkpointed
    opts.limits.filter_keys = 2;
    let path = dir.path().join("ocs.db");
    let engine = Arc::new(store::Engine::open(path.to_str().unwrap(), opts).unwrap());
    ocs_common::add_e164(&*engine, ALICE, 100); // an SMS costs 9
    let cfg = ServerConfig::new("ocs.example.net", "example.net");
    let ocs = ChargingServer::new(engine.clone(), Tariffs::parse(TARIFFS).unwrap(), cfg);
    let charge = |session: &str, marked: bool, at: SystemTime| {
        let ccr = sms_event(session, ALICE, RequestedAction::DirectDebiting);
        let (cca, _durable) = ocs
            .charge_now(&ccr, "smsc.example.net", marked, at)
            .expect("the embedded store charges at once");
        assert_eq!(cca.result_code, 2001);
        cca
    };
    let first = charge("smsc;old", false, t(0));
    engine.checkpoint().unwrap();
    for (minute, session) in [(1, "smsc;a"), (2, "smsc;b"), (3, "smsc;c")] {
        charge(session, false, t(60 * minute));
    }
    assert_eq!(money(&ocs), (64, 0));
    // The filter (two keys) has dropped the first minute: the marked retransmission is
    // found in SQLite and answered as the first time, not charged again.
    assert_eq!(charge("smsc;old", true, t(180)), first);
    assert_eq!(money(&ocs), (64, 0));
    // A recent request is found without the mark.
    charge("smsc;c", false, t(181));
    assert_eq!(money(&ocs), (64, 0));
    // An unmarked request older than the filter's window is taken as new.
    charge("smsc;old", false, t(182));
    assert_eq!(money(&ocs), (55, 0));
}

/// A look-up of an old answer in SQLite costs some ten CCRs of CPU: past the embedded
/// store's budget for them, a request that needs one is answered 3004 before anything is
/// charged, and new requests are not held back.
#[test]
fn replays_of_old_requests_past_the_lookup_budget_get_3004_and_charge_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = store::EngineOptions::default();
    opts.limits.outcome_bytes = 0; // every answer leaves memory once checkpointed
    opts.sql_lookups_per_s = 2;
    let path = dir.path().join("ocs.db");
    let engine = Arc::new(store::Engine::open(path.to_str().unwrap(), opts).unwrap());
    ocs_common::add_e164(&*engine, ALICE, 100); // an SMS costs 9
    let cfg = ServerConfig::new("ocs.example.net", "example.net");
    let ocs = ChargingServer::new(engine.clone(), Tariffs::parse(TARIFFS).unwrap(), cfg);
    let charge = |session: &str, at: SystemTime| {
        let ccr = sms_event(session, ALICE, RequestedAction::DirectDebiting);
        let (cca, _durable) = ocs
            .charge_now(&ccr, "smsc.example.net", false, at)
            .expect("the embedded store charges at once");
        cca
    };
    let sessions = ["smsc;1", "smsc;2", "smsc;3", "smsc;4"];
    let first: Vec<Box<Cca>> = sessions.iter().map(|s| charge(s, t(0))).collect();
    engine.checkpoint().unwrap();
    assert_eq!(money(&ocs), (64, 0));
    // The same four again within one second: two are answered from SQLite as the first
    // time; the others are refused with 3004, and nothing is charged.
    let again: Vec<Box<Cca>> = sessions.iter().map(|s| charge(s, t(10))).collect();
    assert_eq!(again[..2], first[..2]);
    for cca in &again[2..] {
        assert_eq!(cca.result_code, base_rc::DIAMETER_TOO_BUSY);
    }
    assert_eq!(money(&ocs), (64, 0));
    // A new request needs no look-up and is charged.
    assert_eq!(charge("smsc;5", t(10)).result_code, 2001);
    assert_eq!(money(&ocs), (55, 0));
    // A second later the budget has room again: the refused ones get their saved answer.
    assert_eq!(charge("smsc;3", t(11)), first[2]);
    assert_eq!(charge("smsc;4", t(11)), first[3]);
    assert_eq!(money(&ocs), (55, 0));
}

#[test]
fn tcc_expiry_releases_the_reservation() {
    let ocs = server(1000);
    let s = "pgw;vanished";
    ask(
        &ocs,
        initial(
            s,
            vec![data_mscc(100, Some(0), None), voice_mscc(Some(60), None)],
        ),
        t(0),
    );
    assert_eq!(money(&ocs), (1000, 55));
    ask(
        &ocs,
        update(s, 1, vec![data_mscc(100, Some(0), Some(1_000_000))]),
        t(100),
    );
    assert_eq!(money(&ocs), (990, 55));
    // Tcc is 1200 s from the last request.
    assert!(ocs.expire_sessions(t(1299)).unwrap().is_empty());
    assert_eq!(money(&ocs), (990, 55));
    assert_eq!(ocs.expire_sessions(t(1300)).unwrap(), vec![s.to_string()]);
    assert_eq!(money(&ocs), (990, 0));
    let cca = ask(
        &ocs,
        update(s, 2, vec![data_mscc(100, Some(0), None)]),
        t(1301),
    );
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
}

#[test]
fn operator_rar_and_asr() {
    let ocs = server(1000);
    let s = "pgw;rar";
    ask(&ocs, initial(s, vec![data_mscc(100, Some(0), None)]), t(0));
    let rar = ocs.re_auth_request(s).unwrap();
    assert_eq!(rar.session_id.as_str(), s);
    assert_eq!(rar.destination_host.as_str(), "pgw.example.net");
    assert_eq!(rar.re_auth_request_type, ReAuthRequestType::AuthorizeOnly);
    assert_eq!(rar.auth_application_id, 4);
    let asr = ocs.abort_session_request(s).unwrap();
    assert_eq!(asr.destination_realm.as_str(), "example.net");
    assert!(ocs.re_auth_request("nope").is_none());
}

fn money_rsu(value_digits: i64, exponent: i32, currency: u32) -> RequestedServiceUnit {
    RequestedServiceUnit {
        cc_money: Some(CcMoney {
            unit_value: UnitValue {
                value_digits,
                exponent: Some(exponent),
                ..Default::default()
            },
            currency_code: Some(currency),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn cc_money_requests_get_units_and_their_price() {
    let ocs = server(1000);
    let s = "pgw.example.net;money;1";
    // 0.35 EUR buys three whole 1 MB blocks at 10 cents: 3 MB, priced 0.30 EUR.
    let mscc = MultipleServicesCreditControl {
        rating_group: Some(100),
        requested_service_unit: Some(money_rsu(35, -2, 978).into()),
        ..Default::default()
    };
    let cca = ask(&ocs, initial(s, vec![mscc]), t(0));
    assert_eq!(cca.result_code, 2001);
    let g = cca.multiple_services_credit_control[0]
        .granted_service_unit
        .as_ref()
        .unwrap();
    assert_eq!(g.cc_total_octets, Some(3_000_000));
    let m = g.cc_money.as_ref().unwrap();
    assert_eq!(
        (
            m.unit_value.value_digits,
            m.unit_value.exponent,
            m.currency_code
        ),
        (30, Some(-2), Some(978))
    );
    assert_eq!(money(&ocs), (1000, 30));

    // Usage reported in money only is debited as it is.
    let used = MultipleServicesCreditControl {
        rating_group: Some(100),
        used_service_unit: vec![UsedServiceUnit {
            cc_money: Some(money_rsu(20, -2, 978).cc_money.unwrap()),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    let cca = ask(&ocs, terminate(s, 1, vec![used]), t(1));
    assert_eq!(cca.result_code, 2001);
    assert_eq!(money(&ocs), (980, 0));

    // Money in another currency than the tariff's cannot be rated.
    let dollars = MultipleServicesCreditControl {
        rating_group: Some(100),
        requested_service_unit: Some(money_rsu(100, -2, 840).into()),
        ..Default::default()
    };
    let cca = ask(
        &ocs,
        initial("pgw.example.net;money;2", vec![dollars]),
        t(2),
    );
    assert_eq!(
        cca.multiple_services_credit_control[0].result_code,
        Some(DIAMETER_RATING_FAILED)
    );
    assert_eq!(money(&ocs).1, 0);
}

/// A store whose look-ups block (the SQL-only SQLite path, like PostgreSQL): requests whose
/// session or subscriber this node remembers are answered without a thread hand-off, the
/// others on the blocking pool; a remembered session closed by another node is looked up
/// again and answered 5002.
#[tokio::test]
async fn shared_path_uses_memory_and_falls_back_to_the_store() {
    use std::sync::Arc;
    let store = store::open("sqlite+direct::memory:").unwrap();
    assert!(!store.lookups_in_memory());
    ocs_common::add_e164(&*store, ALICE, 1000);
    let node = |host: &str| {
        let mut cfg = ServerConfig::new(host, "example.net");
        cfg.tcc = Duration::from_secs(1200);
        Arc::new(ChargingServer::new(
            store.clone(),
            Tariffs::parse(TARIFFS).unwrap(),
            cfg,
        ))
    };
    let (a, b) = (node("ocs1.example.net"), node("ocs2.example.net"));
    let peer = "pgw.example.net";
    let s = "pgw;shared";
    let first = initial(s, vec![data_mscc(100, Some(0), None)]);
    let cca = a.handle_ccr_shared(first, peer, t(0)).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(
        a.blocking_answers(),
        1,
        "nothing remembered yet: the store is asked"
    );
    let upd = update(s, 1, vec![data_mscc(100, Some(0), Some(1_000_000))]);
    let cca = a.handle_ccr_shared(upd, peer, t(10)).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(
        a.blocking_answers(),
        1,
        "the session's account is remembered"
    );
    assert_eq!(money(&a).0, 990);
    // A second session of the same subscriber: its account is remembered too.
    let other = initial("pgw;shared;2", vec![data_mscc(100, Some(0), None)]);
    let cca = a.handle_ccr_shared(other, peer, t(11)).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(
        a.blocking_answers(),
        1,
        "the subscriber's account is remembered"
    );
    // Node b ends the session; node a still remembers it.
    let cca = b.handle_ccr_from(terminate(s, 2, vec![]), peer, t(20));
    assert_eq!(cca.result_code, 2001);
    let late = update(s, 3, vec![data_mscc(100, Some(0), Some(1_000_000))]);
    let cca = a
        .handle_ccr_shared(late.clone(), peer, t(30))
        .await
        .unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
    assert_eq!(
        a.blocking_answers(),
        2,
        "the stale session is forgotten and looked up in the store"
    );
    let cca = a.handle_ccr_shared(late, peer, t(31)).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
    assert_eq!(a.blocking_answers(), 3, "and stays forgotten");
    assert_eq!(
        money(&a),
        (990, 50),
        "nothing charged for the late update (the second session holds its reservation)"
    );
}

/// Two agents in one peer group (`peer_groups`): a direct debit retransmitted through the
/// other one after a failover gets the saved answer and is charged once, and a session
/// opened through one goes on through the other. A peer outside the group gets neither.
#[test]
fn a_failover_between_agents_of_one_group_is_charged_once() {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, 1000);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    for dra in ["dra1.example.net", "dra2.example.net"] {
        cfg.peer_groups.insert(dra.into(), "dra".into());
    }
    let ocs = ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg);

    let sms = sms_event("smsc;9", ALICE, RequestedAction::DirectDebiting);
    let first = ocs.handle_ccr_from(sms.clone(), "dra1.example.net", t(0));
    assert_eq!(first.result_code, 2001);
    let after = money(&ocs);
    assert!(after.0 < 1000);
    let again = ocs.handle_ccr_from(sms.clone(), "dra2.example.net", t(1));
    assert_eq!(again, first, "the saved answer");
    assert_eq!(money(&ocs), after, "charged once");
    // Outside the group it is another client's request (refused or charged as its own,
    // never answered with the group's saved answer): here a new debit.
    let other = ocs.handle_ccr_from(sms, "smsc.example.net", t(2));
    assert_eq!(other.result_code, 2001);
    assert!(money(&ocs).0 < after.0);

    let s = "pgw.example.net;7;1";
    let i = ocs.handle_ccr_from(
        initial(s, vec![data_mscc(100, Some(1_000_000), None)]),
        "dra1.example.net",
        t(10),
    );
    assert_eq!(i.result_code, 2001);
    let u = update(s, 1, vec![data_mscc(100, Some(1_000_000), Some(1_000_000))]);
    let evil = ocs.handle_ccr_from(u.clone(), "evil.example.net", t(11));
    assert_eq!(evil.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
    let before = money(&ocs);
    let cca = ocs.handle_ccr_from(u, "dra2.example.net", t(12));
    assert_eq!(cca.result_code, 2001);
    assert!(money(&ocs).0 < before.0, "the used units are charged");
}
