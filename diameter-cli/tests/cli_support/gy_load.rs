//! The raw Gy load client of the crash tests (`ocs_crash.rs`, `ocs_postgres.rs`): pipelined
//! flows over one connection per client (one Origin-Host each), every request remembered
//! with what it debits and its answer, so that after a SIGKILL and a restart the client can
//! retransmit (T flag, same Session-Id, CC-Request-Number, Hop-by-Hop and End-to-End) what
//! had no answer, replay a sample of answered requests and compare the answers, finish every
//! flow, and the test can reconcile the store against [`Client::reqs`].
//!
//! Flows: Gy sessions (CCR-I asking 1 MB; two CCR-U each using 1 MB and asking 1 MB; CCR-T
//! using 0.5 MB: 10 per started MB) and, if [`LoadConfig::sms_every`], Ro SMS direct debits
//! (9 each, no refund right). Included with `#[path]` by those two tests only.

use crate::ocs_common::{ccr, raw};
use crate::process::ServerProcess;
use bytes::Bytes;
use diameter::dict::dcca_rfc4006::*;
use diameter_core::fields::result_code;
use diameter_core::traits::Command;
use diameter_core::{CommandFlags, RawMessage};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shape of a load run.
#[derive(Clone, Copy, Debug)]
pub struct LoadConfig {
    /// In Session-Ids and the CER's Product-Name.
    pub tag: &'static str,
    /// Subscribers `4670000000x` shared by every client.
    pub subscribers: u64,
    /// Requests in flight per connection.
    pub in_flight: usize,
    /// Answered requests re-sent by [`Client::finish`] to compare the answers.
    pub replays: usize,
    /// How long [`Client::finish`] may take.
    pub finish_within: Duration,
    /// Every n-th flow is an SMS direct debit instead of a Gy session.
    pub sms_every: Option<usize>,
}

/// Starts `diameter serve ocs` as `NAME.example.net` on the store `url`, on a port of its
/// own choosing (no `[[peers]]`: loopback peers are admitted), provisioning subscribers
/// with `opening`; its standard error goes to `dir/NAME-RUN.log`.
pub fn start_ocs(dir: &Path, name: &str, url: &str, opening: i64, run: u32) -> ServerProcess {
    std::fs::write(dir.join("tariffs.toml"), ccr::TARIFFS).expect("tariffs");
    let config = format!(
        "listen = \"127.0.0.1:0\"\norigin_host = \"{name}.example.net\"\n\
         origin_realm = \"example.net\"\nstore = \"{url}\"\ntariffs = \"{}\"\n\
         auto_provision = {opening}\n",
        dir.join("tariffs.toml").display(),
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).expect("config");
    let log = dir.join(format!("{name}-{run}.log"));
    let file = file.to_str().expect("utf-8 path");
    ServerProcess::start(
        &["serve", "ocs", "--config", file],
        Some("warn"),
        Some(&log),
    )
}

/// The clients of `threads`; if one failed, panics with `why` (what the servers' reports
/// say) after every thread has ended.
pub fn join_clients(threads: Vec<JoinHandle<Client>>, why: impl FnOnce() -> String) -> Vec<Client> {
    let joined: Vec<_> = threads.into_iter().map(JoinHandle::join).collect();
    if joined.iter().any(Result::is_err) {
        panic!("a client failed; {}", why());
    }
    joined.into_iter().flatten().collect()
}

/// Connects, exchanges capabilities, and starts a reader thread that forwards every answer
/// (the channel closes when the connection does).
pub fn connect(
    addr: SocketAddr,
    host: &str,
    product: &str,
) -> (TcpStream, mpsc::Receiver<RawMessage>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(&raw::cer(host, product)).expect("CER");
    let cea = raw::read_message(&mut s).expect("CEA");
    assert_eq!(result_code(&cea), Some(2001), "CER refused");
    s.set_read_timeout(None).ok();
    let mut r = s.try_clone().expect("clone");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Some(m) = raw::read_message(&mut r) {
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

/// What two answers to one request must share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub result_code: u32,
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
                    s.service_identifier.to_vec(),
                    s.result_code,
                    g.and_then(|g| g.cc_total_octets),
                    g.and_then(|g| g.cc_service_specific_units),
                )
            })
            .collect(),
    }
}

/// A request sent (or to send) and what became of it.
pub struct Req {
    bytes: Bytes,
    /// The store's request key (Session-Id|CC-Request-Type|CC-Request-Number|Origin-Host).
    pub key: String,
    pub subscriber: String,
    /// What this request debits from the account.
    pub debit: i64,
    flow: usize,
    pub answer: Option<Answer>,
}

struct Flow {
    steps: Vec<usize>,
    next: usize,
}

/// One client connection and everything it sent.
pub struct Client {
    cfg: LoadConfig,
    host: String,
    pub reqs: Vec<Req>,
    flows: Vec<Flow>,
    /// Hop-by-Hop → (request, whether it is a replay of an answered request).
    pub outstanding: HashMap<u32, (usize, bool)>,
    next_hbh: u32,
    pub retransmissions: u64,
    pub replays_checked: u64,
    /// Answers received by [`Client::load`].
    pub answered: u64,
}

impl Client {
    /// Client `n` (Origin-Host `pgw{n}.example.net`).
    pub fn new(n: usize, cfg: LoadConfig) -> Client {
        Client {
            cfg,
            host: format!("pgw{n}.example.net"),
            reqs: Vec::new(),
            flows: Vec::new(),
            outstanding: HashMap::new(),
            next_hbh: (n as u32 + 1) << 24,
            retransmissions: 0,
            replays_checked: 0,
            answered: 0,
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

    /// A new flow: a Gy session (four requests) or an SMS direct debit.
    fn new_flow(&mut self) -> usize {
        let f = self.flows.len();
        let session = format!("{};{};{f}", self.host, self.cfg.tag);
        let who = format!(
            "4670{:07}",
            (f as u64 * 7 + self.host.len() as u64) % self.cfg.subscribers
        );
        let mut steps = Vec::new();
        if self.cfg.sms_every.is_some_and(|n| f % n == n - 1) {
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
                c.subscription_id = vec![ccr::msisdn(&who)].into();
                c.multiple_services_credit_control = vec![ccr::data_mscc(100, ask, used)].into();
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

    /// Runs flows until the connection breaks (the server is killed), `stop` is set, or
    /// the deadline.
    pub fn load(
        &mut self,
        addr: SocketAddr,
        answered: &AtomicU64,
        stop: &AtomicBool,
        deadline: Instant,
    ) {
        let (mut s, rx) = connect(addr, &self.host.clone(), self.cfg.tag);
        for _ in 0..self.cfg.in_flight {
            let f = self.new_flow();
            if !self.send_next(&mut s, f) {
                return;
            }
        }
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            let m = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            match self.on_answer(&mut s, &m) {
                Ok(Some(flow)) => {
                    answered.fetch_add(1, Ordering::Relaxed);
                    self.answered += 1;
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
    pub fn finish(&mut self, addr: SocketAddr) {
        let (mut s, rx) = connect(addr, &self.host.clone(), self.cfg.tag);
        let pending: Vec<usize> = self.outstanding.drain().map(|(_, (r, _))| r).collect();
        for req in pending {
            self.retransmissions += 1;
            assert!(self.retransmit(&mut s, req, false), "send");
        }
        let answered: Vec<usize> = (0..self.reqs.len())
            .filter(|&r| self.reqs[r].answer.is_some())
            .collect();
        for &req in answered.iter().rev().take(self.cfg.replays) {
            assert!(self.retransmit(&mut s, req, true), "send");
        }
        let end = Instant::now() + self.cfg.finish_within;
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

/// Checks every request against the store's rows: answered, one saved outcome, one ledger
/// row of its debit (none when it debits nothing), no saved outcome or ledger row of an
/// unknown request. `ledger`: request key → (kind, amount) rows; `saved`: the saved keys.
/// Returns what each subscriber's account must have been debited.
pub fn check_requests(
    clients: &[Client],
    ledger: &HashMap<String, Vec<(String, i64)>>,
    saved: &HashSet<String>,
) -> HashMap<String, i64> {
    let mut expected: HashMap<String, i64> = HashMap::new();
    let mut keys = HashSet::new();
    for c in clients {
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
    expected
}

/// Checks one account after the run: not negative, nothing reserved, its ledger debits as
/// expected, and its balance the opening balance minus them.
pub fn check_account(who: &str, opening: i64, expected_debits: i64, row: (i64, i64, i64)) {
    let (balance, reserved, ledger_debits) = row;
    assert!(balance >= 0, "{who}: balance {balance}");
    assert_eq!(reserved, 0, "{who}: reservation left");
    assert_eq!(ledger_debits, expected_debits, "{who}: ledger debits");
    assert_eq!(
        balance,
        opening - expected_debits,
        "{who}: balance vs ledger"
    );
}
