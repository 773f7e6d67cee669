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

#[path = "cli_support/gy_load.rs"]
mod gy_load;
#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;
#[path = "cli_support/process.rs"]
mod process;

use gy_load::{check_account, check_requests, join_clients, Client, LoadConfig};
use process::ServerProcess;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPENING: i64 = 1_000_000_000;
const CONNECTIONS: usize = 3;
/// 32 requests in flight per connection on 20 subscribers; every fourth flow an SMS; 100
/// answered requests re-sent after the restart (per connection) to compare the answers.
const LOAD: LoadConfig = LoadConfig {
    tag: "crash",
    subscribers: 20,
    in_flight: 32,
    replays: 100,
    finish_within: Duration::from_secs(15),
    sms_every: Some(4),
};

/// The store in `dir`: its journal next to the database, or in a directory of its own.
fn store_url(dir: &Path, journal_dir: bool) -> String {
    let url = format!("sqlite://{}", dir.join("ocs.db").display());
    if journal_dir {
        format!("{url}?journal_dir={}", dir.join("journal").display())
    } else {
        url
    }
}

/// Opens and closes the store in `dir` after a SIGKILL: the engine replays its journal
/// into the SQLite file, which is then complete for reading.
fn recover(dir: &Path, journal_dir: bool) {
    let url = store_url(dir, journal_dir);
    drop(diameter_apps::ocs::store::open(&url).expect("recover the store"));
}

/// Starts the server (`ocs.example.net`) on the store in `dir`.
fn start_server(dir: &Path, journal_dir: bool, run: u32) -> ServerProcess {
    gy_load::start_ocs(dir, "ocs", &store_url(dir, journal_dir), OPENING, run)
}

#[test]
fn sigkill_mid_run_then_retransmissions_charge_exactly_once() {
    crash_run(false);
}

/// The same with the journal in a directory of its own (`?journal_dir=`).
#[test]
fn sigkill_mid_run_with_the_journal_in_its_own_directory() {
    crash_run(true);
}

fn crash_run(journal_dir: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(dir.path(), journal_dir, 1);
    let addr = server.addr();
    let answered = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(15);
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let answered = answered.clone();
            std::thread::spawn(move || {
                let mut c = Client::new(n, LOAD);
                c.load(addr, &answered, &AtomicBool::new(false), deadline);
                c
            })
        })
        .collect();
    // Kill once the run is well under way.
    let start = Instant::now();
    while answered.load(Ordering::Relaxed) < 600 && start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = server.report();
    server.kill();
    let segments = |d: &Path| {
        std::fs::read_dir(d)
            .map(|entries| {
                entries
                    .filter(|e| {
                        let name = e.as_ref().expect("entry").file_name();
                        name.to_string_lossy().starts_with("ocs.db.journal.0")
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    let (beside, apart) = (segments(dir.path()), segments(&dir.path().join("journal")));
    if journal_dir {
        assert!(
            beside == 0 && apart > 0,
            "segments: {beside} beside, {apart} apart"
        );
    } else {
        assert!(
            beside > 0 && apart == 0,
            "segments: {beside} beside, {apart} apart"
        );
    }
    let mut clients = join_clients(threads, || format!("before the SIGKILL: {report}"));
    let before: u64 = clients.iter().map(|c| c.answered).sum();
    let unanswered: usize = clients.iter().map(|c| c.outstanding.len()).sum();
    assert!(before > 0, "nothing answered before the kill");
    assert!(unanswered > 0, "nothing in flight at the kill");
    // In-flight requests whose charge was already committed when the server died: their
    // retransmissions must get the saved answer and charge nothing more.
    let committed_unanswered = {
        recover(dir.path(), journal_dir);
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

    // The restarted server listens on a new port; the clients are known by Origin-Host.
    let mut server = start_server(dir.path(), journal_dir, 2);
    let addr = server.addr();
    let threads: Vec<_> = clients
        .drain(..)
        .map(|mut c| {
            std::thread::spawn(move || {
                c.finish(addr);
                c
            })
        })
        .collect();
    let clients = join_clients(threads, || {
        format!("after the restart: {}", server.report())
    });
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
    recover(dir.path(), journal_dir);
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
    let expected = check_requests(&clients, &ledger, &saved);
    for (who, debits) in &expected {
        let row = db
            .query_row(
                "SELECT a.balance, a.reserved, (SELECT COALESCE(SUM(amount), 0) FROM ledger l
                 WHERE l.account_id = a.id AND l.kind = 'debit')
                 FROM accounts a JOIN subscription_ids s ON s.account_id = a.id
                 WHERE s.id_data = ?1",
                [who],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("account");
        check_account(who, OPENING, *debits, row);
    }
    // The ledger sums each account row carries (what opening the store reads) are its
    // lines' sums, and they cover every line.
    let sum = |kinds: &str| {
        format!(
            "(SELECT COALESCE(SUM(amount), 0) FROM ledger l WHERE l.account_id = a.id AND {kinds})"
        )
    };
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let wrong_sums = count(&format!(
        "SELECT COUNT(*) FROM accounts a WHERE a.debited != {} OR a.refunded != {} \
         OR a.adjusted != {}",
        sum("l.kind = 'debit'"),
        sum("l.kind = 'refund'"),
        sum("l.kind NOT IN ('debit', 'refund')")
    ));
    assert_eq!(
        wrong_sums, 0,
        "accounts whose ledger sums differ from their lines"
    );
    let unfolded =
        count("SELECT COUNT(*) FROM ledger WHERE id > (SELECT last_line FROM ledger_folded)");
    assert_eq!(unfolded, 0, "ledger lines past the folded mark");
    let left =
        count("SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM reservations)");
    assert_eq!(left, 0, "sessions or reservations left");
}
