//! The credit-control client state machine against the charging server, with a fake clock.

mod ocs_common;

use diameter::dict::base_rfc6733::{result_code as base_rc, TerminationCause};
use diameter::dict::dcca_rfc4006::*;
use diameter_apps::ocs::client::{
    CcSession, ClientConfig, ClientEvent, Enforcement, Filters, Output, Request, ServiceKey, State,
};
use diameter_apps::ocs::rating::{Tariffs, UnitType, Units};
use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
use diameter_apps::ocs::store::{self, IdKind, SubscriberId};
use ocs_common::ccr::{msisdn, GY, SMS, TARIFFS};
use std::time::{Duration, Instant, SystemTime};

const ALICE: &str = "491700000002";
const DATA: ServiceKey = ServiceKey {
    rating_group: Some(100),
    service_identifier: None,
};

fn server(balance: i64) -> ChargingServer {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, balance);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.validity_time = 600;
    ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg)
}

fn config(ctx: &str) -> ClientConfig {
    let mut c = ClientConfig::new("pgw.example.net", "example.net", "example.net", ctx);
    c.subscription_id = vec![msisdn(ALICE)];
    c
}

fn balance(ocs: &ChargingServer) -> (i64, i64) {
    let a = ocs
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, ALICE))
        .unwrap()
        .unwrap();
    (a.balance, a.reserved)
}

/// Drains the outputs: requests and events.
fn drain(s: &mut CcSession) -> (Vec<Request>, Vec<ClientEvent>) {
    let (mut reqs, mut evs) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        match s.poll_output() {
            Some(Output::Send(r)) => reqs.push(r),
            Some(Output::Event(e)) => evs.push(e),
            None => break,
        }
    }
    (reqs, evs)
}

/// Sends every queued request to the server and feeds the answers back (bounded).
fn pump(s: &mut CcSession, ocs: &ChargingServer, now: Instant) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    for _ in 0..10 {
        let (reqs, evs) = drain(s);
        events.extend(evs);
        if reqs.is_empty() {
            break;
        }
        for r in reqs {
            let cca = ocs.handle_ccr(r.ccr, SystemTime::now());
            s.on_cca(&cca, now);
        }
    }
    events
}

#[test]
fn session_thresholds_rar_and_termination() {
    let ocs = server(1000);
    let mut s = CcSession::new("pgw;c1", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, Some(Units::only(rating_total(), 3_000_000)))], t0);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev.contains(&ClientEvent::GrantService), "{ev:?}");
    assert_eq!(s.state(), State::Open);
    assert_eq!(
        s.quota(&DATA).unwrap().granted.total_octets,
        Some(3_000_000)
    );
    assert_eq!(balance(&ocs), (1000, 30));
    // Using part of the grant sends nothing; using it all sends CCR-U by itself.
    s.report_usage(DATA, Units::only(rating_total(), 1_000_000), t0);
    assert!(drain(&mut s).0.is_empty());
    s.report_usage(DATA, Units::only(rating_total(), 2_000_000), t0);
    let (reqs, _) = drain(&mut s);
    assert_eq!(reqs.len(), 1);
    let u = &reqs[0].ccr;
    assert_eq!(
        (u.cc_request_type, u.cc_request_number),
        (CcRequestType::UpdateRequest, 1)
    );
    let used = &u.multiple_services_credit_control[0].used_service_unit[0];
    assert_eq!(used.cc_total_octets, Some(3_000_000));
    s.on_cca(&ocs.handle_ccr(reqs[0].ccr.clone(), SystemTime::now()), t0);
    assert_eq!(balance(&ocs), (970, 50)); // default quota 5 MB reserved
    assert_eq!(s.state(), State::Open);

    // RAR → RAA 2002 → CCR-U.
    let rar = ocs.re_auth_request("pgw;c1").unwrap();
    let raa = s.on_rar(&rar, t0);
    assert_eq!(raa.result_code, base_rc::DIAMETER_LIMITED_SUCCESS);
    let (reqs, _) = drain(&mut s);
    assert_eq!(reqs[0].ccr.cc_request_type, CcRequestType::UpdateRequest);
    assert_eq!(reqs[0].ccr.cc_request_number, 2);
    s.on_cca(&ocs.handle_ccr(reqs[0].ccr.clone(), SystemTime::now()), t0);
    assert_eq!(s.state(), State::Open);

    s.report_usage(DATA, Units::only(rating_total(), 500_000), t0);
    s.terminate(TerminationCause::DiameterLogout, t0);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev.contains(&ClientEvent::Closed));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(balance(&ocs), (960, 0));
}

fn rating_total() -> diameter_apps::ocs::rating::UnitType {
    diameter_apps::ocs::rating::UnitType::TotalOctets
}

#[test]
fn final_unit_terminate_ends_the_session() {
    let ocs = server(20);
    let mut s = CcSession::new("pgw;fui", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, None)], t0);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev.iter().any(|e| matches!(
        e,
        ClientEvent::Granted {
            final_units: true,
            ..
        }
    )));
    s.report_usage(DATA, Units::only(rating_total(), 2_000_000), t0);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev
        .iter()
        .any(|e| matches!(e, ClientEvent::FinalUnitAction { .. })));
    assert!(ev
        .iter()
        .any(|e| matches!(e, ClientEvent::TerminateService { .. })));
    assert!(ev.contains(&ClientEvent::Closed));
    assert_eq!(balance(&ocs), (0, 0));
}

#[test]
fn validity_time_expiry_sends_an_update() {
    let ocs = server(1000);
    let mut s = CcSession::new("pgw;vt", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, None)], t0);
    pump(&mut s, &ocs, t0);
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(600));
    s.handle_timeout(deadline);
    let (reqs, _) = drain(&mut s);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].ccr.cc_request_type, CcRequestType::UpdateRequest);
}

#[test]
fn tx_expiry_and_failure_handling() {
    let t0 = Instant::now();
    // TERMINATE: Tx expiry ends the service.
    let mut s = CcSession::new("pgw;tx1", config(GY));
    s.start(&[(DATA, None)], t0);
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    s.handle_timeout(t0 + Duration::from_secs(10));
    let (_, ev) = drain(&mut s);
    assert!(matches!(ev[0], ClientEvent::TerminateService { .. }));
    assert_eq!(s.state(), State::Idle);

    // CONTINUE: Tx expiry grants the service; a late answer is still taken.
    let ocs = server(1000);
    let mut cfg = config(GY);
    cfg.ccfh = CreditControlFailureHandling::Continue;
    let mut s = CcSession::new("pgw;tx2", cfg);
    s.start(&[(DATA, None)], t0);
    let (reqs, _) = drain(&mut s);
    s.handle_timeout(t0 + Duration::from_secs(10));
    let (_, ev) = drain(&mut s);
    assert_eq!(ev, vec![ClientEvent::GrantService]);
    assert_eq!(s.state(), State::PendingI);
    let cca = ocs.handle_ccr(reqs[0].ccr.clone(), SystemTime::now());
    s.on_cca(&cca, t0 + Duration::from_secs(11));
    assert_eq!(s.state(), State::Open);

    // RETRY_AND_TERMINATE with failover: the request goes to the alternate server with the
    // T flag and the same CC-Request-Number; when that fails too, the service ends.
    let mut cfg = config(GY);
    cfg.ccfh = CreditControlFailureHandling::RetryAndTerminate;
    cfg.failover = CcSessionFailover::FailoverSupported;
    cfg.alternate_host = Some("ocs2.example.net".into());
    let mut s = CcSession::new("pgw;tx3", cfg);
    s.start(&[(DATA, None)], t0);
    let (first, _) = drain(&mut s);
    s.on_failure(t0);
    let (again, ev) = drain(&mut s);
    assert_eq!(
        ev,
        vec![ClientEvent::FailedOver {
            to: "ocs2.example.net".into()
        }]
    );
    assert!(again[0].retransmit);
    assert_eq!(
        again[0].destination_host.as_deref(),
        Some("ocs2.example.net")
    );
    assert_eq!(
        again[0].ccr.cc_request_number,
        first[0].ccr.cc_request_number
    );
    // A 3004 from the alternate: no second failover.
    let mut busy = ocs.handle_ccr(again[0].ccr.clone(), SystemTime::now());
    busy.result_code = base_rc::DIAMETER_TOO_BUSY;
    s.on_cca(&busy, t0);
    let (_, ev) = drain(&mut s);
    assert!(matches!(ev[0], ClientEvent::TerminateService { .. }));
}

#[test]
fn events_direct_debit_and_buffering() {
    let ocs = server(10);
    let sms = ServiceKey {
        rating_group: None,
        service_identifier: Some(1),
    };
    let one = Some(Units::only(
        diameter_apps::ocs::rating::UnitType::ServiceSpecific,
        1,
    ));
    let t0 = Instant::now();
    let mut s = CcSession::new("smsc;e1", config(SMS));
    s.event(RequestedAction::DirectDebiting, &[(sms, one)], t0);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev.contains(&ClientEvent::GrantService));
    assert_eq!(balance(&ocs), (1, 0));
    // The second SMS: 4012, service refused.
    let mut s = CcSession::new("smsc;e2", config(SMS));
    s.event(RequestedAction::DirectDebiting, &[(sms, one)], t0);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev.iter().any(|e| matches!(
        e,
        ClientEvent::TerminateService {
            result_code: Some(4012)
        }
    )));
    // Server unreachable with TERMINATE_OR_BUFFER: the request is stored for later.
    let mut s = CcSession::new("smsc;e3", config(SMS));
    s.event(RequestedAction::DirectDebiting, &[(sms, one)], t0);
    drain(&mut s);
    s.on_failure(t0);
    let (_, ev) = drain(&mut s);
    assert!(matches!(ev[0], ClientEvent::Stored(_)));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn asr_answers_and_terminates() {
    let ocs = server(1000);
    let mut s = CcSession::new("pgw;asr", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, None)], t0);
    pump(&mut s, &ocs, t0);
    let asr = ocs.abort_session_request("pgw;asr").unwrap();
    assert_eq!(s.on_asr(&asr, t0).result_code, 2001);
    let ev = pump(&mut s, &ocs, t0);
    assert!(ev.contains(&ClientEvent::Closed));
    assert_eq!(balance(&ocs), (1000, 0));
}

/// A RAR naming a credit pool (G-S-U-Pool-Identifier) re-reports only the services whose
/// grant draws on it; one naming a CC-Sub-Session-Id (this client opens none) is 5002; one
/// naming a service the session does not hold is 2001 with nothing sent.
#[test]
fn rar_scope_by_pool_sub_session_and_service() {
    use diameter::dict::base_rfc6733::Rar;
    let rg = |n| ServiceKey {
        rating_group: Some(n),
        service_identifier: None,
    };
    let mut s = CcSession::new("pgw;pool", config(GY));
    let t0 = Instant::now();
    s.start(&[(rg(1), None), (rg(2), None)], t0);
    let (reqs, _) = drain(&mut s);
    let ccr = &reqs[0].ccr;
    let grant = |n: u32, pool: u32| MultipleServicesCreditControl {
        rating_group: Some(n),
        result_code: Some(2001),
        granted_service_unit: Some(
            GrantedServiceUnit {
                cc_total_octets: Some(1000),
                ..Default::default()
            }
            .into(),
        ),
        g_s_u_pool_reference: vec![GSUPoolReference {
            g_s_u_pool_identifier: pool,
            cc_unit_type: CcUnitType::TotalOctets,
            unit_value: UnitValue {
                value_digits: 1,
                ..Default::default()
            },
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    let cca = Cca {
        session_id: ccr.session_id.clone(),
        result_code: 2001,
        cc_request_type: ccr.cc_request_type,
        cc_request_number: ccr.cc_request_number,
        multiple_services_credit_control: vec![grant(1, 7), grant(2, 8)].into(),
        ..Default::default()
    };
    s.on_cca(&cca, t0);
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.quota(&rg(1)).unwrap().pools, vec![7]);
    s.report_usage(rg(1), Units::only(rating_total(), 100), t0);
    s.report_usage(rg(2), Units::only(rating_total(), 200), t0);
    assert!(drain(&mut s).0.is_empty());

    let rar = |f: &dyn Fn(&mut Rar)| {
        let mut r = Rar {
            session_id: "pgw;pool".into(),
            ..Default::default()
        };
        f(&mut r);
        r
    };
    let raa = s.on_rar(&rar(&|r| r.cc_sub_session_id = Some(3)), t0);
    assert_eq!(raa.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
    assert_eq!(raa.cc_sub_session_id, Some(3));
    let raa = s.on_rar(&rar(&|r| r.service_identifier = Some(5)), t0);
    assert_eq!(raa.result_code, base_rc::DIAMETER_SUCCESS);
    assert!(drain(&mut s).0.is_empty());

    let raa = s.on_rar(&rar(&|r| r.g_s_u_pool_identifier = Some(8)), t0);
    assert_eq!(raa.result_code, base_rc::DIAMETER_LIMITED_SUCCESS);
    assert_eq!(raa.g_s_u_pool_identifier, Some(8));
    let (reqs, _) = drain(&mut s);
    assert_eq!(reqs.len(), 1);
    let msccs = &reqs[0].ccr.multiple_services_credit_control;
    assert_eq!(msccs.len(), 1, "{msccs:?}");
    assert_eq!(msccs[0].rating_group, Some(2));
    assert_eq!(msccs[0].used_service_unit[0].cc_total_octets, Some(200));
}

use ocs_common::tariffs::FINAL_TARIFFS;

/// A server with [`FINAL_TARIFFS`] whose own Final-Unit-Action is `global`.
fn final_server(balance: i64, global: FinalUnitAction) -> ChargingServer {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, balance);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.validity_time = 600;
    cfg.final_unit_action = global;
    ChargingServer::new(store, Tariffs::parse(FINAL_TARIFFS).unwrap(), cfg)
}

fn top_up(ocs: &ChargingServer, amount: i64) {
    let id = ocs
        .store()
        .find_account(&SubscriberId::new(IdKind::E164, ALICE))
        .unwrap()
        .unwrap()
        .id;
    ocs.store().adjust_balance(id, amount, 0).unwrap();
}

/// Uses the final 2 MB of `service` (balance 20 buys two 1 MB blocks) and returns the
/// events, the session still running unless the action ends it.
fn use_final_units(
    s: &mut CcSession,
    ocs: &ChargingServer,
    service: ServiceKey,
    t0: Instant,
) -> Vec<ClientEvent> {
    s.start(&[(service, None)], t0);
    let ev = pump(s, ocs, t0);
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
    s.report_usage(service, Units::only(rating_total(), 2_000_000), t0);
    pump(s, ocs, t0)
}

fn enforcement_of(ev: &[ClientEvent]) -> Enforcement {
    ev.iter()
        .find_map(|e| match e {
            ClientEvent::FinalUnitAction { enforcement, .. } => Some(enforcement.clone()),
            _ => None,
        })
        .expect("a final-unit action")
}

#[test]
fn tariff_redirect_reports_the_top_up_url_and_a_new_grant_lifts_it() {
    // The server's own action is TERMINATE; the tariff's REDIRECT wins.
    let ocs = final_server(20, FinalUnitAction::Terminate);
    let mut s = CcSession::new("pgw;redirect", config(GY));
    let t0 = Instant::now();
    let ev = use_final_units(&mut s, &ocs, DATA, t0);
    let want = Enforcement::Redirect {
        address_type: RedirectAddressType::Url,
        address: "https://topup.example.net/".into(),
        filters: Filters {
            filter_ids: vec!["zero-rated".into()],
            rules: vec![],
        },
    };
    assert_eq!(enforcement_of(&ev), want);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, ClientEvent::TerminateService { .. })),
        "{ev:?}"
    );
    // The final usage was reported, debited, nothing reserved; the session goes on
    // redirected until the answer's Validity-Time.
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.enforcement(&DATA), Some(want));
    assert_eq!(balance(&ocs), (0, 0));
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(600));

    // The user tops up; at Validity-Time the client asks again and the grant lifts it.
    top_up(&ocs, 1000);
    s.handle_timeout(deadline);
    let (reqs, _) = drain(&mut s);
    let m = &reqs[0].ccr.multiple_services_credit_control[0];
    assert!(m.requested_service_unit.is_some() && m.used_service_unit.is_empty());
    s.on_cca(
        &ocs.handle_ccr(reqs[0].ccr.clone(), SystemTime::now()),
        deadline,
    );
    let (_, ev) = drain(&mut s);
    assert!(
        ev.contains(&ClientEvent::FinalUnitActionEnded { service: DATA }),
        "{ev:?}"
    );
    assert_eq!(s.enforcement(&DATA), None);
    assert_eq!(
        s.quota(&DATA).unwrap().granted.total_octets,
        Some(5_000_000)
    );
}

#[test]
fn tariff_restrict_access_applies_its_filters() {
    let ocs = final_server(20, FinalUnitAction::Terminate);
    let mut s = CcSession::new("pgw;restrict", config(GY));
    let svc = ServiceKey::rating_group(200);
    let ev = use_final_units(&mut s, &ocs, svc, Instant::now());
    let want = Enforcement::RestrictAccess(Filters {
        filter_ids: vec!["walled-garden".into()],
        rules: vec!["permit out ip from any to 192.0.2.10".into()],
    });
    assert_eq!(enforcement_of(&ev), want);
    assert!(!ev
        .iter()
        .any(|e| matches!(e, ClientEvent::TerminateService { .. })));
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.enforcement(&svc), Some(want));
    // The report of the final units asked for nothing.
    assert_eq!(balance(&ocs), (0, 0));
}

#[test]
fn tariff_terminate_ends_the_session_although_the_server_redirects() {
    let ocs = final_server(20, FinalUnitAction::Redirect);
    let mut s = CcSession::new("pgw;terminate", config(GY));
    let ev = use_final_units(&mut s, &ocs, ServiceKey::rating_group(300), Instant::now());
    assert_eq!(enforcement_of(&ev), Enforcement::Terminate);
    assert!(ev
        .iter()
        .any(|e| matches!(e, ClientEvent::TerminateService { .. })));
    assert!(ev.contains(&ClientEvent::Closed));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(balance(&ocs), (0, 0));
}

#[test]
fn tariff_grant_money_gives_the_client_a_monetary_quota() {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, 1000);
    let tariffs = Tariffs::parse(&TARIFFS.replace(
        "default_quota = 5000000",
        "default_quota = 5000000\ngrant_money = true",
    ))
    .unwrap();
    let ocs = ChargingServer::new(
        store,
        tariffs,
        ServerConfig::new("ocs.example.net", "example.net"),
    );
    let mut s = CcSession::new("pgw;money", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, None)], t0);
    pump(&mut s, &ocs, t0);
    let q = s.quota(&DATA).unwrap();
    assert_eq!(q.granted.total_octets, Some(5_000_000));
    let m = q.money.as_ref().expect("CC-Money next to the octets");
    assert_eq!(
        (
            m.unit_value.value_digits,
            m.unit_value.exponent,
            m.currency_code
        ),
        (50, Some(-2), Some(978))
    );
}

/// A server whose data tariff sends a 1 MB Volume-Quota-Threshold and a 30 s
/// Quota-Holding-Time.
fn threshold_server() -> ChargingServer {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, 1000);
    let tariffs = Tariffs::parse(&TARIFFS.replace(
        "default_quota = 5000000",
        "default_quota = 5000000\nquota_threshold = 1000000\nquota_holding_time = 30",
    ))
    .unwrap();
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.validity_time = 600;
    ChargingServer::new(store, tariffs, cfg)
}

/// The one CCR the session sends now, answered by the server.
fn one_request(s: &mut CcSession, ocs: &ChargingServer, now: Instant) -> Ccr {
    let (reqs, _) = drain(s);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let ccr = reqs[0].ccr.clone();
    s.on_cca(&ocs.handle_ccr(ccr.clone(), SystemTime::now()), now);
    ccr
}

#[test]
fn thresholds_and_holding_time_trigger_reports_with_their_reasons() {
    use diameter::dict::tgpp_ts32299::ReportingReason;
    let ocs = threshold_server();
    let mut s = CcSession::new("pgw;threshold", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, None)], t0);
    pump(&mut s, &ocs, t0);
    let q = s.quota(&DATA).unwrap();
    assert_eq!(q.volume_threshold, Some(1_000_000));
    assert_eq!(q.holding_time, Some(Duration::from_secs(30)));

    // 1.5 MB left: nothing; 0.9 MB left: the threshold asks for more, early.
    s.report_usage(DATA, Units::only(rating_total(), 3_500_000), t0);
    assert!(drain(&mut s).0.is_empty());
    s.report_usage(DATA, Units::only(rating_total(), 600_000), t0);
    let u = one_request(&mut s, &ocs, t0);
    let m = &u.multiple_services_credit_control[0];
    assert_eq!(
        m.used_service_unit[0].reporting_reason,
        Some(ReportingReason::Threshold)
    );
    assert!(m.requested_service_unit.is_some());

    // Using the whole grant at once: QUOTA_EXHAUSTED.
    s.report_usage(DATA, Units::only(rating_total(), 5_000_000), t0);
    let u = one_request(&mut s, &ocs, t0);
    assert_eq!(
        u.multiple_services_credit_control[0].used_service_unit[0].reporting_reason,
        Some(ReportingReason::QuotaExhausted)
    );

    // 30 s without use: QHT, reported and released without asking for more.
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(30));
    s.report_usage(DATA, Units::only(rating_total(), 100_000), t0);
    s.handle_timeout(deadline);
    let u = one_request(&mut s, &ocs, deadline);
    let m = &u.multiple_services_credit_control[0];
    assert_eq!(m.reporting_reason, vec![ReportingReason::Qht]);
    assert!(m.requested_service_unit.is_none());
    assert_eq!(m.used_service_unit[0].cc_total_octets, Some(100_000));
    assert!(s.quota(&DATA).is_none());
    assert_eq!(balance(&ocs), (1000 - 50 - 50 - 10, 0));

    // The termination's report is FINAL.
    let mut s = CcSession::new("pgw;final", config(GY));
    s.start(&[(DATA, None)], t0);
    pump(&mut s, &ocs, t0);
    s.report_usage(DATA, Units::only(rating_total(), 1_000_000), t0);
    s.terminate(TerminationCause::DiameterLogout, t0);
    let t = one_request(&mut s, &ocs, t0);
    assert_eq!(
        t.multiple_services_credit_control[0].reporting_reason,
        vec![ReportingReason::Final]
    );
    assert_eq!(s.state(), State::Idle);
}

// ---- Credit pools, tariff change, Quota-Consumption-Time, Trigger, money (issue 17) ----

const VOICE: ServiceKey = ServiceKey {
    rating_group: Some(200),
    service_identifier: None,
};

/// Data (RG 100, 10 cents per MB) and voice (RG 200, 5 cents per minute) as in [`TARIFFS`]
/// with `data_extra` and `voice_extra` added to their tariffs.
fn gy_tariffs(data_extra: &str, voice_extra: &str) -> Tariffs {
    Tariffs::parse(&format!(
        "currency = 978\nexponent = 2\n\
         [[tariff]]\nname = \"data\"\nrating_group = 100\nunit = \"total_octets\"\n\
         block = 1000000\nprice = 10\ndefault_quota = 5000000\n{data_extra}\n\
         [[tariff]]\nname = \"voice\"\nrating_group = 200\nunit = \"time\"\nblock = 60\n\
         price = 5\ndefault_quota = 300\n{voice_extra}\n"
    ))
    .unwrap()
}

fn server_with(tariffs: Tariffs, low_balance: Option<i64>) -> ChargingServer {
    let store = store::open("sqlite::memory:").unwrap();
    ocs_common::add_e164(&*store, ALICE, 1000);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.validity_time = 600;
    cfg.low_balance_threshold = low_balance;
    ChargingServer::new(store, tariffs, cfg)
}

/// Sends the one queued CCR to the server at wall-clock `wall`, feeds the answer back at
/// `now` and returns both.
fn exchange_at(
    s: &mut CcSession,
    ocs: &ChargingServer,
    now: Instant,
    wall: SystemTime,
) -> (Ccr, Cca) {
    let (reqs, _) = drain(s);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let ccr = reqs[0].ccr.clone();
    let cca = ocs.handle_ccr(ccr.clone(), wall);
    s.on_cca(&cca, now);
    (ccr, cca)
}

/// RFC 4006 §5.1.2: data and voice draw on pool 1 (1 pool unit = 1 MB = 100 s). A service
/// may use more than its own grant while the pool has credit; when the pool is used up,
/// both services report (POOL_EXHAUSTED) and are re-authorized, each rated at its price.
#[test]
fn credit_pool_is_shared_and_its_exhaustion_reauthorizes_every_service() {
    use diameter::dict::tgpp_ts32299::ReportingReason;
    let ocs = server_with(
        gy_tariffs(
            "pool = { id = 1, multiplier = \"0.000001\" }",
            "pool = { id = 1, multiplier = \"0.01\" }",
        ),
        None,
    );
    let mut s = CcSession::new("pgw;pool-credit", config(GY));
    let t0 = Instant::now();
    s.start(&[(DATA, None), (VOICE, None)], t0);
    let (_, cca) = exchange_at(&mut s, &ocs, t0, SystemTime::now());
    let refs = &cca.multiple_services_credit_control[1].g_s_u_pool_reference;
    assert_eq!(refs.len(), 1);
    assert_eq!(
        (refs[0].g_s_u_pool_identifier, refs[0].cc_unit_type),
        (1, CcUnitType::Time)
    );
    assert_eq!(
        (refs[0].unit_value.value_digits, refs[0].unit_value.exponent),
        (1, Some(-2))
    );
    // 5 MB × 10^-6 + 300 s × 0.01 = 8 pool units.
    assert_eq!(s.pool_balance(1), Some(8_000_000_000));
    assert_eq!(s.pool_balance(2), None);
    s.report_usage(DATA, Units::only(rating_total(), 3_000_000), t0);
    // Voice goes past its own 300 s: the pool still has 1 unit, nothing is sent.
    s.report_usage(VOICE, Units::only(UnitType::Time, 400), t0);
    assert!(drain(&mut s).0.is_empty(), "the pool is not used up yet");
    assert_eq!(s.pool_balance(1), Some(1_000_000_000));
    s.report_usage(DATA, Units::only(rating_total(), 1_000_000), t0);
    let (u, cca) = exchange_at(&mut s, &ocs, t0, SystemTime::now());
    assert_eq!(u.cc_request_type, CcRequestType::UpdateRequest);
    let msccs = &u.multiple_services_credit_control;
    assert_eq!(msccs.len(), 2, "{msccs:?}");
    for m in msccs {
        assert_eq!(m.reporting_reason, vec![ReportingReason::PoolExhausted]);
        assert!(m.requested_service_unit.is_some());
    }
    assert_eq!(
        msccs[0].used_service_unit[0].cc_total_octets,
        Some(4_000_000)
    );
    assert_eq!(msccs[1].used_service_unit[0].cc_time, Some(400));
    assert_eq!(cca.result_code, 2001);
    // 4 MB × 10 + 7 started minutes × 5 charged; the new grants reserved (50 + 25).
    assert_eq!(balance(&ocs), (1000 - 40 - 35, 75));
    assert_eq!(s.pool_balance(1), Some(8_000_000_000));
}

/// Voice costs 5 cents a minute until 20:00 UTC and 1 cent after. A grant at 19:55 carries
/// Tariff-Time-Change 20:00 (reserved at the higher price); the client reports the seconds
/// before and after it apart, and the server rates each part at its own price.
#[test]
fn tariff_change_splits_the_usage_and_each_part_has_its_price() {
    use diameter::dict::dcca_rfc4006::TariffChangeUsage as Tcu;
    let ocs = server_with(
        gy_tariffs(
            "",
            "bands = [{ start = \"08:00\", price = 5 }, { start = \"20:00\", price = 1 }]",
        ),
        None,
    );
    let day = 19_000 * 86_400;
    let wall0 = std::time::UNIX_EPOCH + Duration::from_secs(day + 19 * 3600 + 55 * 60);
    let mut s = CcSession::new("pgw;tariff-change", config(GY));
    let t0 = Instant::now();
    s.set_wall_clock(t0, wall0);
    s.start(&[(VOICE, None)], t0);
    let (_, cca) = exchange_at(&mut s, &ocs, t0, wall0);
    let gsu = cca.multiple_services_credit_control[0]
        .granted_service_unit
        .as_ref()
        .unwrap();
    assert_eq!(
        gsu.tariff_time_change.map(|t| t.unix_seconds()),
        Some((day + 20 * 3600) as i64)
    );
    assert_eq!(balance(&ocs), (1000, 25), "reserved at the higher price");
    assert_eq!(
        s.quota(&VOICE).unwrap().tariff_change,
        Some(t0 + Duration::from_secs(300))
    );
    // 240 s before 20:00, then 120 s after: the grant is used up at 20:02.
    s.report_usage(
        VOICE,
        Units::only(UnitType::Time, 240),
        t0 + Duration::from_secs(240),
    );
    let t1 = t0 + Duration::from_secs(420);
    s.report_usage(VOICE, Units::only(UnitType::Time, 120), t1);
    let (u, cca) = exchange_at(&mut s, &ocs, t1, wall0 + Duration::from_secs(420));
    let usu = &u.multiple_services_credit_control[0].used_service_unit;
    assert_eq!(usu.len(), 2, "{usu:?}");
    assert_eq!(
        (usu[0].tariff_change_usage, usu[0].cc_time),
        (Some(Tcu::UnitBeforeTariffChange), Some(240))
    );
    assert_eq!(
        (usu[1].tariff_change_usage, usu[1].cc_time),
        (Some(Tcu::UnitAfterTariffChange), Some(120))
    );
    assert_eq!(cca.result_code, 2001);
    // 4 minutes × 5 + 2 minutes × 1; the new grant (no change ahead) at 1 a minute.
    assert_eq!(balance(&ocs), (1000 - 22, 5));
    let q = s.quota(&VOICE).unwrap();
    assert_eq!(q.tariff_change, None);
}

/// TS 32.299: the voice grant carries Quota-Consumption-Time 10 s and a Trigger
/// (CHANGE_IN_QOS, CHANGE_IN_RAT). Time is consumed between traffic, gaps over 10 s count
/// as 10 s; a QoS change makes the client report with RATING_CONDITION_CHANGE, a location
/// change (not armed) does not.
#[test]
fn quota_consumption_time_and_trigger_drive_the_client() {
    use diameter::dict::tgpp_ts32299::{ReportingReason, TriggerType};
    let ocs = server_with(
        gy_tariffs(
            "",
            "quota_consumption_time = 10\ntriggers = [\"change_in_qos\", \"change_in_rat\"]",
        ),
        None,
    );
    let mut s = CcSession::new("pgw;qct", config(GY));
    let t0 = Instant::now();
    s.start(&[(VOICE, None)], t0);
    let (_, cca) = exchange_at(&mut s, &ocs, t0, SystemTime::now());
    let m = &cca.multiple_services_credit_control[0];
    assert_eq!(m.quota_consumption_time, Some(10));
    assert_eq!(
        m.trigger.as_ref().unwrap().trigger_type,
        vec![TriggerType::ChangeInQos, TriggerType::ChangeInRat]
    );
    let at = |s: u64| t0 + Duration::from_secs(s);
    for secs in [0, 5, 65, 70] {
        s.report_activity(VOICE, Units::default(), at(secs));
    }
    assert_eq!(s.quota(&VOICE).unwrap().used.time, Some(5 + 10 + 5));
    assert!(!s.rating_condition_changed(TriggerType::ChangeInLocation, at(70)));
    assert!(drain(&mut s).0.is_empty());
    assert!(s.rating_condition_changed(TriggerType::ChangeInQos, at(70)));
    let (u, cca) = exchange_at(&mut s, &ocs, at(70), SystemTime::now());
    let m = &u.multiple_services_credit_control[0];
    assert_eq!(
        m.reporting_reason,
        vec![ReportingReason::RatingConditionChange]
    );
    assert_eq!(m.used_service_unit[0].cc_time, Some(20));
    assert!(m.requested_service_unit.is_some());
    assert_eq!(cca.result_code, 2001);
    assert_eq!(balance(&ocs), (1000 - 5, 25));
}

/// The client asks for 30 cents of data and gets the 3 MB they buy with their price; it
/// reports its usage as money, which the server debits; the answers to the update and the
/// termination carry Low-Balance-Indication when less than 1000 is left.
#[test]
fn client_asks_for_money_reports_money_and_sees_low_balance() {
    use diameter::dict::tgpp_ts32299::LowBalanceIndication;
    let ocs = server_with(gy_tariffs("", ""), Some(960));
    let cents = |n: i64| CcMoney {
        unit_value: UnitValue {
            value_digits: n,
            exponent: Some(-2),
            ..Default::default()
        },
        currency_code: Some(978),
        ..Default::default()
    };
    let mut s = CcSession::new("pgw;money-ask", config(GY));
    let t0 = Instant::now();
    s.request_money(DATA, cents(30));
    s.start(&[(DATA, None)], t0);
    let (i, cca) = exchange_at(&mut s, &ocs, t0, SystemTime::now());
    let rsu = i.multiple_services_credit_control[0]
        .requested_service_unit
        .as_ref()
        .unwrap();
    assert_eq!(
        rsu.cc_money.as_ref().map(|m| m.unit_value.value_digits),
        Some(30)
    );
    assert_eq!(cca.low_balance_indication, None, "970 available");
    let q = s.quota(&DATA).unwrap();
    assert_eq!(q.granted.total_octets, Some(3_000_000));
    assert_eq!(
        q.money.as_ref().map(|m| m.unit_value.value_digits),
        Some(30)
    );
    // 10 + 20 cents: the monetary grant is used up, the client reports it.
    s.report_money(DATA, &cents(10), t0);
    assert!(drain(&mut s).0.is_empty());
    s.report_money(DATA, &cents(20), t0);
    let (u, cca) = exchange_at(&mut s, &ocs, t0, SystemTime::now());
    let m = &u.multiple_services_credit_control[0];
    let used = m.used_service_unit[0].cc_money.as_ref().unwrap();
    assert_eq!(
        (used.unit_value.value_digits, used.currency_code),
        (30, Some(978))
    );
    assert!(m
        .requested_service_unit
        .as_ref()
        .unwrap()
        .cc_money
        .is_some());
    assert_eq!(balance(&ocs), (970, 30));
    assert_eq!(cca.low_balance_indication, Some(LowBalanceIndication::Yes));
    s.report_money(DATA, &cents(5), t0);
    s.terminate(TerminationCause::DiameterLogout, t0);
    let (_, cca) = exchange_at(&mut s, &ocs, t0, SystemTime::now());
    assert_eq!(balance(&ocs), (965, 0));
    assert_eq!(cca.low_balance_indication, None, "965 available, over 960");
}
