//! Crash: `diameter serve ocs` on a SQLite store is killed (SIGKILL) in the middle of a
//! pipelined load run and restarted on the same store; the client retransmits (T flag, same
//! Session-Id, CC-Request-Number, Hop-by-Hop and End-to-End) every request it had no answer
//! for, re-sends a sample of requests that were answered before the kill, and finishes every
//! session. Then the money reconciles:
//! - every request is reflected exactly once (one saved outcome; one ledger row of the
//!   expected amount for each charging request, none for the others);
//! - a retransmission after the restart gets the answer given before the kill;
//! - no balance is negative, each balance is the opening balance minus its ledger's debits,
//!   and no session or reservation is left once every session has ended.
//!
//! The load: a few connections (one Origin-Host each), 32 requests in flight on each, Gy
//! sessions (CCR-I asking 1 MB; two CCR-U each using 1 MB and asking 1 MB; CCR-T using
//! 0.5 MB: 10 per started MB) and Ro SMS direct debits (9 each, no refund right, so no
//! Refund-Information), unique Session-Ids.

#![allow(clippy::useless_conversion)]

#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;

use bytes::Bytes;
use diameter::dict::dcca_rfc4006::*;
use diameter_core::fields::result_code;
use diameter_core::traits::Command;
use diameter_core::{CommandFlags, RawMessage};
use ocs_common::ccr;
use ocs_common::raw::{free_port, read_message};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPENING: i64 = 1_000_000_000;
const CONNECTIONS: usize = 3;
const IN_FLIGHT: usize = 32;
const SUBSCRIBERS: u64 = 20;
/// Answered requests re-sent after the restart (per connection) to compare the answers.
const REPLAYS: usize = 100;

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens and closes the store in `dir` after a SIGKILL: the engine replays its journal
/// into the SQLite file, which is then complete for reading.
fn recover(dir: &Path) {
    let url = format!("sqlite://{}", dir.join("ocs.db").display());
    drop(diameter_apps::ocs::store::open(&url).expect("recover the store"));
}

/// Starts the server on the store in `dir` (no `[[peers]]`: loopback peers are admitted).
fn start_server(dir: &Path, addr: SocketAddr) -> Server {
    std::fs::write(dir.join("tariffs.toml"), ccr::TARIFFS).expect("tariffs");
    let config = format!(
        "listen = \"{addr}\"\norigin_host = \"ocs.example.net\"\n\
         origin_realm = \"example.net\"\nstore = \"sqlite://{}\"\ntariffs = \"{}\"\n\
         auto_provision = {OPENING}\n",
        dir.join("ocs.db").display(),
        dir.join("tariffs.toml").display(),
    );
    std::fs::write(dir.join("ocs.toml"), config).expect("config");
    let child = Process::new(env!("CARGO_BIN_EXE_diameter"))
        .args(["serve", "ocs", "--config"])
        .arg(dir.join("ocs.toml"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start diameter serve ocs");
    let end = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < end, "server did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child }
}

/// Connects, exchanges capabilities, and starts a reader thread that forwards every answer
/// (the channel closes when the connection does).
fn connect(addr: SocketAddr, host: &str) -> (TcpStream, mpsc::Receiver<RawMessage>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(&ocs_common::raw::cer(host, "crash"))
        .expect("CER");
    let cea = read_message(&mut s).expect("CEA");
    assert_eq!(result_code(&cea), Some(2001), "CER refused");
    s.set_read_timeout(None).ok();
    let mut r = s.try_clone().expect("clone");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Some(m) = read_message(&mut r) {
            if m.header.flags & CommandFlags::REQUEST != 0 {
                continue; // a DWR or the like: not for us
            }
            if tx.send(m).is_err() {
                return;
            }
        }
    });
    (s, rx)
}

/// One MSCC of an answer: rating group, service ids, Result-Code, granted octets, granted
/// SMS units.
type Service = (Option<u32>, Vec<u32>, Option<u32>, Option<u64>, Option<u64>);

/// What the test compares between two answers to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answer {
    result_code: u32,
    services: Vec<Service>,
}

fn answer_of(m: &RawMessage) -> Answer {
    let cca = Cca::decode(m).expect("the CCA decodes");
    Answer {
        result_code: cca.result_code,
        services: cca
            .multiple_services_credit_control
            .iter()
            .map(|s| {
                let g = s.granted_service_unit.as_ref();
                (
                    s.rating_group,
                    s.service_identifier.clone(),
                    s.result_code,
                    g.and_then(|g| g.cc_total_octets),
                    g.and_then(|g| g.cc_service_specific_units),
                )
            })
            .collect(),
    }
}

struct Req {
    bytes: Bytes,
    key: String,
    subscriber: String,
    /// What this request debits from the account.
    debit: i64,
    flow: usize,
    answer: Option<Answer>,
}

struct Flow {
    steps: Vec<usize>,
    next: usize,
}

/// One client connection and everything it sent.
struct Client {
    host: String,
    reqs: Vec<Req>,
    flows: Vec<Flow>,
    /// Hop-by-Hop → (request, whether it is a replay of an answered request).
    outstanding: HashMap<u32, (usize, bool)>,
    next_hbh: u32,
    retransmissions: u64,
    replays_checked: u64,
    answered_before_kill: u64,
}

impl Client {
    fn new(n: usize) -> Client {
        Client {
            host: format!("pgw{n}.example.net"),
            reqs: Vec::new(),
            flows: Vec::new(),
            outstanding: HashMap::new(),
            next_hbh: (n as u32 + 1) << 24,
            retransmissions: 0,
            replays_checked: 0,
            answered_before_kill: 0,
        }
    }

    fn push(&mut self, c: Ccr, debit: i64, flow: usize) -> usize {
        self.next_hbh += 1;
        let who = c.subscription_id[0]
            .subscription_id_data
            .as_str()
            .to_string();
        let key = format!(
            "{}|{}|{}|{}",
            c.session_id.as_str(),
            c.cc_request_type.value(),
            c.cc_request_number,
            self.host
        );
        let bytes = c.to_message(4, self.next_hbh, self.next_hbh).to_bytes();
        self.reqs.push(Req {
            bytes,
            key,
            subscriber: who,
            debit,
            flow,
            answer: None,
        });
        self.reqs.len() - 1
    }

    /// A new flow: a Gy session (four requests) or, every fourth, an SMS direct debit.
    fn new_flow(&mut self) -> usize {
        let f = self.flows.len();
        let session = format!("{};crash;{f}", self.host);
        let who = format!(
            "4670{:07}",
            (f as u64 * 7 + self.host.len() as u64) % SUBSCRIBERS
        );
        let mut steps = Vec::new();
        if f % 4 == 3 {
            let mut c = ccr::sms_event(&session, &who, RequestedAction::DirectDebiting);
            c.origin_host = self.host.as_str().into();
            steps.push(self.push(c, 9, f));
        } else {
            let plan = [
                (CcRequestType::InitialRequest, Some(1_000_000), None, 0),
                (
                    CcRequestType::UpdateRequest,
                    Some(1_000_000),
                    Some(1_000_000),
                    10,
                ),
                (
                    CcRequestType::UpdateRequest,
                    Some(1_000_000),
                    Some(1_000_000),
                    10,
                ),
                (CcRequestType::TerminationRequest, None, Some(500_000), 10),
            ];
            for (n, (kind, ask, used, debit)) in plan.into_iter().enumerate() {
                let mut c = ccr::base(&session, kind, n as u32, ccr::GY);
                c.origin_host = self.host.as_str().into();
                c.subscription_id = vec![ccr::msisdn(&who)];
                c.multiple_services_credit_control = vec![ccr::data_mscc(100, ask, used)];
                steps.push(self.push(c, debit, f));
            }
        }
        self.flows.push(Flow { steps, next: 0 });
        f
    }

    fn hbh(&self, req: usize) -> u32 {
        let b = &self.reqs[req].bytes;
        u32::from_be_bytes([b[12], b[13], b[14], b[15]])
    }

    /// Sends the next step of a flow, if any; false when the connection failed.
    fn send_next(&mut self, s: &mut TcpStream, flow: usize) -> bool {
        let f = &mut self.flows[flow];
        let Some(&req) = f.steps.get(f.next) else {
            return true;
        };
        f.next += 1;
        self.outstanding.insert(self.hbh(req), (req, false));
        s.write_all(&self.reqs[req].bytes).is_ok()
    }

    /// Sends a request again with the T flag.
    fn retransmit(&mut self, s: &mut TcpStream, req: usize, replay: bool) -> bool {
        let mut b = self.reqs[req].bytes.to_vec();
        b[4] |= CommandFlags::RETRANSMIT;
        self.outstanding.insert(self.hbh(req), (req, replay));
        s.write_all(&b).is_ok()
    }

    /// Records an answer; returns the flow to continue, if any.
    fn on_answer(&mut self, s: &mut TcpStream, m: &RawMessage) -> Result<Option<usize>, String> {
        let Some((req, replay)) = self.outstanding.remove(&m.header.hop_by_hop) else {
            return Err(format!(
                "answer to unknown hop-by-hop {}",
                m.header.hop_by_hop
            ));
        };
        let a = answer_of(m);
        if a.result_code == 3004 {
            // Too busy: the client fails over; here it tries the same server again.
            self.retransmissions += 1;
            self.retransmit(s, req, replay);
            return Ok(None);
        }
        if replay {
            let before = self.reqs[req]
                .answer
                .as_ref()
                .expect("replayed an answered request");
            if *before != a {
                return Err(format!(
                    "{}: answered {before:?} before the kill, {a:?} after",
                    self.reqs[req].key
                ));
            }
            self.replays_checked += 1;
            return Ok(None);
        }
        if a.result_code != 2001 {
            return Err(format!("{}: answered {a:?}", self.reqs[req].key));
        }
        self.reqs[req].answer = Some(a);
        Ok(Some(self.reqs[req].flow))
    }

    /// Runs flows until the connection breaks (the server is killed) or the deadline.
    fn load(&mut self, addr: SocketAddr, answered: &AtomicU64, deadline: Instant) {
        let (mut s, rx) = connect(addr, &self.host.clone());
        for _ in 0..IN_FLIGHT {
            let f = self.new_flow();
            if !self.send_next(&mut s, f) {
                return;
            }
        }
        while Instant::now() < deadline {
            let m = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            match self.on_answer(&mut s, &m) {
                Ok(Some(flow)) => {
                    answered.fetch_add(1, Ordering::Relaxed);
                    self.answered_before_kill += 1;
                    let done = self.flows[flow].next == self.flows[flow].steps.len();
                    let flow = if done { self.new_flow() } else { flow };
                    if !self.send_next(&mut s, flow) {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// After the restart: retransmits what had no answer, replays a sample of answered
    /// requests, and finishes every flow.
    fn finish(&mut self, addr: SocketAddr) {
        let (mut s, rx) = connect(addr, &self.host.clone());
        let pending: Vec<usize> = self.outstanding.drain().map(|(_, (r, _))| r).collect();
        for req in pending {
            self.retransmissions += 1;
            assert!(self.retransmit(&mut s, req, false), "send");
        }
        let answered: Vec<usize> = (0..self.reqs.len())
            .filter(|&r| self.reqs[r].answer.is_some())
            .collect();
        for &req in answered.iter().rev().take(REPLAYS) {
            assert!(self.retransmit(&mut s, req, true), "send");
        }
        let end = Instant::now() + Duration::from_secs(15);
        while !self.outstanding.is_empty() {
            assert!(
                Instant::now() < end,
                "{} answers missing",
                self.outstanding.len()
            );
            let m = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("an answer after the restart");
            if let Some(flow) = self.on_answer(&mut s, &m).unwrap_or_else(|e| panic!("{e}")) {
                assert!(self.send_next(&mut s, flow), "send");
            }
        }
        for (n, f) in self.flows.iter().enumerate() {
            assert_eq!(f.next, f.steps.len(), "flow {n} unfinished");
        }
    }
}

#[test]
fn sigkill_mid_run_then_retransmissions_charge_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut server = start_server(dir.path(), addr);
    let answered = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(15);
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let answered = answered.clone();
            std::thread::spawn(move || {
                let mut c = Client::new(n);
                c.load(addr, &answered, deadline);
                c
            })
        })
        .collect();
    // Kill once the run is well under way.
    let start = Instant::now();
    while answered.load(Ordering::Relaxed) < 600 && start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // `Child::kill` is kill(2) with SIGKILL on the child's PID: no shutdown, no flush.
    server.child.kill().expect("SIGKILL the server");
    let _ = server.child.wait();
    let mut clients: Vec<Client> = threads
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    let before: u64 = clients.iter().map(|c| c.answered_before_kill).sum();
    let unanswered: usize = clients.iter().map(|c| c.outstanding.len()).sum();
    assert!(before > 0, "nothing answered before the kill");
    assert!(unanswered > 0, "nothing in flight at the kill");
    // In-flight requests whose charge was already committed when the server died: their
    // retransmissions must get the saved answer and charge nothing more.
    let committed_unanswered = {
        recover(dir.path());
        let db = rusqlite::Connection::open(dir.path().join("ocs.db")).expect("open store");
        let mut q = db
            .prepare("SELECT COUNT(*) FROM requests WHERE request_key = ?1")
            .expect("query");
        clients
            .iter()
            .flat_map(|c| c.outstanding.values().map(|(r, _)| c.reqs[*r].key.clone()))
            .filter(|k| q.query_row([k], |r| r.get::<_, i64>(0)).expect("count") > 0)
            .count()
    };

    let server = start_server(dir.path(), addr);
    let threads: Vec<_> = clients
        .drain(..)
        .map(|mut c| {
            std::thread::spawn(move || {
                c.finish(addr);
                c
            })
        })
        .collect();
    let clients: Vec<Client> = threads
        .into_iter()
        .map(|t| t.join().expect("client after the restart"))
        .collect();
    drop(server);
    let replays: u64 = clients.iter().map(|c| c.replays_checked).sum();
    let retransmissions: u64 = clients.iter().map(|c| c.retransmissions).sum();
    let requests: usize = clients.iter().map(|c| c.reqs.len()).sum();
    eprintln!(
        "crash: {requests} requests, {before} answered before the SIGKILL, {unanswered} in \
         flight ({committed_unanswered} of them already committed), {retransmissions} \
         retransmitted after the restart, {replays} answers compared"
    );
    assert!(replays > 0);

    // Reconcile with the store.
    recover(dir.path());
    let db = rusqlite::Connection::open(dir.path().join("ocs.db")).expect("open store");
    let mut ledger: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    {
        let mut q = db
            .prepare("SELECT request_key, kind, amount FROM ledger")
            .expect("ledger");
        let rows = q
            .query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("ledger rows");
        for row in rows {
            let (key, kind, amount) = row.expect("row");
            let key = key.expect("every ledger row of a request has its key");
            ledger.entry(key).or_default().push((kind, amount));
        }
    }
    let saved: HashSet<String> = db
        .prepare("SELECT request_key FROM requests")
        .expect("requests")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("keys");
    let mut expected: HashMap<String, i64> = HashMap::new();
    let mut keys = HashSet::new();
    for c in &clients {
        for r in &c.reqs {
            assert!(r.answer.is_some(), "{} never answered", r.key);
            assert!(keys.insert(r.key.clone()), "duplicate key {}", r.key);
            assert!(saved.contains(&r.key), "{}: no saved outcome", r.key);
            let rows = ledger.get(&r.key).map(Vec::as_slice).unwrap_or(&[]);
            if r.debit > 0 {
                assert_eq!(
                    rows,
                    &[("debit".to_string(), r.debit)],
                    "{}: ledger rows",
                    r.key
                );
            } else {
                assert!(
                    rows.is_empty(),
                    "{}: unexpected ledger rows {rows:?}",
                    r.key
                );
            }
            *expected.entry(r.subscriber.clone()).or_default() += r.debit;
        }
    }
    assert_eq!(
        saved.len(),
        keys.len(),
        "saved outcomes of unknown requests"
    );
    for key in ledger.keys() {
        assert!(keys.contains(key), "ledger row of an unknown request {key}");
    }
    for (who, debits) in &expected {
        let (balance, reserved, ledger_debits): (i64, i64, i64) = db
            .query_row(
                "SELECT a.balance, a.reserved, (SELECT COALESCE(SUM(amount), 0) FROM ledger l
                 WHERE l.account_id = a.id AND l.kind = 'debit')
                 FROM accounts a JOIN subscription_ids s ON s.account_id = a.id
                 WHERE s.id_data = ?1",
                [who],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("account");
        assert!(balance >= 0, "{who}: balance {balance}");
        assert_eq!(reserved, 0, "{who}: reservation left");
        assert_eq!(ledger_debits, *debits, "{who}: ledger debits");
        assert_eq!(balance, OPENING - debits, "{who}: balance vs ledger");
    }
    let left: i64 = db
        .query_row(
            "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM reservations)",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(left, 0, "sessions or reservations left");
}
