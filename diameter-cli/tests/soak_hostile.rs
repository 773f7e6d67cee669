//! Soak: hostile peers attack `diameter serve ocs` together, for a bounded time, while a
//! well-behaved charging client runs Gy sessions. The server's peak memory stays under a
//! stated bound, the good client gets every answer, the attackers get nothing of value, and
//! the ledger reconciles with the balances afterwards (nothing charged twice, nothing
//! minted, no balance below zero).
//!
//! Attackers, each on its own thread and loopback connections:
//! - three listed peers that send requests and never read (and reconnect when dropped);
//! - a listed peer flooding CCRs of 131,000 empty Multiple-Services-Credit-Control AVPs;
//! - a listed peer flooding 1 MB requests with the T flag (the duplicate cache);
//! - unlisted peers with made-up Origin-Hosts;
//! - a listed peer without the refund right sending REFUND_ACCOUNT on the victim;
//! - a slow drip: a header, then one byte a second.
//!
//! `SOAK_SECS` sets the length (default 60 s).

#![allow(clippy::useless_conversion)]

#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;
#[path = "cli_support/process.rs"]
mod process;

use bytes::Bytes;
use diameter::dict::dcca_rfc4006::*;
use diameter_core::fields::result_code;
use diameter_core::traits::Command;
use diameter_core::CommandFlags;
use ocs_common::ccr;
use ocs_common::raw::read_message;
use process::ServerProcess;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The bound on the server's peak resident memory (VmHWM).
const RSS_BOUND_KB: u64 = 200 * 1024;
const GOOD: &str = "pgw.example.net";
const VICTIM: &str = "46700000001";
/// The subscriber the attackers charge their own traffic to.
const ATTACKER: &str = "46700000666";

/// Starts the server on a port of its own choosing, its standard error in `dir/server.log`.
fn start_server(dir: &Path) -> ServerProcess {
    std::fs::write(dir.join("tariffs.toml"), ccr::TARIFFS).expect("tariffs");
    let mut config = format!(
        "listen = \"127.0.0.1:0\"\norigin_host = \"ocs.example.net\"\n\
         origin_realm = \"example.net\"\nstore = \"sqlite://{}\"\ntariffs = \"{}\"\n\
         auto_provision = 1000000000\n\n[[peers]]\nhost = \"{GOOD}\"\n",
        dir.join("ocs.db").display(),
        dir.join("tariffs.toml").display(),
    );
    for i in 1..=6 {
        config.push_str(&format!("\n[[peers]]\nhost = \"evil{i}.example.net\"\n"));
    }
    let file = dir.join("ocs.toml");
    std::fs::write(&file, config).expect("config");
    let file = file.to_str().expect("utf-8 path");
    let log = dir.join("server.log");
    ServerProcess::start(
        &["serve", "ocs", "--config", file],
        Some("error"),
        Some(&log),
    )
}

/// Connects and exchanges capabilities; `None` when the server refuses (the CEA's code).
fn connect(addr: SocketAddr, host: &str) -> Result<TcpStream, u32> {
    let mut s = TcpStream::connect(addr).map_err(|_| 0u32)?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(2))).ok();
    s.write_all(&ocs_common::raw::cer(host, "soak"))
        .map_err(|_| 0u32)?;
    let cea = read_message(&mut s).ok_or(0u32)?;
    match result_code(&cea) {
        Some(2001) => Ok(s),
        other => Err(other.unwrap_or(0)),
    }
}

fn ccr_bytes(c: &Ccr, hbh: u32, flags: u8) -> Bytes {
    let mut m = c.to_message(4, hbh, hbh);
    m.header.flags |= flags;
    m.to_bytes()
}

/// A Gy data session from `host`: the CCR with its Origin-Host set.
fn session_ccr(host: &str, session: &str, kind: CcRequestType, n: u32) -> Ccr {
    let mut c = ccr::base(session, kind, n, ccr::GY);
    c.origin_host = host.into();
    c.subscription_id = vec![ccr::msisdn(if host == GOOD { VICTIM } else { ATTACKER })].into();
    c
}

#[derive(Default)]
struct GoodStats {
    sessions: AtomicU64,
    answers: AtomicU64,
    lost: AtomicU64,
    bad_codes: AtomicU64,
}

/// The well-behaved client: sessions of CCR-I (1 MB asked), CCR-U (1 MB used, 1 MB
/// asked), CCR-T (0.5 MB used), each answer awaited before the next request.
fn good_client(addr: SocketAddr, stop: Arc<AtomicBool>, stats: Arc<GoodStats>) {
    let mut s = connect(addr, GOOD).expect("the listed client is admitted");
    let mut hbh = 100u32;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let session = format!("{GOOD};soak;{n}");
        let steps = [
            (CcRequestType::InitialRequest, Some(1_000_000), None),
            (
                CcRequestType::UpdateRequest,
                Some(1_000_000),
                Some(1_000_000),
            ),
            (CcRequestType::TerminationRequest, None, Some(500_000)),
        ];
        for (i, (kind, ask, used)) in steps.into_iter().enumerate() {
            let mut c = session_ccr(GOOD, &session, kind, i as u32);
            c.multiple_services_credit_control = vec![ccr::data_mscc(100, ask, used)].into();
            hbh += 1;
            if s.write_all(&ccr_bytes(&c, hbh, 0)).is_err() {
                stats.lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
            match read_message(&mut s) {
                Some(a) if a.header.hop_by_hop == hbh => {
                    stats.answers.fetch_add(1, Ordering::Relaxed);
                    if result_code(&a) != Some(2001) {
                        stats.bad_codes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        stats.sessions.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends requests and never reads; reconnects when the server drops it.
fn non_reader(addr: SocketAddr, host: &'static str, stop: Arc<AtomicBool>) {
    let mut c = session_ccr(host, "x", CcRequestType::EventRequest, 0);
    c.session_id = format!("{host};never-reads").into();
    c.requested_action = Some(RequestedAction::DirectDebiting);
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect(addr, host) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let mut hbh = 1u32;
        while !stop.load(Ordering::Relaxed) {
            hbh += 1;
            if s.write_all(&ccr_bytes(&c, hbh, 0)).is_err() {
                break; // blocked for 2 s, or closed by the server
            }
        }
    }
}

/// CCR-EVENTs carrying 131,000 empty Multiple-Services-Credit-Control AVPs.
fn repeated_avp_flood(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    charged: Arc<AtomicU64>,
) {
    let host = "evil4.example.net";
    let mut hbh = 1u32;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect(addr, host) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            hbh += 1;
            let mut c = session_ccr(
                host,
                &format!("{host};flood;{hbh}"),
                CcRequestType::EventRequest,
                0,
            );
            c.requested_action = Some(RequestedAction::DirectDebiting);
            let mut m = c.to_message(4, hbh, hbh);
            let empty = [0u8, 0, 1, 200, 0x40, 0, 0, 8]; // code 456, M flag, length 8
            let mut body = m.body.to_vec();
            for _ in 0..131_000 {
                body.extend_from_slice(&empty);
            }
            m.body = Bytes::from(body);
            m.header.length = (20 + m.body.len()) as u32;
            if s.write_all(&m.to_bytes()).is_err() {
                break;
            }
            match read_message(&mut s) {
                Some(a) => {
                    if result_code(&a) == Some(2001) {
                        charged.fetch_add(1, Ordering::Relaxed);
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }
}

/// 1 MB requests with the T flag and distinct End-to-End ids: each is a new entry for the
/// duplicate cache.
fn duplicate_flood(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let host = "evil5.example.net";
    let mut hbh = 1u32;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect(addr, host) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            hbh += 1;
            let mut c = session_ccr(
                host,
                &format!("{host};dup;{hbh}"),
                CcRequestType::EventRequest,
                0,
            );
            c.requested_action = Some(RequestedAction::CheckBalance);
            let mut m = c.to_message(4, hbh, hbh);
            m.header.flags |= CommandFlags::RETRANSMIT;
            // An unknown optional AVP of 1,000,000 bytes (code 99999, no M flag).
            let mut body = m.body.to_vec();
            let len = 8 + 1_000_000u32;
            body.extend_from_slice(&99_999u32.to_be_bytes());
            body.extend_from_slice(&len.to_be_bytes()); // flags byte 0: none
            body.resize(body.len() + 1_000_000, 0x5a);
            m.body = Bytes::from(body);
            m.header.length = (20 + m.body.len()) as u32;
            if s.write_all(&m.to_bytes()).is_err() || read_message(&mut s).is_none() {
                break;
            }
        }
    }
}

/// Unlisted peers with made-up identities: every CER is refused.
fn impostors(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    admitted: Arc<AtomicU64>,
) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        match connect(addr, &format!("made-up-{i}.attacker.example")) {
            Ok(_) => {
                admitted.fetch_add(1, Ordering::Relaxed);
            }
            Err(code) => {
                if code == 3010 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// REFUND_ACCOUNT of a huge amount on the victim from a peer without the right.
fn refunder(addr: SocketAddr, stop: Arc<AtomicBool>, granted: Arc<AtomicU64>) {
    let host = "evil6.example.net";
    let mut hbh = 1u32;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect(addr, host) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            hbh += 1;
            let mut c = ccr::sms_event(
                &format!("{host};refund;{hbh}"),
                VICTIM,
                RequestedAction::RefundAccount,
            );
            c.origin_host = host.into();
            c.multiple_services_credit_control[0].requested_service_unit = Some(
                RequestedServiceUnit {
                    cc_service_specific_units: Some(1_000_000_000_000),
                    ..Default::default()
                }
                .into(),
            );
            if s.write_all(&ccr_bytes(&c, hbh, 0)).is_err() {
                break;
            }
            match read_message(&mut s) {
                Some(a) if result_code(&a) == Some(2001) => {
                    granted.fetch_add(1, Ordering::Relaxed);
                }
                Some(_) => {}
                None => break,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A header, then one byte a second, on fresh connections.
fn slow_drip(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let cer = ocs_common::raw::cer("evil1.example.net", "soak");
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        s.set_write_timeout(Some(Duration::from_secs(2))).ok();
        for b in cer.iter() {
            if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
    }
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_peers_together_leave_the_server_bounded_and_the_money_exact() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(dir.path());
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(GoodStats::default());
    let flood_answers = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let impostors_admitted = Arc::new(AtomicU64::new(0));
    let flood_charged = Arc::new(AtomicU64::new(0));
    let refunds_granted = Arc::new(AtomicU64::new(0));

    let mut threads = Vec::new();
    let spawn = |threads: &mut Vec<std::thread::JoinHandle<()>>, f: Box<dyn FnOnce() + Send>| {
        threads.push(std::thread::spawn(f));
    };
    for host in [
        "evil1.example.net",
        "evil2.example.net",
        "evil3.example.net",
    ] {
        let stop = stop.clone();
        spawn(&mut threads, Box::new(move || non_reader(addr, host, stop)));
    }
    {
        let (stop, n, c) = (stop.clone(), flood_answers.clone(), flood_charged.clone());
        spawn(
            &mut threads,
            Box::new(move || repeated_avp_flood(addr, stop, n, c)),
        );
    }
    {
        let stop = stop.clone();
        spawn(&mut threads, Box::new(move || duplicate_flood(addr, stop)));
    }
    {
        let (stop, n, a) = (stop.clone(), refused.clone(), impostors_admitted.clone());
        spawn(&mut threads, Box::new(move || impostors(addr, stop, n, a)));
    }
    {
        let (stop, n) = (stop.clone(), refunds_granted.clone());
        spawn(&mut threads, Box::new(move || refunder(addr, stop, n)));
    }
    {
        let stop = stop.clone();
        spawn(&mut threads, Box::new(move || slow_drip(addr, stop)));
    }
    // The good client starts once the attack is under way.
    std::thread::sleep(Duration::from_secs(2));
    let good_thread = {
        let (stop, stats) = (stop.clone(), good.clone());
        std::thread::spawn(move || good_client(addr, stop, stats))
    };
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    if good_thread.join().is_err() {
        panic!("the good client failed; {}", server.report());
    }
    let rss = peak_rss_kb(server.pid());
    for t in threads {
        t.join().expect("attacker thread");
    }
    drop(server);

    let sessions = good.sessions.load(Ordering::Relaxed);
    eprintln!(
        "soak {secs}s: {sessions} good sessions, {} answers, peak RSS {} MB, {} flood CCRs \
         answered, {} impostors refused",
        good.answers.load(Ordering::Relaxed),
        rss / 1024,
        flood_answers.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    assert_eq!(
        good.lost.load(Ordering::Relaxed),
        0,
        "the good client lost an answer"
    );
    assert_eq!(
        good.bad_codes.load(Ordering::Relaxed),
        0,
        "the good client was refused"
    );
    assert!(sessions > 0, "the good client completed no session");
    assert!(
        rss > 0 && rss < RSS_BOUND_KB,
        "peak RSS {rss} kB over the bound"
    );
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "no impostor was refused with 3010"
    );
    assert_eq!(
        refunds_granted.load(Ordering::Relaxed),
        0,
        "a refund without right was granted"
    );

    // The ledger reconciles: the victim paid exactly the good sessions' usage (1.5 MB
    // each at 10 per started MB: 2 blocks = 20), no reservation is left, nothing minted.
    // The server was killed: opening the store replays its journal into the SQLite file.
    let url = format!("sqlite://{}", dir.path().join("ocs.db").display());
    drop(diameter_apps::ocs::store::open(&url).expect("recover the store"));
    let db = rusqlite::Connection::open(dir.path().join("ocs.db")).expect("open store");
    let (balance, reserved): (i64, i64) = db
        .query_row(
            "SELECT a.balance, a.reserved FROM accounts a JOIN subscription_ids s
             ON s.account_id = a.id WHERE s.id_data = ?1",
            [VICTIM],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("victim account");
    let sum = |kind: &str| -> i64 {
        db.query_row(
            "SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN subscription_ids s
             ON s.account_id = l.account_id WHERE s.id_data = ?1 AND l.kind = ?2",
            [VICTIM, kind],
            |r| r.get(0),
        )
        .expect("ledger")
    };
    let (debits, refunds) = (sum("debit"), sum("refund"));
    assert_eq!(refunds, 0, "a refund reached the victim's ledger");
    assert_eq!(reserved, 0, "reservations left after every session ended");
    assert_eq!(
        debits,
        20 * sessions as i64,
        "charged {debits} for {sessions} sessions"
    );
    assert_eq!(
        balance,
        1_000_000_000 - debits,
        "balance does not reconcile with the ledger"
    );
    // Every account: never below zero, and its balance is what its ledger says.
    let mut rows = db
        .prepare(
            "SELECT a.id, a.balance, a.reserved, COALESCE(SUM(CASE l.kind
                 WHEN 'debit' THEN -l.amount ELSE l.amount END), 0)
             FROM accounts a LEFT JOIN ledger l ON l.account_id = a.id GROUP BY a.id",
        )
        .expect("query");
    let accounts: Vec<(i64, i64, i64, i64)> = rows
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("accounts")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(!accounts.is_empty());
    for (id, balance, reserved, ledger) in accounts {
        assert!(
            balance >= 0 && reserved >= 0,
            "account {id}: {balance} / {reserved}"
        );
        // Every account here was auto-provisioned with 1,000,000,000 (no ledger entry).
        assert_eq!(
            balance,
            1_000_000_000 + ledger,
            "account {id}: balance {balance}, ledger {ledger}"
        );
    }
}
