//! The three Accounting-Realtime-Required modes (RFC 6733 §9.8.7, §8.2) over loopback TCP:
//! `acct::serve::start` as the Charging Data Function, a client `Node` driving
//! `AcctSession`s. The mode comes from the server's ACA (which overrides the client's
//! configured one) or, when the server sends none, from the client configuration. Each
//! test checks what the session reports (grant, disconnect, lost, stored) and what the CDF
//! stored.

use diameter::dict::base_rfc6733::{Aca, AccountingRealtimeRequired as Realtime};
use diameter_apps::acct::client::{AcctConfig, AcctEvent, AcctSession, Output, State};
use diameter_apps::acct::deliver::send_acr;
use diameter_apps::acct::serve::{start, AcctHandle, RecordsSink, ServeOptions, APPLICATION_ID};
use diameter_apps::acct::server::ServerConfig;
use diameter_apps::acct::spool::{Redelivery, Spool, SqliteSpool};
use diameter_apps::acct::store::RecordStore;
use diameter_core::base::DisconnectCause;
use diameter_core::node::{Node, PeerConfig};
use std::path::Path;
use std::time::{Duration, Instant};

const CDF: &str = "cdf.example.net";
const SBC: &str = "sbc.example.net";
const LIMIT: Duration = Duration::from_secs(60);

/// A CDF on `dir` (SQLite store, JSON lines) imposing `realtime` in its ACAs, if any.
async fn server(dir: &Path, realtime: Option<Realtime>) -> AcctHandle {
    let mut checks = ServerConfig::new(CDF, "example.net");
    checks.realtime = realtime;
    let mut o = ServeOptions::default();
    o.listen = "127.0.0.1:0".parse().unwrap();
    o.origin_host = CDF.into();
    o.origin_realm = "example.net".into();
    o.store = format!("sqlite://{}", dir.join("acct.db").display());
    o.records = RecordsSink::File(dir.join("records.jsonl"));
    o.server = Some(checks);
    start(o).await.expect("start")
}

async fn client(cdf: &AcctHandle) -> Node {
    let node = Node::builder()
        .origin_host(SBC)
        .origin_realm("example.net")
        .acct_application(APPLICATION_ID)
        .peer(PeerConfig::new(CDF, cdf.local_addrs()[0]))
        .build()
        .await
        .expect("client node");
    assert!(node.wait_peer(CDF, Duration::from_secs(10)).await);
    node
}

/// Stops the CDF and waits until the client no longer has it as an open peer.
async fn stop_cdf(node: &Node, cdf: AcctHandle) {
    cdf.stop().await;
    let end = Instant::now() + Duration::from_secs(10);
    while node.is_peer_available(CDF) && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!node.is_peer_available(CDF), "the client saw the CDF go");
}

/// What one run of the session's outputs produced.
#[derive(Debug, Default)]
struct Pumped {
    events: Vec<AcctEvent>,
    /// Result-Codes of the ACAs received.
    answers: Vec<u32>,
    /// Records the session asked to keep (all kept: the spool had room).
    stored: usize,
}

/// Sends what the session wants sent, feeds answers and failures back, keeps records in
/// `spool`; the session is told before each failure whether the spool has room.
async fn pump(node: &Node, s: &mut AcctSession, spool: &mut dyn Spool) -> Pumped {
    let mut p = Pumped::default();
    while let Some(out) = s.poll_output() {
        match out {
            Output::Send(req) => match send_acr(node, &req).await {
                Ok(aca) => {
                    p.answers.push(aca.result_code);
                    s.on_aca(&aca, Instant::now());
                }
                Err(_) => {
                    s.set_storage_available(spool.has_room().unwrap());
                    s.on_failure(Instant::now());
                }
            },
            Output::Store(acr) => {
                assert!(spool.push(&acr).unwrap(), "told there was room");
                p.stored += 1;
            }
            Output::Event(e) => p.events.push(e),
        }
    }
    p
}

/// A client with `realtime` configured and an interim every millisecond (driven by hand).
fn config(realtime: Realtime) -> AcctConfig {
    let mut c = AcctConfig::new(SBC, "example.net", "example.net");
    c.answer_timeout = Duration::from_secs(5);
    c.realtime = realtime;
    c.interim_interval = Some(Duration::from_millis(1));
    c
}

/// Starts a session against a live CDF: granted, and in the mode the ACA named.
async fn open(node: &Node, id: &str, cfg: AcctConfig, spool: &mut dyn Spool) -> AcctSession {
    let mut s = AcctSession::new(id, cfg);
    s.start(Instant::now());
    let p = pump(node, &mut s, spool).await;
    assert_eq!(p.events, vec![AcctEvent::Granted]);
    assert_eq!(p.answers, vec![2001]);
    s
}

/// Sends an interim (the interval elapsed).
fn interim_due(s: &mut AcctSession) {
    s.handle_timeout(Instant::now() + Duration::from_millis(5));
}

fn lost(events: &[AcctEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, AcctEvent::Lost(_)))
        .count()
}

fn records_of(dir: &Path, session: &str) -> Option<i64> {
    let store = RecordStore::open(&dir.join("acct.db")).unwrap();
    store.session(session).unwrap().map(|r| r.records)
}

fn json_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_and_grant_from_the_aca_disconnects_when_the_cdf_stops() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let cdf = server(dir.path(), Some(Realtime::DeliverAndGrant)).await;
        let node = client(&cdf).await;
        let mut spool = SqliteSpool::open(&dir.path().join("spool.db"), 100).unwrap();
        // The client would store (its own setting); the server's ACA says otherwise.
        let mut s = open(
            &node,
            "sbc;dg;1",
            config(Realtime::GrantAndStore),
            &mut spool,
        )
        .await;
        assert_eq!(
            s.realtime(),
            Realtime::DeliverAndGrant,
            "taken from the ACA"
        );

        stop_cdf(&node, cdf).await;
        interim_due(&mut s);
        let p = pump(&node, &mut s, &mut spool).await;
        assert_eq!(p.answers, Vec::<u32>::new());
        assert_eq!(lost(&p.events), 1, "{:?}", p.events);
        assert!(
            p.events.ends_with(&[
                AcctEvent::Disconnect { result_code: None },
                AcctEvent::Closed
            ]),
            "{:?}",
            p.events
        );
        assert_eq!(s.state(), State::Idle);
        assert_eq!(p.stored, 0);
        assert!(spool.is_empty().unwrap(), "nothing kept");

        // While the CDF is gone, a new user is denied service (the client's own setting).
        let mut denied = AcctSession::new("sbc;dg;2", config(Realtime::DeliverAndGrant));
        denied.start(Instant::now());
        let p = pump(&node, &mut denied, &mut spool).await;
        assert_eq!(lost(&p.events), 1, "{:?}", p.events);
        assert!(!p.events.contains(&AcctEvent::Granted), "{:?}", p.events);
        assert!(p
            .events
            .contains(&AcctEvent::Disconnect { result_code: None }));
        assert_eq!(denied.state(), State::Idle);
        assert!(spool.is_empty().unwrap(), "nothing kept");

        node.stop(DisconnectCause::Rebooting).await;
        assert_eq!(records_of(dir.path(), "sbc;dg;2"), None);
        assert_eq!(
            records_of(dir.path(), "sbc;dg;1"),
            Some(1),
            "the start only"
        );
        assert!(
            json_lines(dir.path()).is_empty(),
            "no session closed at the CDF"
        );
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_and_grant_disconnects_when_the_cdf_answers_an_error_and_grant_and_lose_does_not() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        // The CDF names no mode: the client's configuration applies.
        let cdf = server(dir.path(), None).await;
        let node = client(&cdf).await;
        let mut spool = SqliteSpool::open(&dir.path().join("spool.db"), 100).unwrap();
        // An event takes record number 0 of each Session-Id; a START that reuses the
        // Session-Id is then refused by the CDF (5004, record number of another type).
        for id in ["sbc;clash;dg", "sbc;clash;gl"] {
            let mut e = AcctSession::new(id, config(Realtime::GrantAndStore));
            e.event(Instant::now());
            let p = pump(&node, &mut e, &mut spool).await;
            assert_eq!(p.events, vec![AcctEvent::Closed]);
        }

        let mut s = AcctSession::new("sbc;clash;dg", config(Realtime::DeliverAndGrant));
        s.start(Instant::now());
        let p = pump(&node, &mut s, &mut spool).await;
        assert_eq!(p.answers, vec![5004]);
        assert_eq!(
            p.events,
            vec![
                AcctEvent::Disconnect {
                    result_code: Some(5004)
                },
                AcctEvent::Closed
            ]
        );
        assert_eq!(s.state(), State::Idle);

        let mut s = AcctSession::new("sbc;clash;gl", config(Realtime::GrantAndLose));
        s.start(Instant::now());
        let p = pump(&node, &mut s, &mut spool).await;
        assert_eq!(p.answers, vec![5004]);
        assert_eq!(p.events, vec![AcctEvent::Granted], "service continues");
        assert_eq!(s.state(), State::Open);
        assert!(spool.is_empty().unwrap(), "a refused record is not kept");

        node.stop(DisconnectCause::Rebooting).await;
        cdf.stop().await;
        assert_eq!(
            records_of(dir.path(), "sbc;clash;dg"),
            Some(1),
            "the event only"
        );
        assert_eq!(
            records_of(dir.path(), "sbc;clash;gl"),
            Some(1),
            "the event only"
        );
        assert_eq!(json_lines(dir.path()).len(), 2, "the two events");
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_store_from_the_aca_keeps_records_and_delivers_them_once_when_the_cdf_is_back() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let spool_path = dir.path().join("spool.db");
        let id = "sbc;gs;1";
        {
            let cdf = server(dir.path(), Some(Realtime::GrantAndStore)).await;
            let node = client(&cdf).await;
            let mut spool = SqliteSpool::open(&spool_path, 100).unwrap();
            // The client would disconnect (its own setting); the ACA says store.
            let mut s = open(&node, id, config(Realtime::DeliverAndGrant), &mut spool).await;
            assert_eq!(s.realtime(), Realtime::GrantAndStore, "taken from the ACA");

            stop_cdf(&node, cdf).await;
            interim_due(&mut s);
            let p = pump(&node, &mut s, &mut spool).await;
            assert_eq!(p.events, Vec::<AcctEvent>::new(), "service continues");
            assert_eq!(p.stored, 1);
            assert_eq!(s.state(), State::Open);
            s.stop(Instant::now());
            let p = pump(&node, &mut s, &mut spool).await;
            assert_eq!(p.events, vec![AcctEvent::Closed]);
            assert_eq!(p.stored, 1);
            assert_eq!(spool.len().unwrap(), 2, "interim and stop kept on disk");
            node.stop(DisconnectCause::Rebooting).await;
        }
        assert_eq!(
            records_of(dir.path(), id),
            Some(1),
            "the start only, so far"
        );
        assert!(json_lines(dir.path()).is_empty());

        // The CDF is back (same store); a new client process delivers the spool file.
        let cdf = server(dir.path(), Some(Realtime::GrantAndStore)).await;
        let node = client(&cdf).await;
        let mut spool = SqliteSpool::open(&spool_path, 100).unwrap();
        assert_eq!(spool.len().unwrap(), 2, "the spool survived the process");
        let mut redo = Redelivery::new(None, Duration::from_secs(5), Duration::from_secs(1));
        let mut first = true;
        while let Some(req) = redo.poll_send(&mut spool, Instant::now()).unwrap() {
            assert!(req.retransmit);
            if first {
                // This answer is lost on the way back: the record is sent again.
                let _: Aca = send_acr(&node, &req).await.unwrap();
                first = false;
            }
            let aca: Aca = send_acr(&node, &req).await.unwrap();
            assert_eq!(aca.result_code, 2001);
            redo.on_aca(&mut spool, &aca, Instant::now()).unwrap();
        }
        assert!(spool.is_empty().unwrap());
        assert_eq!(cdf.retransmissions(), 3, "T flag on every delivery");
        node.stop(DisconnectCause::Rebooting).await;
        cdf.stop().await;

        assert_eq!(
            records_of(dir.path(), id),
            Some(3),
            "start, interim, stop: once each"
        );
        let lines = json_lines(dir.path());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["session_id"], id);
        assert_eq!(lines[0]["records"], 3);
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_lose_from_the_aca_keeps_service_and_drops_what_cannot_be_kept() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let cdf = server(dir.path(), Some(Realtime::GrantAndLose)).await;
        let node = client(&cdf).await;
        // A spool with room for one record, filled while the CDF is up.
        let mut spool = SqliteSpool::open(&dir.path().join("spool.db"), 1).unwrap();
        let mut lose = open(
            &node,
            "sbc;gl;1",
            config(Realtime::GrantAndStore),
            &mut spool,
        )
        .await;
        assert_eq!(
            lose.realtime(),
            Realtime::GrantAndLose,
            "taken from the ACA"
        );
        // Were the mode ignored (the client's GRANT_AND_STORE), a full spool would
        // disconnect the user below.
        stop_cdf(&node, cdf).await;
        // First failure: the spool has room, the record is kept (RFC 6733 §8.2 PendingI).
        interim_due(&mut lose);
        let p = pump(&node, &mut lose, &mut spool).await;
        assert_eq!(p.stored, 1);
        assert_eq!(p.events, Vec::<AcctEvent>::new());
        assert!(!spool.has_room().unwrap());
        // Now the spool is full: the record is lost and service continues.
        interim_due(&mut lose);
        let p = pump(&node, &mut lose, &mut spool).await;
        assert_eq!(p.stored, 0, "nothing spooled");
        assert_eq!(lost(&p.events), 1, "{:?}", p.events);
        assert!(
            !p.events
                .iter()
                .any(|e| matches!(e, AcctEvent::Disconnect { .. })),
            "{:?}",
            p.events
        );
        assert_eq!(lose.state(), State::Open, "service continues");
        // The stop cannot be kept either: lost, the session ends without a disconnect.
        lose.stop(Instant::now());
        let p = pump(&node, &mut lose, &mut spool).await;
        assert_eq!(p.stored, 0);
        assert_eq!(lost(&p.events), 1, "{:?}", p.events);
        assert_eq!(p.events.last(), Some(&AcctEvent::Closed));
        assert_eq!(
            spool.len().unwrap(),
            1,
            "the spool holds only the first record"
        );

        node.stop(DisconnectCause::Rebooting).await;
        assert_eq!(
            records_of(dir.path(), "sbc;gl;1"),
            Some(1),
            "the start only"
        );
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_and_grant_keeps_service_when_the_stream_moves_to_the_secondary() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let cdf = server(dir.path(), None).await;
        let node = client(&cdf).await;
        let mut spool = SqliteSpool::open(&dir.path().join("spool.db"), 100).unwrap();
        // The primary is unknown (the CDF answers DIAMETER_UNABLE_TO_DELIVER); moving to
        // the secondary is no reason to end the service (RFC 6733 §9.8.7).
        let mut c = config(Realtime::DeliverAndGrant);
        c.primary_host = Some("gone.example.net".into());
        c.secondary_host = Some(CDF.into());
        let mut s = AcctSession::new("sbc;dg;fo", c);
        s.start(Instant::now());
        let p = pump(&node, &mut s, &mut spool).await;
        assert_eq!(
            p.answers,
            vec![2001],
            "the first try failed (3002, an E-bit answer)"
        );
        assert_eq!(
            p.events,
            vec![AcctEvent::FailedOver { to: CDF.into() }, AcctEvent::Granted]
        );
        assert_eq!(s.state(), State::Open);
        assert!(spool.is_empty().unwrap());
        node.stop(DisconnectCause::Rebooting).await;
        cdf.stop().await;
        assert_eq!(records_of(dir.path(), "sbc;dg;fo"), Some(1));
    })
    .await
    .expect("in time");
}
