//! Two OCS instances on one PostgreSQL: many concurrent sessions on the same accounts.

#[path = "cli_support/gy_load.rs"]
mod gy_load;
#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;
#[path = "cli_support/process.rs"]
mod process;

use diameter_apps::ocs::store::{
    AccountId, Batch, IdKind, NewAccount, Op, PgStore, Store, SubscriberId,
};
use std::sync::Arc;

#[test]
fn pg_store_concurrent_batches_never_overdraw() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let a: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url, 4).unwrap());
    let b: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url, 4).unwrap());
    let id = a
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "1")],
            10_000,
            978,
        ))
        .unwrap();
    let mut handles = Vec::new();
    for t in 0..8 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        handles.push(std::thread::spawn(move || {
            let mut debited = 0;
            for i in 0..40 {
                let s = format!("t{t}-{i}");
                let mut bt = Batch::new(id, Some(s.clone()));
                bt.key = Some(format!("{s}/1"));
                bt.ops = vec![
                    Op::OpenSession { expires_at: 1 },
                    Op::Reserve {
                        rating_group: Some(1),
                        want: 100,
                        block: 10,
                    },
                ];
                store.apply(&bt, 0).unwrap();
                let mut bt = Batch::new(id, Some(s.clone()));
                bt.key = Some(format!("{s}/2"));
                bt.ops = vec![
                    Op::Settle {
                        rating_group: Some(1),
                        used_cost: 70,
                    },
                    Op::CloseSession,
                ];
                debited += store.apply(&bt, 0).unwrap().results[0];
                // the same request again: charged once
                assert!(store.apply(&bt, 0).unwrap().replayed);
            }
            debited
        }));
    }
    let debited: i64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let acc = a.account(id).unwrap().unwrap();
    assert_eq!(acc.reserved, 0);
    assert!(acc.balance >= 0);
    assert_eq!(10_000 - acc.balance, debited);
    assert_eq!(a.ledger_totals(id).unwrap().debits, debited);
}

/// Two OCS instances (two `ChargingServer`s, each with its own connection pool) on one
/// PostgreSQL; 8 threads run Gy sessions (I, U, U, T, with a retransmitted U) on 3 shared
/// accounts that cannot fund them all.
#[test]
fn two_ocs_nodes_share_accounts_without_overdraft() {
    use diameter::dict::dcca_rfc4006::CcRequestType;
    use diameter_apps::ocs::rating::Tariffs;
    use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
    use ocs_common::ccr::*;
    use std::time::SystemTime;

    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let node = |name: &str| {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url, 4).unwrap());
        let cfg = ServerConfig::new(name, "example.net");
        Arc::new(ChargingServer::new(
            store,
            Tariffs::parse(TARIFFS).unwrap(),
            cfg,
        ))
    };
    let (a, b) = (node("ocs1"), node("ocs2"));
    let users = ["4911", "4912", "4913"];
    let mut ids = Vec::new();
    for u in users {
        let acc = NewAccount::new(vec![SubscriberId::new(IdKind::E164, u)], 2_000, 978);
        ids.push(a.store().add_account(&acc).unwrap());
    }
    let mut handles = Vec::new();
    for t in 0..8 {
        let (a, b) = (a.clone(), b.clone());
        handles.push(std::thread::spawn(move || {
            for i in 0..15 {
                let user = users[(t + i) % users.len()];
                let s = format!("pgw;{t};{i}");
                // Alternate nodes within one session, as after a failover.
                let ocs = |n: u32| {
                    if (n + t as u32).is_multiple_of(2) {
                        &a
                    } else {
                        &b
                    }
                };
                let mut c = base(&s, CcRequestType::InitialRequest, 0, GY);
                c.subscription_id = vec![msisdn(user)].into();
                c.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
                ocs(0).handle_ccr(c, SystemTime::now());
                for n in 1..3 {
                    let mut u = base(&s, CcRequestType::UpdateRequest, n, GY);
                    u.multiple_services_credit_control =
                        vec![data_mscc(100, Some(0), Some(4_000_000))].into();
                    let first = ocs(n).handle_ccr(u.clone(), SystemTime::now());
                    let again = ocs(n + 1).handle_ccr(u, SystemTime::now());
                    // The other node answers the retransmission with the same grant (its own
                    // Origin-Host aside).
                    assert_eq!(first.result_code, again.result_code);
                    assert_eq!(
                        first.multiple_services_credit_control,
                        again.multiple_services_credit_control,
                        "retransmission answered the same"
                    );
                }
                let mut c = base(&s, CcRequestType::TerminationRequest, 3, GY);
                c.multiple_services_credit_control =
                    vec![data_mscc(100, None, Some(3_000_000))].into();
                ocs(3).handle_ccr(c, SystemTime::now());
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let mut total_debits = 0;
    for id in ids {
        let acc = b.store().account(id).unwrap().unwrap();
        assert_eq!(acc.reserved, 0, "all reservations released");
        assert!(acc.balance >= 0);
        let debits = b.store().ledger_totals(id).unwrap().debits;
        assert_eq!(
            2_000 - acc.balance,
            debits,
            "debits equal the balance change"
        );
        total_debits += debits;
    }
    // 120 sessions wanting 110 each exceed the 6000 available: some ran dry.
    assert!(total_debits > 0 && total_debits <= 6_000);
}

/// `Store::totals` (the OCS's gauges) on PostgreSQL: open sessions and reserved amount.
#[test]
fn pg_store_totals_count_sessions_and_reservations() {
    use diameter_apps::ocs::store::StoreTotals;
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let store = PgStore::connect(&pg.url, 1).unwrap();
    let id = store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "2")],
            1_000,
            978,
        ))
        .unwrap();
    for (s, want) in [("a", 300), ("b", 50)] {
        let mut bt = Batch::new(id, Some(s.into()));
        bt.ops = vec![
            Op::OpenSession { expires_at: 1 },
            Op::Reserve {
                rating_group: Some(1),
                want,
                block: 10,
            },
        ];
        store.apply(&bt, 0).unwrap();
    }
    assert_eq!(
        store.totals().unwrap(),
        StoreTotals {
            open_sessions: 2,
            reserved: 350,
            keys_in_memory_since_ms: None,
        }
    );
    let mut bt = Batch::new(id, Some("a".into()));
    bt.ops = vec![
        Op::Settle {
            rating_group: Some(1),
            used_cost: 100,
        },
        Op::CloseSession,
    ];
    store.apply(&bt, 0).unwrap();
    assert_eq!(
        store.totals().unwrap(),
        StoreTotals {
            open_sessions: 1,
            reserved: 50,
            keys_in_memory_since_ms: None,
        }
    );
}

/// Two `diameter serve ocs` processes on one PostgreSQL, loaded at once (Gy sessions on
/// shared accounts); one is SIGKILLed mid-load and restarted, its client retransmits what
/// had no answer (see `ocs_crash.rs` for the SQLite version), then everything reconciles.
mod two_nodes {
    use super::gy_load::{check_account, check_requests, join_clients, Client, LoadConfig};
    use super::ocs_common;
    use super::process::ServerProcess;
    use std::collections::{HashMap, HashSet};
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const OPENING: i64 = 1_000_000_000;
    /// Gy sessions only, 32 in flight per connection on 10 shared subscribers; 50 answered
    /// requests re-sent after the restart.
    const LOAD: LoadConfig = LoadConfig {
        tag: "pgcrash",
        subscribers: 10,
        in_flight: 32,
        replays: 50,
        finish_within: Duration::from_secs(30),
        sms_every: None,
    };

    /// Starts `diameter serve ocs` as `NAME.example.net` on the PostgreSQL store `url`.
    pub fn start_server(dir: &Path, name: &str, url: &str, run: u32) -> ServerProcess {
        super::gy_load::start_ocs(dir, name, url, OPENING, run)
    }

    /// Every request reflected exactly once, balances = opening - ledger debits, never
    /// negative, nothing reserved or open.
    pub fn reconcile(url: &str, clients: &[Client]) {
        let mut db = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        let mut ledger: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for r in db
            .query("SELECT request_key, kind, amount FROM ledger", &[])
            .expect("ledger")
        {
            let key: Option<String> = r.get(0);
            let key = key.expect("every ledger row of a request has its key");
            ledger.entry(key).or_default().push((r.get(1), r.get(2)));
        }
        let saved: HashSet<String> = db
            .query("SELECT request_key FROM requests", &[])
            .expect("requests")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let expected = check_requests(clients, &ledger, &saved);
        for (who, debits) in &expected {
            let row = db
                .query_one(
                    "SELECT a.balance, a.reserved, (SELECT COALESCE(SUM(amount), 0)::BIGINT \
                     FROM ledger l WHERE l.account_id = a.id AND l.kind = 'debit') \
                     FROM accounts a JOIN subscription_ids s ON s.account_id = a.id \
                     WHERE s.id_data = $1",
                    &[who],
                )
                .expect("account");
            check_account(who, OPENING, *debits, (row.get(0), row.get(1), row.get(2)));
        }
        let left: i64 = db
            .query_one(
                "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM reservations)",
                &[],
            )
            .expect("count")
            .get(0);
        assert_eq!(left, 0, "sessions or reservations left");
    }

    #[test]
    fn two_nodes_one_killed_mid_load_reconcile() {
        let Some(pg) = ocs_common::PgCluster::start() else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = start_server(dir.path(), "ocs1", &pg.uri(), 1);
        let mut b = start_server(dir.path(), "ocs2", &pg.uri(), 1);
        let mut addrs: Vec<SocketAddr> = vec![a.addr(), b.addr()];
        let answered = Arc::new(AtomicU64::new(0));
        let stop_b = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + Duration::from_secs(20);
        let threads: Vec<_> = (0..2)
            .map(|n| {
                let (answered, stop) = (answered.clone(), stop_b.clone());
                let addr = addrs[n];
                std::thread::spawn(move || {
                    let mut c = Client::new(n, LOAD);
                    let none = AtomicBool::new(false);
                    c.load(
                        addr,
                        &answered,
                        if n == 1 { &stop } else { &none },
                        deadline,
                    );
                    c
                })
            })
            .collect();
        let start = Instant::now();
        while answered.load(Ordering::Relaxed) < 1000 && start.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let report = a.report();
        a.kill();
        // Node 2 goes on charging the shared accounts for a while.
        let at_kill = answered.load(Ordering::Relaxed);
        let end = Instant::now() + Duration::from_secs(5);
        while answered.load(Ordering::Relaxed) < at_kill + 500 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop_b.store(true, Ordering::Relaxed);
        let mut clients = join_clients(threads, || {
            format!("before the SIGKILL: ocs1: {report}; ocs2: {}", b.report())
        });
        let (before, unanswered) = (clients[0].answered, clients[0].outstanding.len());
        assert!(before > 0 && clients[1].answered > 0, "both nodes answered");
        assert!(unanswered > 0, "nothing in flight at the kill");
        // Node 1 restarts on a new port; the clients are known by Origin-Host.
        let mut a = start_server(dir.path(), "ocs1", &pg.uri(), 2);
        addrs[0] = a.addr();
        let threads: Vec<_> = clients
            .drain(..)
            .enumerate()
            .map(|(n, mut c)| {
                let addr = addrs[n];
                std::thread::spawn(move || {
                    c.finish(addr);
                    c
                })
            })
            .collect();
        let clients = join_clients(threads, || {
            format!(
                "after the restart: ocs1: {}; ocs2: {}",
                a.report(),
                b.report()
            )
        });
        drop((a, b));
        let replays: u64 = clients.iter().map(|c| c.replays_checked).sum();
        let requests: usize = clients.iter().map(|c| c.reqs.len()).sum();
        eprintln!(
            "pg crash: {requests} requests, node 1 answered {before} before the SIGKILL with \
             {unanswered} in flight, node 2 answered {}, {replays} answers compared",
            clients[1].answered
        );
        assert!(replays > 0);
        reconcile(&pg.url, &clients);
    }
}

/// The Tcc sweep on PostgreSQL: 20,000 abandoned sessions released in seconds (index on the
/// deadline, batches), a session that cannot be closed skipped without stopping the sweep.
#[test]
fn pg_tcc_sweep_releases_abandoned_sessions_quickly() {
    use diameter::dict::dcca_rfc4006::CcRequestType;
    use diameter_apps::ocs::rating::Tariffs;
    use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
    use ocs_common::ccr::*;
    use std::time::{Duration, Instant, SystemTime};
    const N: i64 = 20_000;

    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url, 4).unwrap());
    let mut ids = Vec::new();
    for who in ["4915", "4916"] {
        let acc = NewAccount::new(vec![SubscriberId::new(IdKind::E164, who)], 1_000_000, 978);
        ids.push(store.add_account(&acc).unwrap());
    }
    let (alice, bob) = (ids[0], ids[1]);
    // N expired sessions holding 1 each, half on each account, and one whose reservation
    // its account does not hold (releasing it would take `reserved` below zero).
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    db.execute(
        "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
         SELECT 'pgw;sweep;' || i, CASE WHEN i % 2 = 0 THEN $1::BIGINT ELSE $2::BIGINT END, 1000 + i, 0,
                'pgw.example.net'
         FROM generate_series(0, $3::BIGINT - 1) AS i",
        &[&alice, &bob, &N],
    )
    .unwrap();
    db.execute(
        "INSERT INTO reservations (session_id, rating_group, account_id, amount)
         SELECT session_id, 100, account_id, 1 FROM sessions",
        &[],
    )
    .unwrap();
    db.execute(
        "UPDATE accounts SET reserved = $1 WHERE id IN ($2, $3)",
        &[&(N / 2), &alice, &bob],
    )
    .unwrap();
    db.execute(
        "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
         VALUES ('pgw;poisoned', $1, $2, 0, 'pgw.example.net')",
        &[&alice, &(1_000 + N / 2)],
    )
    .unwrap();
    db.execute(
        "INSERT INTO reservations (session_id, rating_group, account_id, amount)
         VALUES ('pgw;poisoned', 100, $1, 999999)",
        &[&alice],
    )
    .unwrap();
    let cfg = ServerConfig::new("ocs.example.net", "example.net");
    let ocs = ChargingServer::new(store.clone(), Tariffs::parse(TARIFFS).unwrap(), cfg);
    let mut i = base("pgw;live", CcRequestType::InitialRequest, 0, GY);
    i.subscription_id = vec![msisdn("4916")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let now = SystemTime::now();
    assert_eq!(ocs.handle_ccr(i, now).result_code, 2001);

    let started = Instant::now();
    let closed = ocs.expire_sessions(now).unwrap();
    let took = started.elapsed();
    eprintln!("pg: swept {N} sessions in {took:?}");
    assert_eq!(
        closed.len(),
        N as usize,
        "every expired session but the broken one"
    );
    assert!(!closed
        .iter()
        .any(|s| s == "pgw;poisoned" || s == "pgw;live"));
    assert!(took < Duration::from_secs(30), "sweep took {took:?}");
    let (a, b) = (
        store.account(alice).unwrap().unwrap(),
        store.account(bob).unwrap().unwrap(),
    );
    assert_eq!((a.reserved, b.reserved), (0, 50));
    assert!(ocs.expire_sessions(now).unwrap().is_empty());
    assert_eq!(
        store.sessions_of(alice).unwrap(),
        vec!["pgw;poisoned".to_string()]
    );
}

/// Concurrent callers share group transactions, each gets its own outcome, and a database
/// made before migrations existed (tables, no history) opens and is taken over.
#[test]
fn pg_groups_are_shared_and_an_unversioned_database_opens() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    // The tables as an earlier version made them, without refinery's history.
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    db.batch_execute(
        "CREATE TABLE accounts (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
             currency BIGINT NOT NULL, balance BIGINT NOT NULL, reserved BIGINT NOT NULL DEFAULT 0,
             CHECK (reserved >= 0 AND balance >= reserved));
         CREATE TABLE sessions (session_id TEXT PRIMARY KEY,
             account_id BIGINT NOT NULL REFERENCES accounts(id), expires_at BIGINT NOT NULL,
             created_at BIGINT NOT NULL);
         INSERT INTO accounts (currency, balance) VALUES (978, 5);",
    )
    .unwrap();
    let store = Arc::new(PgStore::connect(&pg.url, 4).unwrap());
    let versions: i64 = db
        .query_one("SELECT COUNT(*) FROM ocs_schema_history", &[])
        .unwrap()
        .get(0);
    assert!(versions >= 1);
    assert_eq!(store.account(1).unwrap().unwrap().balance, 5);
    let id = store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "3")],
            100_000,
            978,
        ))
        .unwrap();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..25 {
                    let b = debit(id, &format!("t{t}/{n}"), t + 1);
                    let out = store.apply(&b, 0).unwrap();
                    assert_eq!((out.results, out.replayed), (vec![t + 1], false));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (groups, batches) = store.stats();
    assert_eq!(batches, 400);
    assert!(groups < batches, "{groups} groups for {batches} batches");
    let spent = 25 * (1..=16).sum::<i64>();
    assert_eq!(store.account(id).unwrap().unwrap().balance, 100_000 - spent);
    assert_eq!(store.ledger_totals(id).unwrap().debits, spent);
    // Reopening finds the schema current.
    drop(store);
    let again = PgStore::connect(&pg.url, 1).unwrap();
    assert_eq!(again.account(id).unwrap().unwrap().balance, 100_000 - spent);
}

/// TLS to the database (`sslmode`, `sslrootcert` in the store URL): a cluster with a
/// certificate for `localhost` signed by a test CA, reached over TCP at 127.0.0.1.
#[test]
fn pg_store_speaks_tls_and_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let new_ca = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert, key)
    };
    let (ca, ca_key) = new_ca("test CA");
    let (other_ca, _) = new_ca("another CA");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let path = |f: &str| dir.path().join(f);
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("other.pem"), other_ca.pem()).unwrap();
    std::fs::write(path("server.crt"), cert.pem()).unwrap();
    std::fs::write(path("server.key"), key.serialize_pem()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(path("server.key"), mode).unwrap();
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open).unwrap();
    }
    if ocs_common::is_root() {
        let ok = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(path("server.key"))
            .arg(path("server.crt"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "chown the key to postgres");
    }
    let Some(pg) = ocs_common::PgCluster::start_with(&format!(
        "-c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        path("server.crt").display(),
        path("server.key").display()
    )) else {
        return;
    };
    let tcp = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5",
        pg.port()
    );
    let ca_file = path("ca.pem").display().to_string();
    let other = path("other.pem").display().to_string();
    // The chain checks out; the name (localhost, not 127.0.0.1) is not asked for.
    let store = PgStore::connect(&format!("{tcp} sslmode=verify-ca sslrootcert={ca_file}"), 1)
        .expect("verify-ca");
    store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "5")],
            1,
            978,
        ))
        .unwrap();
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let encrypted: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.client_addr IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "the store's connection is TLS");
    // libpq's `require`: encrypted, any certificate.
    assert!(PgStore::connect(&format!("{tcp} sslmode=require"), 1).is_ok());
    // verify-full: the certificate names localhost, we connect to 127.0.0.1.
    let refused = |url: String| match PgStore::connect(&url, 1) {
        Ok(_) => panic!("connected with {url}"),
        Err(e) => format!("{e:?}"),
    };
    let e = refused(format!("{tcp} sslmode=verify-full sslrootcert={ca_file}"));
    assert!(e.contains("NotValidForName"), "{e}");
    // Another CA: refused.
    let e = refused(format!("{tcp} sslmode=verify-ca sslrootcert={other}"));
    assert!(e.contains("UnknownIssuer"), "{e}");
    // verify-full by name, in URL form.
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port(),
        ca_file.replace('/', "%2F")
    );
    let store = PgStore::connect(&url, 1).expect("verify-full by name");
    assert_eq!(store.totals().unwrap().open_sessions, 0);
    // The SIP and accounting stores take the same settings.
    use diameter_apps::acct::store::PgRecordStore;
    use diameter_apps::sip::store::PgSipStore;
    let sip = PgSipStore::connect(&url).expect("SIP store, verify-full");
    let acct = PgRecordStore::connect(&format!("{tcp} sslmode=verify-ca sslrootcert={ca_file}"))
        .expect("accounting store, verify-ca");
    let tls_sessions = |db: &mut postgres::Client| -> i64 {
        db.query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.client_addr IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert!(
        tls_sessions(&mut db) >= 3,
        "the SIP and accounting connections are TLS"
    );
    drop((sip, acct));
    let other_ca = format!("{tcp} sslmode=verify-ca sslrootcert={other}");
    let e = format!(
        "{:?}",
        PgSipStore::connect(&other_ca).err().expect("refused")
    );
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = format!(
        "{:?}",
        PgRecordStore::connect(&other_ca).expect_err("refused")
    );
    assert!(e.contains("UnknownIssuer"), "{e}");
}

/// A request key saved by another transaction between the group's read and its write (the
/// same key for another account, as a confused or hostile client could send through the
/// other node): the group runs again and the batch alone is refused as a clash.
#[test]
fn pg_a_key_saved_meanwhile_elsewhere_reruns_the_group() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let store = Arc::new(PgStore::connect(&pg.url, 2).unwrap());
    let mut ids = Vec::new();
    for who in ["61", "62"] {
        let acc = NewAccount::new(vec![SubscriberId::new(IdKind::E164, who)], 1_000, 978);
        ids.push(store.add_account(&acc).unwrap());
    }
    let mut other = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let mut tx = other.transaction().unwrap();
    tx.execute(
        "INSERT INTO requests (request_key, account_id, outcome, at) VALUES ('k', $1, '0;1000;0', 0)",
        &[&ids[1]],
    )
    .unwrap();
    let s = store.clone();
    let account = ids[0];
    let charging = std::thread::spawn(move || s.apply(&debit(account, "k", 10), 0));
    // The group's INSERT of the key waits for this transaction, then conflicts with it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    tx.commit().unwrap();
    let out = charging.join().unwrap().expect("rerun, not failed");
    assert!(out.clash, "{out:?}");
    assert_eq!(store.account(ids[0]).unwrap().unwrap().balance, 1_000);
}

/// A database that stops answering (every process of the cluster stopped): a charge fails
/// within the transaction timeout, as temporary, and once the database is back the store
/// works again (the connection left in the middle of a transaction is not reused).
#[test]
fn pg_a_silent_database_times_out_and_the_store_recovers() {
    use diameter_apps::ocs::store::{PgOptions, StoreError};
    use std::time::{Duration, Instant};
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let mut opts = PgOptions::default();
    opts.pool = 3;
    opts.transaction_timeout = Duration::from_millis(600);
    let store = PgStore::connect_with(&pg.url, &opts).unwrap();
    let id = store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "7")],
            100,
            978,
        ))
        .unwrap();
    store.apply(&debit(id, "warm", 1), 0).unwrap();
    let pids = pg.processes();
    pg.signal("STOP", &pids);
    let started = Instant::now();
    let r = store.apply(&debit(id, "stalled", 1), 0);
    let took = started.elapsed();
    pg.signal("CONT", &pids);
    match r {
        Err(e @ StoreError::Timeout(_)) => assert!(e.is_temporary()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // Back: charged (the stalled transaction was rolled back, or committed and replayed).
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        match store.apply(&debit(id, "stalled", 1), 0) {
            Ok(out) => break out,
            Err(e) => {
                assert!(Instant::now() < deadline, "not back: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(out.results, vec![1]);
    let acc = store.account(id).unwrap().unwrap();
    assert_eq!(acc.balance, 98);
    assert_eq!(store.ledger_totals(id).unwrap().debits, 2);
}

/// A debit of `amount` on `account` under the request key `key`.
fn debit(account: AccountId, key: &str, amount: i64) -> Batch {
    let mut b = Batch::new(account, None);
    b.key = Some(key.into());
    b.ops.push(Op::Debit {
        amount,
        partial: false,
        reference: None,
    });
    b
}

/// Helpers of the tests of groups against locks held by other transactions.
mod held {
    use diameter_apps::ocs::store::{
        AccountId, Batch, BatchOutcome, PgOptions, PgStore, Store, StoreError,
    };
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    /// A store with one group in flight: a group that waits keeps the others queued.
    pub fn one_group_store(url: &str) -> Arc<PgStore> {
        let mut opts = PgOptions::default();
        opts.groups = 1;
        Arc::new(PgStore::connect_with(url, &opts).unwrap())
    }

    /// Queues `batch` at once (`charge`); its outcome comes on the channel.
    pub fn charge(
        rt: &tokio::runtime::Runtime,
        store: &Arc<PgStore>,
        batch: Batch,
    ) -> mpsc::Receiver<Result<BatchOutcome, StoreError>> {
        let (tx, rx) = mpsc::channel();
        let fut = store.clone().charge(batch, 0);
        rt.spawn(async move { tx.send(fut.await).unwrap() });
        rx
    }

    /// Locks `account` in a transaction of `client`, until it ends.
    pub fn hold(client: &mut postgres::Client, account: AccountId) -> postgres::Transaction<'_> {
        let mut tx = client.transaction().unwrap();
        tx.execute(
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&account],
        )
        .unwrap();
        tx
    }

    /// Waits (at most 10 s) until `n` transactions wait for a lock.
    pub fn wait_for_lock_waiters(db: &mut postgres::Client, n: i64) {
        for _ in 0..500 {
            let row = db
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                    &[],
                )
                .unwrap();
            if row.get::<_, i64>(0) == n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("never {n} transaction(s) waiting for a lock");
    }
}

/// A group does not wait behind another transaction for an account some of its batches
/// need: it charges the others, puts those batches off to the next group (which waits for
/// the lock), and both end charged once.
#[test]
fn pg_a_held_account_puts_off_its_batches_not_the_group() {
    use held::{charge, hold, wait_for_lock_waiters};
    use std::time::Duration;
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let store = held::one_group_store(&pg.url);
    let mut ids = Vec::new();
    for who in ["71", "72", "73"] {
        let acc = NewAccount::new(vec![SubscriberId::new(IdKind::E164, who)], 1_000, 978);
        ids.push(store.add_account(&acc).unwrap());
    }
    let (held, busy, free) = (ids[0], ids[1], ids[2]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    // Two other transactions hold `held` and `busy`.
    let mut holder_a = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let tx_a = hold(&mut holder_a, held);
    let mut holder_b = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let tx_b = hold(&mut holder_b, busy);
    // A lone batch on `busy` waits for its lock and keeps the one group slot...
    let first = charge(&rt, &store, debit(busy, "busy/1", 10));
    wait_for_lock_waiters(&mut db, 1);
    // ...so these two queue up and form the next group together.
    let on_held = charge(&rt, &store, debit(held, "held/1", 10));
    let on_free = charge(&rt, &store, debit(free, "free/1", 10));
    tx_b.commit().unwrap();
    assert_eq!(first.recv().unwrap().unwrap().results, vec![10]);
    // The batch on a free account is charged while `held` is still held elsewhere.
    let out = on_free
        .recv_timeout(Duration::from_secs(20))
        .expect("not kept waiting behind the held account")
        .unwrap();
    assert_eq!(out.results, vec![10]);
    assert_eq!(store.put_off(), 1);
    // The batch put off waits for the lock in the next group, then is charged once.
    wait_for_lock_waiters(&mut db, 1);
    assert!(
        on_held.try_recv().is_err(),
        "charged while its account was held"
    );
    tx_a.commit().unwrap();
    assert_eq!(on_held.recv().unwrap().unwrap().results, vec![10]);
    for id in [held, busy, free] {
        assert_eq!(store.account(id).unwrap().unwrap().balance, 990);
        assert_eq!(store.ledger_totals(id).unwrap().debits, 10);
    }
    let again = store.apply(&debit(held, "held/1", 10), 0).unwrap();
    assert!(again.replayed);
    assert_eq!(store.put_off(), 1);
}

/// The store reports each group transaction as one commit of the charges it made durable
/// (what `serve ocs --metrics` shows as batch sizes): charges queued during one group share
/// the next one.
#[test]
fn pg_a_group_is_reported_as_one_commit_of_its_charges() {
    use held::{charge, hold, wait_for_lock_waiters};
    use std::sync::Mutex;
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let store = held::one_group_store(&pg.url);
    let commits: Arc<Mutex<Vec<usize>>> = Arc::default();
    let seen = commits.clone();
    assert!(store.observe_commits(Arc::new(move |n, _| seen.lock().unwrap().push(n))));
    let mut ids = Vec::new();
    for n in 0..11 {
        let acc = NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, format!("8{n}"))],
            100,
            978,
        );
        ids.push(store.add_account(&acc).unwrap());
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Another transaction holds the first account: a lone charge on it keeps the one group
    // slot while ten more queue up.
    let mut holder = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let tx = hold(&mut holder, ids[0]);
    let first = charge(&rt, &store, debit(ids[0], "first", 1));
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    wait_for_lock_waiters(&mut db, 1);
    let rest: Vec<_> = ids[1..]
        .iter()
        .map(|&id| charge(&rt, &store, debit(id, &format!("k{id}"), 1)))
        .collect();
    tx.commit().unwrap();
    first.recv().unwrap().unwrap();
    for r in rest {
        assert_eq!(r.recv().unwrap().unwrap().results, vec![1]);
    }
    assert_eq!(*commits.lock().unwrap(), vec![1, 10]);
}
