//! Hostile clients of the OCS: refunds without the right or without an earlier debit,
//! Session-Id clashes, updates from another peer, a Tcc sweep with a session that cannot be
//! closed, and a PostgreSQL that stops answering.

mod ocs_common;

use diameter::dict::base_rfc6733::result_code as base_rc;
use diameter::dict::dcca_rfc4006::*;
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
use diameter_apps::ocs::store::{self, IdKind, PgOptions, SubscriberId};
use diameter_apps::ocs::{start, OcsHandle, ServeOptions};
use diameter_core::bytes::Bytes;
use diameter_core::node::{Node, PeerConfig, RequestError};
use ocs_common::ccr::*;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

const ALICE: &str = "491700000021";
const BOB: &str = "491700000022";
const SMSC: &str = "smsc.example.net";
const PGW: &str = "pgw.example.net";
const EVIL: &str = "evil.example.net";

struct Lab {
    ocs: OcsHandle,
    dir: PathBuf,
}

impl Lab {
    /// An OCS on loopback with ALICE and BOB (1000 each); SMSC has the refund right.
    async fn start(
        name: &str,
        store: Option<String>,
        tweak: impl FnOnce(&mut ServeOptions),
    ) -> Lab {
        let dir = std::env::temp_dir().join(format!("ocs-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let accounts = dir.join("accounts.toml");
        std::fs::write(
            &accounts,
            format!(
                "currency = 978\n[[account]]\nids = [\"e164:{ALICE}\"]\nbalance = 1000\n\
                 [[account]]\nids = [\"e164:{BOB}\"]\nbalance = 1000\n"
            ),
        )
        .unwrap();
        let mut opts = ServeOptions::default();
        opts.listen = "127.0.0.1:0".parse().unwrap();
        opts.origin_host = "ocs.example.net".into();
        opts.origin_realm = "example.net".into();
        opts.store = store.unwrap_or_else(|| format!("sqlite://{}", dir.join("ocs.db").display()));
        opts.accounts = Some(accounts);
        opts.tariffs = Tariffs::parse(TARIFFS).unwrap();
        opts.refund_peers = vec![SMSC.into()];
        tweak(&mut opts);
        let ocs = start(opts).await.expect("ocs starts");
        Lab { ocs, dir }
    }

    async fn client(&self, host: &str) -> Node {
        let node = Node::builder()
            .origin_host(host)
            .origin_realm("example.net")
            .auth_application(4)
            .peer(PeerConfig::new(
                "ocs.example.net",
                self.ocs.local_addrs()[0],
            ))
            .build()
            .await
            .unwrap();
        assert!(
            node.wait_peer("ocs.example.net", Duration::from_secs(10))
                .await
        );
        node
    }

    /// (balance, reserved) of a subscriber.
    fn money(&self, who: &str) -> (i64, i64) {
        let a = self
            .ocs
            .server
            .store()
            .find_account(&SubscriberId::new(IdKind::E164, who))
            .unwrap()
            .unwrap();
        (a.balance, a.reserved)
    }

    async fn stop(self) {
        self.ocs.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CCR with the given Origin-Host AVP (which the OCS must not trust).
fn from(mut c: Ccr, origin_host: &str) -> Ccr {
    c.origin_host = origin_host.into();
    c
}

fn refund_of(who: &str, session: &str, info: Option<Bytes>) -> Ccr {
    let mut c = from(
        sms_event(session, who, RequestedAction::RefundAccount),
        SMSC,
    );
    c.multiple_services_credit_control[0].refund_information = info;
    c
}

fn mscc_code(cca: &Cca) -> Option<u32> {
    cca.multiple_services_credit_control
        .first()
        .and_then(|m| m.result_code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_need_the_right_and_an_earlier_debit() {
    let lab = Lab::start("refund", None, |_| {}).await;
    let smsc = lab.client(SMSC).await;
    let evil = lab.client(EVIL).await;

    // A debit of one SMS (9) from the SMSC; its CCA names the debit.
    let debit = from(
        sms_event("smsc;d1", ALICE, RequestedAction::DirectDebiting),
        SMSC,
    );
    let cca: Cca = smsc.send(&debit, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    let info = cca.multiple_services_credit_control[0]
        .refund_information
        .clone()
        .expect("a debit's CCA carries Refund-Information");
    assert_eq!(lab.money(ALICE), (991, 0));
    // A peer without the refund right gets no reference (nor would it need one).
    let cca: Cca = evil
        .send(
            &from(
                sms_event("evil;d", BOB, RequestedAction::DirectDebiting),
                EVIL,
            ),
            4,
        )
        .await
        .unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(
        cca.multiple_services_credit_control[0].refund_information,
        None
    );
    assert_eq!(lab.money(BOB), (991, 0));

    // The attack: a command-level REFUND_ACCOUNT of 10^12 units from a peer without
    // the right, its Origin-Host AVP forged to the SMSC's, carrying the real reference.
    let mut attack = base("evil;1", CcRequestType::EventRequest, 0, SMS);
    attack.origin_host = SMSC.into();
    attack.subscription_id = vec![msisdn(ALICE)].into();
    attack.requested_action = Some(RequestedAction::RefundAccount);
    attack.service_identifier = Some(1);
    attack.requested_service_unit = Some(
        RequestedServiceUnit {
            cc_service_specific_units: Some(1_000_000_000_000),
            ..Default::default()
        }
        .into(),
    );
    attack.refund_information = Some(info.clone());
    let cca: Cca = evil.send(&attack, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_AUTHORIZATION_REJECTED);
    let mut small = refund_of(ALICE, "evil;2", Some(info.clone()));
    small.origin_host = SMSC.into();
    let cca: Cca = evil.send(&small, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_AUTHORIZATION_REJECTED);
    assert_eq!(lab.money(ALICE), (991, 0));

    // With the right: no reference, a forged one, another subscriber's, or too much.
    let cca: Cca = smsc
        .send(&refund_of(ALICE, "smsc;r1", None), 4)
        .await
        .unwrap();
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_MISSING_AVP));
    assert_ne!(cca.result_code, 2001);
    let mut forged = info.to_vec();
    forged[5] ^= 0xff;
    let cca: Cca = smsc
        .send(&refund_of(ALICE, "smsc;r2", Some(forged.into())), 4)
        .await
        .unwrap();
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_INVALID_AVP_VALUE));
    let cca: Cca = smsc
        .send(
            &refund_of(ALICE, "smsc;r3", Some(Bytes::from_static(b"x"))),
            4,
        )
        .await
        .unwrap();
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_INVALID_AVP_VALUE));
    let cca: Cca = smsc
        .send(&refund_of(BOB, "smsc;r4", Some(info.clone())), 4)
        .await
        .unwrap();
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_INVALID_AVP_VALUE));
    let mut too_much = refund_of(ALICE, "smsc;r5", Some(info.clone()));
    too_much.multiple_services_credit_control[0].requested_service_unit = Some(
        RequestedServiceUnit {
            cc_service_specific_units: Some(2),
            ..Default::default()
        }
        .into(),
    );
    let cca: Cca = smsc.send(&too_much, 4).await.unwrap();
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_INVALID_AVP_VALUE));
    assert_eq!(lab.money(ALICE), (991, 0));
    assert_eq!(lab.money(BOB), (991, 0));

    // The real refund restores the balance exactly once: a retransmission gets the same
    // answer, a second refund of the same debit is refused.
    let ok = refund_of(ALICE, "smsc;r6", Some(info.clone()));
    let cca: Cca = smsc.send(&ok, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(lab.money(ALICE), (1000, 0));
    let again: Cca = smsc.send(&ok, 4).await.unwrap();
    assert_eq!(again.result_code, 2001);
    assert_eq!(lab.money(ALICE), (1000, 0));
    let cca: Cca = smsc
        .send(&refund_of(ALICE, "smsc;r7", Some(info)), 4)
        .await
        .unwrap();
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_INVALID_AVP_VALUE));
    assert_eq!(lab.money(ALICE), (1000, 0));

    // A command-level debit carries its reference at command level.
    let mut ev = from(base("smsc;d2", CcRequestType::EventRequest, 0, SMS), SMSC);
    ev.subscription_id = vec![msisdn(ALICE)].into();
    ev.requested_action = Some(RequestedAction::DirectDebiting);
    ev.service_identifier = Some(1);
    ev.requested_service_unit = Some(
        RequestedServiceUnit {
            cc_service_specific_units: Some(1),
            ..Default::default()
        }
        .into(),
    );
    let cca: Cca = smsc.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(lab.money(ALICE), (991, 0));
    let mut back = ev.clone();
    back.session_id = "smsc;r8".into();
    back.requested_action = Some(RequestedAction::RefundAccount);
    back.refund_information = cca.refund_information.clone();
    assert!(back.refund_information.is_some());
    let cca: Cca = smsc.send(&back, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(lab.money(ALICE), (1000, 0));

    smsc.abort();
    evil.abort();
    lab.stop().await;
}

#[test]
fn a_refund_that_would_overflow_the_balance_is_refused() {
    let store = store::open("sqlite::memory:").unwrap();
    let id = ocs_common::add_e164(&*store, ALICE, 100);
    let mut cfg = ServerConfig::new("ocs.example.net", "example.net");
    cfg.refund_peers.insert(SMSC.into());
    let ocs = ChargingServer::new(store.clone(), Tariffs::parse(TARIFFS).unwrap(), cfg);
    let now = SystemTime::now();
    let cca = ocs.handle_ccr(
        from(
            sms_event("smsc;1", ALICE, RequestedAction::DirectDebiting),
            SMSC,
        ),
        now,
    );
    let info = cca.multiple_services_credit_control[0]
        .refund_information
        .clone();
    assert_eq!(store.account(id).unwrap().unwrap().balance, 91);
    // The operator tops the account up to the largest balance there is.
    store.adjust_balance(id, i64::MAX - 91, 0).unwrap();
    assert!(
        store.adjust_balance(id, 1, 0).is_err(),
        "top-up overflow refused"
    );
    let cca = ocs.handle_ccr(refund_of(ALICE, "smsc;2", info), now);
    assert_eq!(mscc_code(&cca), Some(base_rc::DIAMETER_UNABLE_TO_COMPLY));
    assert_eq!(store.account(id).unwrap().unwrap().balance, i64::MAX);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_belong_to_their_account_and_client() {
    let lab = Lab::start("clash", None, |_| {}).await;
    let pgw = lab.client(PGW).await;
    let evil = lab.client(EVIL).await;
    let s = "pgw.example.net;42;1";

    let mut i = from(base(s, CcRequestType::InitialRequest, 0, GY), PGW);
    i.subscription_id = vec![msisdn(ALICE)].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = pgw.send(&i, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(lab.money(ALICE), (1000, 50));

    // Another client reuses the Session-Id: a CCR-I for its own subscriber, one for the
    // victim, and updates and a termination with the victim's Origin-Host forged.
    let mut clash = from(base(s, CcRequestType::InitialRequest, 0, GY), PGW);
    clash.subscription_id = vec![msisdn(BOB)].into();
    clash.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = evil.send(&clash, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNABLE_TO_COMPLY);
    let cca: Cca = evil.send(&i, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNABLE_TO_COMPLY);
    let mut u = from(base(s, CcRequestType::UpdateRequest, 1, GY), PGW);
    u.multiple_services_credit_control = vec![data_mscc(100, Some(0), Some(4_000_000))].into();
    let cca: Cca = evil.send(&u, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
    let mut t = from(base(s, CcRequestType::TerminationRequest, 2, GY), PGW);
    t.multiple_services_credit_control = vec![data_mscc(100, None, Some(1))].into();
    let cca: Cca = evil.send(&t, 4).await.unwrap();
    assert_eq!(cca.result_code, base_rc::DIAMETER_UNKNOWN_SESSION_ID);
    assert_eq!(lab.money(ALICE), (1000, 50));
    assert_eq!(lab.money(BOB), (1000, 0));
    // The same in-process (a peer given explicitly): a clash from the same peer for
    // another account is refused too, whether its key is new or that of the opening CCR-I.
    let mut again = clash.clone();
    again.cc_request_number = 7;
    for c in [again, clash.clone()] {
        let cca = lab.ocs.server.handle_ccr_from(c, PGW, SystemTime::now());
        assert_eq!(cca.result_code, base_rc::DIAMETER_UNABLE_TO_COMPLY);
    }
    assert_eq!(lab.money(BOB), (1000, 0));

    // The victim's session still works, and its answers were not given to the other peer.
    let cca: Cca = pgw.send(&u, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(lab.money(ALICE), (960, 50));
    let cca: Cca = pgw.send(&t, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    assert_eq!(lab.money(ALICE), (950, 0));
    // The Tcc sweep has nothing to trip over.
    assert!(lab
        .ocs
        .server
        .expire_sessions(SystemTime::now() + Duration::from_secs(7200))
        .unwrap()
        .is_empty());

    pgw.abort();
    evil.abort();
    lab.stop().await;
}

#[test]
fn tcc_sweep_releases_everything_but_a_broken_session_quickly() {
    const N: i64 = 2000;
    let dir = std::env::temp_dir().join(format!("ocs-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ocs.db");
    // The rows are written behind the store's back, so first through the SQL-only store;
    // the engine opened afterwards loads them.
    let direct = store::open(&format!("sqlite+direct://{}", path.display())).unwrap();
    let alice = ocs_common::add_e164(&*direct, ALICE, 1_000_000);
    let bob = ocs_common::add_e164(&*direct, BOB, 1_000_000);
    drop(direct);
    // 2000 expired sessions holding 1 each, written in one transaction (a CCR-I each
    // would take minutes of fsyncs), and in the middle one whose reservation the account
    // does not hold: releasing it would take `reserved` below zero, so it cannot close.
    {
        let mut db = rusqlite::Connection::open(&path).unwrap();
        let tx = db.transaction().unwrap();
        for i in 0..N {
            let (s, account) = (
                format!("pgw;sweep;{i:05}"),
                if i % 2 == 0 { alice } else { bob },
            );
            tx.execute(
                "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
                 VALUES (?1, ?2, ?3, 0, 'pgw.example.net')",
                rusqlite::params![s, account, 1_000 + i],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO reservations (session_id, rating_group, account_id, amount)
                 VALUES (?1, 100, ?2, 1)",
                rusqlite::params![s, account],
            )
            .unwrap();
        }
        tx.execute(
            "UPDATE accounts SET reserved = ?1 WHERE id IN (?2, ?3)",
            rusqlite::params![N / 2, alice, bob],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO sessions (session_id, account_id, expires_at, created_at, peer)
             VALUES ('pgw;poisoned', ?1, ?2, 0, 'pgw.example.net')",
            rusqlite::params![alice, 1_000 + N / 2],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO reservations (session_id, rating_group, account_id, amount)
             VALUES ('pgw;poisoned', 100, ?1, 999999)",
            rusqlite::params![alice],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let store = store::open(&format!("sqlite://{}", path.display())).unwrap();
    let cfg = ServerConfig::new("ocs.example.net", "example.net");
    let ocs = ChargingServer::new(store.clone(), Tariffs::parse(TARIFFS).unwrap(), cfg);
    // A live session too, which must stay.
    let mut i = base("pgw;live", CcRequestType::InitialRequest, 0, GY);
    i.subscription_id = vec![msisdn(BOB)].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let now = SystemTime::now();
    assert_eq!(ocs.handle_ccr(i, now).result_code, 2001);

    let started = Instant::now();
    let closed = ocs.expire_sessions(now).unwrap();
    let took = started.elapsed();
    assert_eq!(
        closed.len(),
        N as usize,
        "every expired session but the broken one"
    );
    assert!(!closed
        .iter()
        .any(|s| s == "pgw;poisoned" || s == "pgw;live"));
    assert!(took < Duration::from_secs(20), "sweep took {took:?}");
    eprintln!("swept {N} sessions in {took:?}");
    let a = store.account(alice).unwrap().unwrap();
    let b = store.account(bob).unwrap().unwrap();
    assert_eq!((a.reserved, b.reserved), (0, 50));
    // The broken session is skipped again, without failing the sweep.
    assert!(ocs.expire_sessions(now).unwrap().is_empty());
    assert_eq!(
        store.sessions_of(alice).unwrap(),
        vec!["pgw;poisoned".to_string()]
    );
    drop((ocs, store));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends SIGCONT to the stopped processes when dropped (also when the test fails).
struct Resume<'c> {
    pg: &'c ocs_common::PgCluster,
    pids: Vec<u32>,
}

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.pg.signal("CONT", &self.pids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_database_gives_3004_not_a_hang() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let answer_timeout = Duration::from_secs(2);
    let lab = Lab::start("pgstall", Some(format!("postgres:{}", pg.url)), |o| {
        o.answer_timeout = answer_timeout;
        o.pg = {
            let mut pg = PgOptions::default();
            pg.pool = 2;
            pg.pool_wait = Duration::from_secs(1);
            pg
        };
    })
    .await;
    let pgw = lab.client(PGW).await;
    let session = |n: u32| {
        let mut i = from(
            base(
                &format!("pgw;stall;{n}"),
                CcRequestType::InitialRequest,
                0,
                GY,
            ),
            PGW,
        );
        i.subscription_id = vec![msisdn(ALICE)].into();
        i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
        i
    };
    let cca: Cca = pgw.send(&session(0), 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);

    // The database stops answering (every process of this private cluster is stopped).
    let pids = pg.processes();
    assert!(pids.len() > 1, "postmaster and backends: {pids:?}");
    pg.signal("STOP", &pids);
    let resume = Resume { pg: &pg, pids };
    for n in 1..=3 {
        let started = Instant::now();
        let r: Result<Cca, _> = pgw.send(&session(n), 4).await;
        let took = started.elapsed();
        match r {
            Err(RequestError::Protocol { result_code, .. }) => {
                assert_eq!(result_code, base_rc::DIAMETER_TOO_BUSY)
            }
            other => panic!("expected 3004 with the E bit, got {other:?}"),
        }
        assert!(
            took < answer_timeout + Duration::from_secs(2),
            "took {took:?}"
        );
    }

    // It comes back: requests are served again.
    drop(resume);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pgw.send::<_, Cca>(&session(10), 4).await {
            Ok(cca) if cca.result_code == 2001 => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "not served after SIGCONT: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    pgw.abort();
    lab.stop().await;
}

#[test]
fn a_locked_account_gives_a_temporary_error() {
    // lock_timeout: another transaction holds the account row; the store gives up after
    // the lock timeout with an error classified temporary (3004), instead of waiting.
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let mut opts = PgOptions::default();
    opts.pool = 1;
    opts.lock_timeout = Duration::from_millis(300);
    let store: std::sync::Arc<dyn store::Store> =
        std::sync::Arc::new(store::PgStore::connect_with(&pg.url, &opts).unwrap());
    ocs_common::add_e164(&*store, ALICE, 1000);
    let cfg = ServerConfig::new("ocs.example.net", "example.net");
    let ocs = ChargingServer::new(store, Tariffs::parse(TARIFFS).unwrap(), cfg);
    let mut holder = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let mut tx = holder.transaction().unwrap();
    tx.execute("SELECT * FROM accounts FOR UPDATE", &[])
        .unwrap();
    let started = Instant::now();
    let cca = ocs.handle_ccr(
        from(
            sms_event("smsc;lock", ALICE, RequestedAction::DirectDebiting),
            SMSC,
        ),
        SystemTime::now(),
    );
    assert_eq!(cca.result_code, base_rc::DIAMETER_TOO_BUSY);
    assert!(started.elapsed() < Duration::from_secs(3));
    tx.rollback().unwrap();
    let cca = ocs.handle_ccr(
        from(
            sms_event("smsc;lock2", ALICE, RequestedAction::DirectDebiting),
            SMSC,
        ),
        SystemTime::now(),
    );
    assert_eq!(cca.result_code, 2001);
}

/// A CCR with a bad AVP reaches the OCS's handler with only its header checked (the handler
/// decodes every AVP itself: one walk per CCR); the answer is still what RFC 6733 §7
/// prescribes: the Result-Code (a permanent failure, no E bit) and Failed-AVP naming the
/// AVP; nothing is charged.
#[tokio::test]
async fn a_malformed_ccr_gets_the_rfc_answer_with_failed_avp() {
    use diameter_core::traits::Command;
    use std::io::Write;
    let lab = Lab::start("malformed", None, |_| {}).await;
    let addr = lab.ocs.local_addrs()[0];
    let (unsupported, bad_length) = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&ocs_common::raw::cer(PGW, "test")).unwrap();
        ocs_common::raw::read_message(&mut s).expect("a CEA");
        // A valid CCR-I for ALICE, then one extra AVP appended and the length fixed.
        let with_extra = |n: u32, extra: &[u8]| {
            let mut ccr = base(
                &format!("pgw;malformed;{n}"),
                CcRequestType::InitialRequest,
                0,
                "x",
            );
            ccr.subscription_id = vec![msisdn(ALICE)].into();
            ccr.requested_service_unit = Some(
                RequestedServiceUnit {
                    cc_time: Some(60),
                    ..Default::default()
                }
                .into(),
            );
            let mut bytes = ccr.to_message(4, n, n).to_bytes().to_vec();
            bytes.extend_from_slice(extra);
            let len = (bytes.len() as u32).to_be_bytes();
            bytes[1..4].copy_from_slice(&len[1..]);
            bytes
        };
        // Code 99999, M bit, length 12: mandatory and unknown → 5001.
        let unknown_m = [0, 1, 0x86, 0x9f, 0x40, 0, 0, 12, 0, 0, 0, 7];
        s.write_all(&with_extra(11, &unknown_m)).unwrap();
        let a = ocs_common::raw::read_message(&mut s).expect("an answer to the 5001 CCR");
        // Code 268-like header with an AVP length of 4 (< 8): invalid AVP length → 5014.
        let short = [0, 0, 0x03, 0xe7, 0x40, 0, 0, 4];
        s.write_all(&with_extra(12, &short)).unwrap();
        let b = ocs_common::raw::read_message(&mut s).expect("an answer to the 5014 CCR");
        (a, b)
    })
    .await
    .unwrap();
    for (answer, code, failed_code) in [(&unsupported, 5001, 99999), (&bad_length, 5014, 999)] {
        // 5xxx is a permanent failure, not a protocol error (RFC 6733 §7.1.5): no E bit.
        assert!(!answer.header.is_error(), "no E bit on the {code} answer");
        assert_eq!(diameter_core::fields::result_code(answer), Some(code));
        let failed = answer.find(279, 0).expect("Failed-AVP");
        let inner = diameter_core::RawMessage::decode(
            {
                // Failed-AVP's payload is AVPs: wrap it in a header to walk it.
                let mut m = vec![
                    1, 0, 0, 0, 0x80, 0, 1, 16, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1,
                ];
                m.extend_from_slice(&failed.data);
                let len = (m.len() as u32).to_be_bytes();
                m[1..4].copy_from_slice(&len[1..]);
                Bytes::from(m)
            },
            &Default::default(),
        );
        let first_code = match inner {
            Ok(m) => m.avps().next().and_then(|a| a.ok()).map(|a| a.code),
            // A zero-filled short AVP may not walk as a message; its code is in the bytes.
            Err(_) => Some(u32::from_be_bytes([
                failed.data[0],
                failed.data[1],
                failed.data[2],
                failed.data[3],
            ])),
        };
        assert_eq!(
            first_code,
            Some(failed_code),
            "Failed-AVP names the bad AVP"
        );
    }
    // Nothing was charged or reserved for either request.
    assert_eq!(lab.money(ALICE), (1000, 0));
    lab.stop().await;
}

/// Two agents in one peer group: a direct debit resent through the other agent after a
/// failover is answered from the saved answer and charged once; a peer outside the group
/// never gets that answer (its request is its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_resent_through_a_fellow_agent_is_charged_once() {
    const DRA1: &str = "dra1.example.net";
    const DRA2: &str = "dra2.example.net";
    let lab = Lab::start("group", None, |o| {
        o.peer_groups = vec![(DRA1.into(), "dra".into()), (DRA2.into(), "dra".into())];
    })
    .await;
    let (dra1, dra2, evil) = (
        lab.client(DRA1).await,
        lab.client(DRA2).await,
        lab.client(EVIL).await,
    );
    let debit = from(
        sms_event("smsc;g1", ALICE, RequestedAction::DirectDebiting),
        SMSC,
    );
    let first: Cca = dra1.send(&debit, 4).await.unwrap();
    assert_eq!(first.result_code, 2001);
    assert_eq!(lab.money(ALICE), (991, 0));
    let again: Cca = dra2.send(&debit, 4).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(lab.money(ALICE), (991, 0), "charged once");
    let other: Cca = evil.send(&debit, 4).await.unwrap();
    assert_eq!(other.result_code, 2001);
    assert_eq!(lab.money(ALICE), (982, 0), "a request of its own");
    lab.stop().await;
}
