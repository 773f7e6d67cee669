//! Client against server with a fake clock, no sockets.

use super::client::{AcctConfig, AcctEvent, AcctSession, AcrRequest, Output, State};
use super::server::{AcctServer, ServerConfig, Verdict};
use super::spool::{MemorySpool, Redelivery, Spool, SqliteSpool};
use diameter::dict::base_rfc6733::{
    result_code as rc, Aca, AccountingRealtimeRequired as Realtime, AccountingRecordType as Rt, Acr,
};
use std::time::{Duration, Instant};

/// A server with its record store (the accepted records).
struct Cdf {
    server: AcctServer,
    stored: Vec<Acr>,
}

impl Cdf {
    fn new() -> Self {
        Cdf::with(ServerConfig::new("cdf.example.net", "example.net"))
    }
    fn with(config: ServerConfig) -> Self {
        Cdf {
            server: AcctServer::new(config),
            stored: Vec::new(),
        }
    }
    fn handle(&mut self, acr: &Acr) -> Aca {
        match self.server.check(acr) {
            Verdict::Accept => {
                self.stored.push(acr.clone());
                self.server.answer(acr, rc::DIAMETER_SUCCESS, None)
            }
            Verdict::Duplicate => self.server.answer(acr, rc::DIAMETER_SUCCESS, None),
            Verdict::Reject {
                result_code,
                avp_code,
            } => self.server.answer(acr, result_code, Some(avp_code)),
        }
    }
}

fn config() -> AcctConfig {
    AcctConfig::new("sbc.example.net", "example.net", "example.net")
}

fn drain(s: &mut AcctSession) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sends(outs: &[Output]) -> Vec<AcrRequest> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn events(outs: &[Output]) -> Vec<AcctEvent> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn stored(outs: &[Output]) -> Vec<Acr> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Store(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

/// Delivers every ACR the session sends to `cdf` and feeds the answers back.
fn pump(s: &mut AcctSession, cdf: &mut Cdf, now: Instant) -> Vec<Output> {
    let mut all = Vec::new();
    loop {
        let outs = drain(s);
        if outs.is_empty() {
            return all;
        }
        for r in sends(&outs) {
            let aca = cdf.handle(&r.acr);
            s.on_aca(&aca, now);
        }
        all.extend(outs);
    }
}

#[test]
fn start_interims_stop_are_numbered_and_follow_the_servers_interval() {
    let mut cfg = ServerConfig::new("cdf.example.net", "example.net");
    cfg.interim_interval = Some(30);
    let mut cdf = Cdf::with(cfg);
    let mut s = AcctSession::new("sbc;1;1", config());
    let t0 = Instant::now();
    s.start(t0);
    let outs = pump(&mut s, &mut cdf, t0);
    assert_eq!(events(&outs), vec![AcctEvent::Granted]);
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.interim_interval(), Some(Duration::from_secs(30)));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));

    s.handle_timeout(t0 + Duration::from_secs(29));
    assert!(drain(&mut s).is_empty(), "no interim before the interval");
    for k in 1..=2u64 {
        let t = t0 + Duration::from_secs(30 * k);
        s.handle_timeout(t);
        pump(&mut s, &mut cdf, t);
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(30)));
    }
    s.stop(t0 + Duration::from_secs(70));
    let outs = pump(&mut s, &mut cdf, t0 + Duration::from_secs(70));
    assert_eq!(events(&outs), vec![AcctEvent::Closed]);
    assert_eq!(s.state(), State::Idle);
    let kinds: Vec<_> = cdf
        .stored
        .iter()
        .map(|a| (a.accounting_record_type, a.accounting_record_number))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Rt::StartRecord, 0),
            (Rt::InterimRecord, 1),
            (Rt::InterimRecord, 2),
            (Rt::StopRecord, 3)
        ]
    );
}

#[test]
fn an_event_is_one_record_numbered_zero() {
    let mut cdf = Cdf::new();
    let mut s = AcctSession::new("sbc;1;2", config());
    s.event(Instant::now());
    let outs = pump(&mut s, &mut cdf, Instant::now());
    assert_eq!(events(&outs), vec![AcctEvent::Closed]);
    assert_eq!(cdf.stored.len(), 1);
    assert_eq!(cdf.stored[0].accounting_record_type, Rt::EventRecord);
    assert_eq!(cdf.stored[0].accounting_record_number, 0);
    // A finished event session does not start again.
    s.start(Instant::now());
    assert!(drain(&mut s).is_empty());
}

#[test]
fn a_stop_during_pending_start_is_sent_after_the_answer() {
    let mut cdf = Cdf::new();
    let mut s = AcctSession::new("sbc;1;3", config());
    let now = Instant::now();
    s.start(now);
    let start = sends(&drain(&mut s)).remove(0);
    s.stop(now);
    assert!(drain(&mut s).is_empty());
    s.on_aca(&cdf.handle(&start.acr), now);
    let outs = pump(&mut s, &mut cdf, now);
    assert_eq!(events(&outs)[0], AcctEvent::Granted);
    assert_eq!(s.state(), State::Idle);
    assert_eq!(cdf.stored.len(), 2);
    assert_eq!(cdf.stored[1].accounting_record_type, Rt::StopRecord);
}

#[test]
fn grant_and_store_keeps_undelivered_records_and_delivers_them_later_with_t() {
    let mut s = AcctSession::new("sbc;1;4", config());
    let mut spool = MemorySpool::new(10);
    let now = Instant::now();
    s.start(now);
    drain(&mut s);
    // No answer within the timeout: failure to send.
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(10)));
    s.handle_timeout(now + Duration::from_secs(10));
    let outs = drain(&mut s);
    assert_eq!(events(&outs), vec![AcctEvent::Granted]);
    assert_eq!(s.state(), State::Open);
    for r in stored(&outs) {
        assert!(spool.push(&r).unwrap());
    }
    // The stop cannot be delivered either (a transport failure).
    s.stop(now);
    drain(&mut s);
    s.on_failure(now);
    for r in stored(&drain(&mut s)) {
        assert!(spool.push(&r).unwrap());
    }
    assert_eq!(spool.len().unwrap(), 2);

    // The server is back: stored records go out oldest first, T flag set.
    let mut cdf = Cdf::new();
    let mut redo = Redelivery::new(None, Duration::from_secs(10), Duration::from_secs(5));
    let t = now + Duration::from_secs(60);
    while let Some(req) = redo.poll_send(&mut spool, t).unwrap() {
        assert!(req.retransmit);
        let aca = cdf.handle(&req.acr);
        redo.on_aca(&mut spool, &aca, t).unwrap();
    }
    assert!(spool.is_empty().unwrap());
    let kinds: Vec<_> = cdf
        .stored
        .iter()
        .map(|a| a.accounting_record_type)
        .collect();
    assert_eq!(kinds, vec![Rt::StartRecord, Rt::StopRecord]);
}

#[test]
fn redelivery_keeps_a_record_after_a_failure_and_retries_after_the_interval() {
    let mut spool = MemorySpool::new(10);
    let mut s = AcctSession::new("sbc;1;5", config());
    s.event(Instant::now());
    let acr = sends(&drain(&mut s)).remove(0).acr;
    spool.push(&acr).unwrap();
    let now = Instant::now();
    let mut redo = Redelivery::new(None, Duration::from_secs(10), Duration::from_secs(5));
    assert!(redo.poll_send(&mut spool, now).unwrap().is_some());
    assert!(
        redo.poll_send(&mut spool, now).unwrap().is_none(),
        "one at a time"
    );
    redo.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(spool.len().unwrap(), 1);
    let retry = now + Duration::from_secs(15);
    assert_eq!(redo.poll_timeout(), Some(retry));
    assert!(redo
        .poll_send(&mut spool, retry - Duration::from_secs(1))
        .unwrap()
        .is_none());
    let req = redo.poll_send(&mut spool, retry).unwrap().unwrap();
    // A transient answer keeps it; a refusal deletes it (nothing else would change it).
    let mut busy = Cdf::new()
        .server
        .answer(&req.acr, rc::DIAMETER_TOO_BUSY, None);
    redo.on_aca(&mut spool, &busy, retry).unwrap();
    assert_eq!(spool.len().unwrap(), 1);
    let req = redo
        .poll_send(&mut spool, retry + Duration::from_secs(5))
        .unwrap()
        .unwrap();
    busy.result_code = rc::DIAMETER_INVALID_AVP_VALUE;
    busy.accounting_record_number = req.acr.accounting_record_number;
    redo.on_aca(&mut spool, &busy, retry).unwrap();
    assert!(spool.is_empty().unwrap());
}

#[test]
fn deliver_and_grant_disconnects_when_the_start_cannot_be_delivered() {
    let mut cfg = config();
    cfg.realtime = Realtime::DeliverAndGrant;
    let mut s = AcctSession::new("sbc;1;6", cfg);
    s.start(Instant::now());
    drain(&mut s);
    s.on_failure(Instant::now());
    let outs = drain(&mut s);
    assert!(stored(&outs).is_empty(), "nothing stored");
    let ev = events(&outs);
    assert!(matches!(ev[0], AcctEvent::Lost(_)));
    assert_eq!(ev[1], AcctEvent::Disconnect { result_code: None });
    assert_eq!(ev[2], AcctEvent::Closed);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn deliver_and_grant_disconnects_on_a_failed_answer() {
    let mut cfg = config();
    cfg.realtime = Realtime::DeliverAndGrant;
    let mut s = AcctSession::new("sbc;1;7", cfg);
    let now = Instant::now();
    s.start(now);
    let req = sends(&drain(&mut s)).remove(0);
    let aca = Cdf::new()
        .server
        .answer(&req.acr, rc::DIAMETER_AUTHORIZATION_REJECTED, None);
    s.on_aca(&aca, now);
    let ev = events(&drain(&mut s));
    assert_eq!(
        ev[0],
        AcctEvent::Disconnect {
            result_code: Some(rc::DIAMETER_AUTHORIZATION_REJECTED)
        }
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn grant_and_lose_stores_while_there_is_room_else_drops_records_and_keeps_service() {
    let mut cfg = config();
    cfg.realtime = Realtime::GrantAndLose;
    let mut s = AcctSession::new("sbc;1;8a", cfg.clone());
    let now = Instant::now();
    s.start(now);
    drain(&mut s);
    s.on_failure(now);
    assert_eq!(
        stored(&drain(&mut s)).len(),
        1,
        "stored while there is room"
    );

    let mut s = AcctSession::new("sbc;1;8", cfg);
    s.set_storage_available(false);
    s.start(now);
    drain(&mut s);
    s.on_failure(now);
    let outs = drain(&mut s);
    assert!(stored(&outs).is_empty());
    let ev = events(&outs);
    assert!(matches!(ev[0], AcctEvent::Lost(_)));
    assert_eq!(ev[1], AcctEvent::Granted);
    assert_eq!(s.state(), State::Open);
    // An undeliverable stop ends the session without storing it.
    s.stop(now);
    let req = sends(&drain(&mut s)).remove(0);
    s.on_failure(now);
    let outs = drain(&mut s);
    assert!(stored(&outs).is_empty());
    assert_eq!(req.acr.accounting_record_number, 1);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn without_storage_grant_and_store_disconnects() {
    let mut s = AcctSession::new("sbc;1;9", config());
    s.set_storage_available(false);
    s.start(Instant::now());
    drain(&mut s);
    s.on_failure(Instant::now());
    let ev = events(&drain(&mut s));
    assert_eq!(ev[1], AcctEvent::Disconnect { result_code: None });
}

#[test]
fn the_servers_realtime_mode_and_interval_override_the_clients() {
    let mut cfg = ServerConfig::new("cdf.example.net", "example.net");
    cfg.realtime = Some(Realtime::DeliverAndGrant);
    cfg.interim_interval = Some(0);
    let mut cdf = Cdf::with(cfg);
    let mut c = config();
    c.interim_interval = Some(Duration::from_secs(5));
    let mut s = AcctSession::new("sbc;1;10", c);
    let now = Instant::now();
    s.start(now);
    let start = sends(&drain(&mut s)).remove(0);
    assert_eq!(
        start.acr.acct_interim_interval,
        Some(5),
        "the client proposes"
    );
    s.on_aca(&cdf.handle(&start.acr), now);
    assert_eq!(s.realtime(), Realtime::DeliverAndGrant);
    assert_eq!(s.interim_interval(), None, "zero: no interims");
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn failover_resends_to_the_secondary_with_t_and_stays_there() {
    let mut c = config();
    c.primary_host = Some("cdf1.example.net".into());
    c.secondary_host = Some("cdf2.example.net".into());
    c.interim_interval = Some(Duration::from_secs(60));
    let mut s = AcctSession::new("sbc;1;11", c);
    let now = Instant::now();
    s.start(now);
    let first = sends(&drain(&mut s)).remove(0);
    assert_eq!(first.destination_host.as_deref(), Some("cdf1.example.net"));
    assert!(!first.retransmit);
    // The primary is too busy: the same record goes to the secondary with T.
    let busy = Cdf::new()
        .server
        .answer(&first.acr, rc::DIAMETER_TOO_BUSY, None);
    s.on_aca(&busy, now);
    let outs = drain(&mut s);
    assert_eq!(
        events(&outs),
        vec![AcctEvent::FailedOver {
            to: "cdf2.example.net".into()
        }]
    );
    let again = sends(&outs).remove(0);
    assert!(again.retransmit);
    assert_eq!(again.destination_host.as_deref(), Some("cdf2.example.net"));
    assert_eq!(again.acr.accounting_record_number, 0);
    let mut secondary = Cdf::new();
    s.on_aca(&secondary.handle(&again.acr), now);
    assert!(s.on_secondary());
    drain(&mut s);
    // The next record goes to the secondary, as a new record.
    s.handle_timeout(now + Duration::from_secs(60));
    let interim = sends(&drain(&mut s)).remove(0);
    assert_eq!(
        interim.destination_host.as_deref(),
        Some("cdf2.example.net")
    );
    assert!(!interim.retransmit);
    // A failure at the secondary is a failure to send: the record is stored.
    s.on_failure(now);
    assert_eq!(stored(&drain(&mut s)).len(), 1);
}

#[test]
fn the_server_answers_a_t_flagged_retransmission_once_stored() {
    let mut cdf = Cdf::new();
    let mut s = AcctSession::new("sbc;1;12", config());
    s.event(Instant::now());
    let req = sends(&drain(&mut s)).remove(0);
    let a1 = cdf.handle(&req.acr);
    let a2 = cdf.handle(&req.acr);
    assert_eq!(a1.result_code, rc::DIAMETER_SUCCESS);
    assert_eq!(a2.result_code, rc::DIAMETER_SUCCESS);
    assert_eq!(cdf.stored.len(), 1);
    assert_eq!(cdf.server.check(&req.acr), Verdict::Duplicate);
}

fn record(session: &str, kind: Rt, number: u32) -> Acr {
    Acr {
        session_id: session.into(),
        origin_host: "sbc.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        accounting_record_type: kind,
        accounting_record_number: number,
        ..Default::default()
    }
}

#[test]
fn the_server_refuses_bad_sequences_with_5004_and_failed_avp() {
    let mut cdf = Cdf::new();
    let ok = |cdf: &mut Cdf, a: &Acr| cdf.handle(a).result_code;
    assert_eq!(ok(&mut cdf, &record("s", Rt::StartRecord, 0)), 2001);
    // Same number, other type.
    let aca = cdf.handle(&record("s", Rt::InterimRecord, 0));
    assert_eq!(aca.result_code, rc::DIAMETER_INVALID_AVP_VALUE);
    let failed = aca.failed_avp.as_ref().expect("Failed-AVP");
    assert_eq!(failed.other[0].code, 485);
    // A second start.
    assert_eq!(ok(&mut cdf, &record("s", Rt::StartRecord, 1)), 5004);
    // An event inside a session.
    let aca = cdf.handle(&record("s", Rt::EventRecord, 1));
    assert_eq!(aca.result_code, 5004);
    assert_eq!(aca.failed_avp.as_ref().unwrap().other[0].code, 480);
    // Interims out of order are fine (stored records arrive late).
    assert_eq!(ok(&mut cdf, &record("s", Rt::InterimRecord, 2)), 2001);
    assert_eq!(ok(&mut cdf, &record("s", Rt::InterimRecord, 1)), 2001);
    // A stop before a later record, and a record after the stop.
    assert_eq!(ok(&mut cdf, &record("s", Rt::StopRecord, 2)), 5004);
    assert_eq!(ok(&mut cdf, &record("s", Rt::StopRecord, 3)), 2001);
    assert_eq!(ok(&mut cdf, &record("s", Rt::InterimRecord, 4)), 5004);
    assert_eq!(
        ok(&mut cdf, &record("s", Rt::StopRecord, 3)),
        2001,
        "duplicate"
    );
    assert_eq!(cdf.stored.len(), 4);
}

#[test]
fn the_server_forgets_the_oldest_session_beyond_its_limit_and_on_request() {
    let mut cfg = ServerConfig::new("cdf.example.net", "example.net");
    cfg.max_sessions = 2;
    let mut server = AcctServer::new(cfg);
    let a = record("a", Rt::EventRecord, 0);
    assert_eq!(server.check(&a), Verdict::Accept);
    assert_eq!(
        server.check(&record("b", Rt::EventRecord, 0)),
        Verdict::Accept
    );
    assert_eq!(server.check(&a), Verdict::Duplicate);
    assert_eq!(
        server.check(&record("c", Rt::EventRecord, 0)),
        Verdict::Accept
    );
    assert_eq!(server.check(&a), Verdict::Accept, "a was forgotten");
    let c = record("c", Rt::EventRecord, 0);
    server.forget(&c);
    assert_eq!(server.check(&c), Verdict::Accept);
}

#[test]
fn a_sqlite_spool_survives_a_restart_and_respects_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.db");
    let start = record("s;1", Rt::StartRecord, 0);
    let stop = record("s;1", Rt::StopRecord, 1);
    {
        let mut spool = SqliteSpool::open(&path, 2).unwrap();
        assert!(spool.push(&start).unwrap());
        assert!(spool.push(&stop).unwrap());
        assert!(
            !spool.push(&record("s;2", Rt::EventRecord, 0)).unwrap(),
            "full"
        );
    }
    let mut spool = SqliteSpool::open(&path, 2).unwrap();
    assert_eq!(spool.len().unwrap(), 2);
    let mut cdf = Cdf::new();
    let mut redo = Redelivery::new(None, Duration::from_secs(1), Duration::from_secs(1));
    let now = Instant::now();
    while let Some(req) = redo.poll_send(&mut spool, now).unwrap() {
        let aca = cdf.handle(&req.acr);
        redo.on_aca(&mut spool, &aca, now).unwrap();
    }
    assert!(spool.is_empty().unwrap());
    assert_eq!(cdf.stored, vec![start, stop]);
}

#[test]
fn answers_to_other_records_are_ignored() {
    let mut s = AcctSession::new("sbc;1;13", config());
    let now = Instant::now();
    s.start(now);
    let req = sends(&drain(&mut s)).remove(0);
    let mut aca = Cdf::new().server.answer(&req.acr, 2001, None);
    aca.accounting_record_number = 7;
    s.on_aca(&aca, now);
    assert_eq!(s.state(), State::PendingS);
    aca.accounting_record_number = 0;
    aca.accounting_record_type = Rt::EventRecord;
    s.on_aca(&aca, now);
    assert_eq!(s.state(), State::PendingS);
}

#[test]
fn grant_and_lose_keeps_the_session_open_after_a_failed_answer() {
    let mut cfg = config();
    cfg.realtime = Realtime::GrantAndLose;
    let mut s = AcctSession::new("sbc;1;14", cfg);
    let now = Instant::now();
    s.start(now);
    let req = sends(&drain(&mut s)).remove(0);
    let aca = Cdf::new()
        .server
        .answer(&req.acr, rc::DIAMETER_AUTHORIZATION_REJECTED, None);
    s.on_aca(&aca, now);
    assert_eq!(events(&drain(&mut s)), vec![AcctEvent::Granted]);
    assert_eq!(s.state(), State::Open);
}
