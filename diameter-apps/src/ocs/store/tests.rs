use super::*;

fn alice() -> SubscriberId {
    SubscriberId::new(IdKind::E164, "491700000001")
}

#[path = "../../../tests/ocs_common/mod.rs"]
mod ocs_common;

thread_local! {
    /// The PostgreSQL the behaviour tests run on (`None`: the module's SQLite backend).
    static BACKEND: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn on_postgres() -> bool {
    BACKEND.with(|b| b.borrow().is_some())
}

/// `sqlite` (the engine) or `sqlite+direct` (the SQL-only store), by module.
fn scheme() -> &'static str {
    if module_path!().ends_with("tests_direct") {
        "sqlite+direct"
    } else {
        "sqlite"
    }
}

fn setup(balance: i64) -> (Arc<dyn Store>, AccountId) {
    let url = BACKEND.with(|b| b.borrow().clone());
    let store = match url {
        Some(kv) => open(&format!("postgres:{kv}")).unwrap(),
        None => open(&format!("{}::memory:", scheme())).unwrap(),
    };
    let id = store
        .add_account(&NewAccount::new(vec![alice()], balance, 978))
        .unwrap();
    (store, id)
}

fn batch(account: AccountId, key: &str, ops: Vec<Op>) -> Batch {
    Batch {
        account,
        session: Some("s1".into()),
        require_session: false,
        peer: None,
        key: Some(key.into()),
        possible_duplicate: true,
        ops,
    }
}

#[test]
fn reserve_settle_close() {
    let (store, id) = setup(1000);
    let b = batch(
        id,
        "s1/1/0",
        vec![
            Op::OpenSession { expires_at: 100 },
            Op::Reserve {
                rating_group: Some(1),
                want: 450,
                block: 100,
            },
            Op::Reserve {
                rating_group: Some(2),
                want: 5000,
                block: 0,
            },
        ],
    );
    let out = store.apply(&b, 0).unwrap();
    assert_eq!(out.results, vec![0, 400, 600]);
    assert_eq!(out.available(), 0);
    let out = store
        .apply(
            &batch(
                id,
                "s1/3/1",
                vec![
                    Op::Settle {
                        rating_group: Some(1),
                        used_cost: 250,
                    },
                    Op::Settle {
                        rating_group: Some(2),
                        used_cost: 100,
                    },
                    Op::CloseSession,
                ],
            ),
            1,
        )
        .unwrap();
    assert_eq!(out.results, vec![250, 100, 0]);
    let acc = store.account(id).unwrap().unwrap();
    assert_eq!((acc.balance, acc.reserved), (650, 0));
    assert_eq!(store.ledger_totals(id).unwrap().debits, 350);
    assert_eq!(store.session_account("s1").unwrap(), None);
}

#[test]
fn settle_never_goes_below_zero() {
    let (store, id) = setup(100);
    store
        .apply(
            &batch(
                id,
                "a",
                vec![Op::Reserve {
                    rating_group: None,
                    want: 60,
                    block: 0,
                }],
            ),
            0,
        )
        .unwrap();
    let out = store
        .apply(
            &batch(
                id,
                "b",
                vec![Op::Settle {
                    rating_group: None,
                    used_cost: 500,
                }],
            ),
            0,
        )
        .unwrap();
    assert_eq!(out.results, vec![100]);
    assert_eq!((out.balance, out.reserved), (0, 0));
}

#[test]
fn same_key_is_charged_once() {
    let (store, id) = setup(1000);
    let b = batch(
        id,
        "ev/4/0",
        vec![Op::Debit {
            amount: 300,
            partial: false,
            reference: None,
        }],
    );
    let first = store.apply(&b, 0).unwrap();
    let again = store.apply(&b, 5).unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(again.results, first.results);
    assert_eq!(store.account(id).unwrap().unwrap().balance, 700);
    assert_eq!(store.ledger_totals(id).unwrap().debits, 300);
}

#[test]
fn a_purge_forgets_only_outcomes_older_than_its_cutoff() {
    let (store, id) = setup(1000);
    let charge = |key: &str, at: i64| {
        let b = batch(
            id,
            key,
            vec![Op::Debit {
                amount: 10,
                partial: false,
                reference: None,
            }],
        );
        store.apply(&b, at).unwrap().replayed
    };
    assert!(!charge("old/4/0", 1_000));
    assert!(!charge("young/4/0", 2_000));
    store.purge_requests(1_500).unwrap();
    // The young outcome is still answered from what was saved, the old one is charged anew.
    assert!(charge("young/4/0", 2_100));
    assert!(!charge("old/4/0", 2_100));
    assert_eq!(store.account(id).unwrap().unwrap().balance, 970);
    assert_eq!(store.ledger_totals(id).unwrap().debits, 30);
}

#[test]
fn debit_refund_check() {
    let (store, id) = setup(100);
    let out = store
        .apply(
            &batch(
                id,
                "k",
                vec![
                    Op::Debit {
                        amount: 150,
                        partial: false,
                        reference: Some("d1".into()),
                    },
                    Op::Check { amount: 100 },
                    Op::Refund {
                        amount: 50,
                        reference: "none".into(),
                    },
                    Op::Check { amount: 150 },
                    Op::Debit {
                        amount: 200,
                        partial: true,
                        reference: None,
                    },
                ],
            ),
            0,
        )
        .unwrap();
    // The first debit (150) fails, so "d1" was never recorded: the refund is refused.
    assert_eq!(out.results, vec![0, 1, REFUND_UNKNOWN, 0, 100]);
    assert_eq!(out.balance, 0);
}

#[test]
fn refund_only_against_a_recorded_debit_and_never_more() {
    let (store, id) = setup(100);
    let other = store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "2")],
            100,
            978,
        ))
        .unwrap();
    let debit = |key: &str, r: &str, amount| {
        batch(
            id,
            key,
            vec![Op::Debit {
                amount,
                partial: false,
                reference: Some(r.into()),
            }],
        )
    };
    let out = store.apply(&debit("d", "ref1", 30), 0).unwrap();
    assert_eq!((out.results[0], out.references[0].as_str()), (30, "ref1"));
    // A replay returns the same reference.
    assert_eq!(
        store.apply(&debit("d", "ref9", 30), 0).unwrap().references[0],
        "ref1"
    );
    let refund = |account, key: &str, r: &str, amount| {
        let mut b = batch(
            account,
            key,
            vec![Op::Refund {
                amount,
                reference: r.into(),
            }],
        );
        b.session = None;
        b
    };
    // Another account cannot use it; an unknown reference is refused.
    assert_eq!(
        store
            .apply(&refund(other, "r0", "ref1", 10), 0)
            .unwrap()
            .results,
        vec![REFUND_UNKNOWN]
    );
    assert_eq!(
        store
            .apply(&refund(id, "r1", "ref2", 10), 0)
            .unwrap()
            .results,
        vec![REFUND_UNKNOWN]
    );
    assert_eq!(
        store
            .apply(&refund(id, "r2", "ref1", 31), 0)
            .unwrap()
            .results,
        vec![REFUND_EXCEEDS]
    );
    assert_eq!(store.account(id).unwrap().unwrap().balance, 70);
    assert_eq!(
        store
            .apply(&refund(id, "r3", "ref1", 20), 0)
            .unwrap()
            .results,
        vec![20]
    );
    // Replayed: not refunded twice.
    assert!(
        store
            .apply(&refund(id, "r3", "ref1", 20), 0)
            .unwrap()
            .replayed
    );
    assert_eq!(
        store
            .apply(&refund(id, "r4", "ref1", 11), 0)
            .unwrap()
            .results,
        vec![REFUND_EXCEEDS]
    );
    assert_eq!(
        store
            .apply(&refund(id, "r5", "ref1", 10), 0)
            .unwrap()
            .results,
        vec![10]
    );
    assert_eq!(store.account(id).unwrap().unwrap().balance, 100);
    assert_eq!(store.account(other).unwrap().unwrap().balance, 100);
    assert_eq!(store.ledger_totals(id).unwrap().refunds, 30);
}

#[test]
fn balance_overflow_is_refused() {
    let (store, id) = setup(0);
    assert!(matches!(
        store.adjust_balance(id, i64::MAX, 0),
        Ok(v) if v == i64::MAX
    ));
    assert!(matches!(
        store.adjust_balance(id, 1, 0),
        Err(StoreError::Refused(_))
    ));
    assert_eq!(store.account(id).unwrap().unwrap().balance, i64::MAX);
    // A refund that would overflow is refused and changes nothing.
    store.adjust_balance(id, -10, 0).unwrap();
    let out = store
        .apply(
            &batch(
                id,
                "d",
                vec![Op::Debit {
                    amount: 5,
                    partial: false,
                    reference: Some("r".into()),
                }],
            ),
            0,
        )
        .unwrap();
    assert_eq!(out.results, vec![5]);
    store.adjust_balance(id, 15, 0).unwrap();
    let out = store
        .apply(
            &batch(
                id,
                "rf",
                vec![Op::Refund {
                    amount: 5,
                    reference: "r".into(),
                }],
            ),
            0,
        )
        .unwrap();
    assert_eq!(out.results, vec![REFUND_OVERFLOW]);
    assert_eq!(store.account(id).unwrap().unwrap().balance, i64::MAX);
}

#[test]
fn a_session_belongs_to_its_account_and_peer() {
    let (store, id) = setup(100);
    let other = store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, "2")],
            100,
            978,
        ))
        .unwrap();
    let open = |account, key: &str, peer: &str| {
        let mut b = batch(
            account,
            key,
            vec![
                Op::OpenSession { expires_at: 50 },
                Op::Reserve {
                    rating_group: Some(1),
                    want: 40,
                    block: 0,
                },
            ],
        );
        b.peer = Some(peer.into());
        b
    };
    assert_eq!(
        store.apply(&open(id, "i1", "pgw"), 0).unwrap().results,
        vec![0, 40]
    );
    // Another account, or another peer: refused, nothing changes.
    assert!(store.apply(&open(other, "i2", "pgw"), 0).unwrap().clash);
    assert!(store.apply(&open(id, "i3", "evil"), 0).unwrap().clash);
    assert_eq!(store.account(other).unwrap().unwrap().reserved, 0);
    assert_eq!(store.account(id).unwrap().unwrap().reserved, 40);
    let mut upd = batch(id, "u1", vec![Op::Touch { expires_at: 90 }]);
    upd.require_session = true;
    upd.peer = Some("evil".into());
    assert!(store.apply(&upd, 0).unwrap().unknown_session);
    upd.peer = Some("pgw".into());
    assert!(!store.apply(&upd, 0).unwrap().unknown_session);
}

#[test]
fn error_classification() {
    use rusqlite::ffi;
    let sqlite =
        |code| StoreError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None));
    assert!(sqlite(ffi::SQLITE_BUSY).is_temporary());
    assert!(sqlite(ffi::SQLITE_LOCKED).is_temporary());
    assert!(!sqlite(ffi::SQLITE_CONSTRAINT).is_temporary());
    assert!(!sqlite(ffi::SQLITE_CORRUPT).is_temporary());
    assert!(StoreError::PoolTimeout(std::time::Duration::from_secs(1)).is_temporary());
    assert!(!StoreError::Corrupt("x".into()).is_temporary());
    assert!(!StoreError::Refused("x".into()).is_temporary());
    assert!(!StoreError::NoSuchAccount(1).is_temporary());
    // A PostgreSQL server that is not there: a connection error, temporary.
    let dir = std::env::temp_dir().join(format!("ocs-nopg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!(
        "host={} port=1 user=postgres connect_timeout=1",
        dir.display()
    );
    match PgStore::connect(&url, 1) {
        Err(e) => assert!(e.is_temporary(), "{e}"),
        Ok(_) => panic!("connected to nothing"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_session_runs_nothing() {
    let (store, id) = setup(100);
    let mut b = batch(
        id,
        "x",
        vec![Op::Debit {
            amount: 10,
            partial: false,
            reference: None,
        }],
    );
    b.require_session = true;
    let out = store.apply(&b, 0).unwrap();
    assert!(out.unknown_session);
    assert_eq!(store.account(id).unwrap().unwrap().balance, 100);
}

#[test]
fn expiry_releases_only_expired_sessions() {
    let (store, id) = setup(100);
    store
        .apply(
            &batch(
                id,
                "i",
                vec![
                    Op::OpenSession { expires_at: 50 },
                    Op::Reserve {
                        rating_group: Some(1),
                        want: 70,
                        block: 0,
                    },
                ],
            ),
            0,
        )
        .unwrap();
    assert!(store.expired_sessions(49, None, 10).unwrap().is_empty());
    let expired = store.expired_sessions(50, None, 10).unwrap();
    assert_eq!(
        expired,
        vec![ExpiredSession {
            session_id: "s1".into(),
            account: id,
            expires_at: 50
        }]
    );
    assert!(store
        .expired_sessions(50, Some(&expired[0]), 10)
        .unwrap()
        .is_empty());
    let mut b = Batch::new(id, Some("s1".into()));
    b.ops.push(Op::CloseIfExpired { now_ms: 40 });
    assert_eq!(store.apply(&b, 40).unwrap().results, vec![-1]);
    b.ops[0] = Op::CloseIfExpired { now_ms: 60 };
    assert_eq!(store.apply(&b, 60).unwrap().results, vec![70]);
    assert_eq!(store.account(id).unwrap().unwrap().available(), 100);
}

#[test]
fn close_expired_in_one_transaction() {
    let (store, id) = setup(1000);
    for i in 0..5 {
        let mut b = batch(
            id,
            &format!("i{i}"),
            vec![
                Op::OpenSession { expires_at: 10 * i },
                Op::Reserve {
                    rating_group: None,
                    want: 10,
                    block: 0,
                },
            ],
        );
        b.session = Some(format!("s{i}"));
        store.apply(&b, 0).unwrap();
    }
    let expired = store.expired_sessions(25, None, 10).unwrap();
    assert_eq!(expired.len(), 3);
    let page = store.expired_sessions(25, None, 2).unwrap();
    let rest = store.expired_sessions(25, page.last(), 2).unwrap();
    assert_eq!((page.len(), rest.len()), (2, 1));
    let closed = store.close_expired(&expired, 25).unwrap();
    assert_eq!(closed.len(), 3);
    assert_eq!(store.account(id).unwrap().unwrap().reserved, 20);
    // Not expired (any more) at that time: left alone.
    assert!(store.close_expired(&expired, 25).unwrap().is_empty());
}

#[test]
fn ensure_and_duplicates() {
    let (store, id) = setup(100);
    assert!(matches!(
        store.add_account(&NewAccount::new(vec![alice()], 5, 978)),
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(
        store
            .ensure_account(&NewAccount::new(vec![alice()], 5, 978))
            .unwrap(),
        id
    );
    assert_eq!(store.account(id).unwrap().unwrap().balance, 100);
    assert_eq!(store.adjust_balance(id, 25, 0).unwrap(), 125);
    assert_eq!(store.ledger_totals(id).unwrap().adjustments, 25);
}

#[test]
fn file_store_is_created_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ocs.db");
    let url = format!("{}://{}", scheme(), path.display());
    {
        let store = open(&url).unwrap();
        store
            .add_account(&NewAccount::new(vec![alice()], 42, 978))
            .unwrap();
    }
    let store = open(&url).unwrap();
    assert_eq!(store.find_account(&alice()).unwrap().unwrap().balance, 42);
}

fn debit(amount: i64) -> Op {
    Op::Debit {
        amount,
        partial: false,
        reference: None,
    }
}

#[test]
fn a_group_commits_together_and_a_failing_batch_undoes_only_itself() {
    let (store, id) = if on_postgres() {
        setup(1000)
    } else {
        let store = open("sqlite+direct::memory:").unwrap();
        let id = store
            .add_account(&NewAccount::new(vec![alice()], 1000, 978))
            .unwrap();
        (store, id)
    };
    // PostgreSQL groups by itself (several groups in flight).
    assert_eq!(store.groups(), !on_postgres());
    let ok1 = batch(id, "g/1", vec![debit(100)]);
    // Debits, then fails (a reservation needs a session): its debit must be undone.
    let mut bad = batch(
        id,
        "g/2",
        vec![
            debit(200),
            Op::Reserve {
                rating_group: None,
                want: 1,
                block: 0,
            },
        ],
    );
    bad.session = None;
    let ok2 = batch(id, "g/3", vec![debit(300)]);
    let missing = batch(id + 1000, "g/4", vec![debit(1)]);
    let out = store.apply_group(&[(&ok1, 0), (&bad, 0), (&ok2, 0), (&missing, 0)]);
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().unwrap().results, vec![100]);
    assert!(
        matches!(out[1], Err(StoreError::Refused(_))),
        "{:?}",
        out[1]
    );
    assert_eq!(out[2].as_ref().unwrap().results, vec![300]);
    assert!(matches!(out[3], Err(StoreError::NoSuchAccount(_))));
    assert_eq!(store.account(id).unwrap().unwrap().balance, 600);
    assert_eq!(store.ledger_totals(id).unwrap().debits, 400);
    assert_eq!(store.request_account("g/1").unwrap(), Some(id));
    assert_eq!(store.request_account("g/2").unwrap(), None);
    // Retransmissions in a later group get the saved outcomes and charge nothing.
    let again = store.apply_group(&[(&ok2, 1), (&ok1, 1)]);
    assert!(again.iter().all(|r| r.as_ref().unwrap().replayed));
    assert_eq!(again[0].as_ref().unwrap().results, vec![300]);
    assert_eq!(store.account(id).unwrap().unwrap().balance, 600);
}

#[test]
fn the_committer_answers_every_waiter_with_its_own_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite+direct://{}", dir.path().join("ocs.db").display());
    let inner = open(&url).unwrap();
    let id = inner
        .add_account(&NewAccount::new(vec![alice()], 10_000, 978))
        .unwrap();
    let store = Arc::new(GroupCommit::new(inner, 16).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..40 {
                    let b = batch(id, &format!("t{t}/{n}"), vec![debit(t + 1)]);
                    let out = store.apply(&b, 0).unwrap();
                    assert_eq!(out.results, vec![t + 1]);
                    assert!(!out.replayed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (groups, batches) = store.stats();
    assert_eq!(batches, 320);
    assert!((20..=320).contains(&groups), "{groups} groups");
    // 40 debits of 1..=8 each: 40 * 36.
    let spent = 40 * 36;
    assert_eq!(store.account(id).unwrap().unwrap().balance, 10_000 - spent);
    // Durable: a fresh connection sees every commit.
    let other = open(&url).unwrap();
    assert_eq!(other.ledger_totals(id).unwrap().debits, spent);
    assert_eq!(
        store
            .apply(&batch(id, "t0/0", vec![debit(1)]), 0)
            .unwrap()
            .results,
        vec![1]
    );
    assert_eq!(store.account(id).unwrap().unwrap().balance, 10_000 - spent);
}

/// A private PostgreSQL cluster for a test that runs once, in the engine's build of this
/// module (it is compiled twice: the engine and the SQL-only store); `None` in the other
/// build and without PostgreSQL (unless REQUIRE_INTEROP is set).
fn postgres_once() -> Option<ocs_common::PgCluster> {
    if scheme() != "sqlite" {
        return None;
    }
    ocs_common::PgCluster::start()
}

/// The behaviour tests above, each on a fresh database of one private PostgreSQL cluster
/// (skipped without PostgreSQL unless REQUIRE_INTEROP is set).
#[test]
fn the_behaviour_tests_pass_on_postgres() {
    let Some(pg) = postgres_once() else {
        return;
    };
    let cases: [(&str, fn()); 14] = [
        ("reserve_settle_close", reserve_settle_close),
        (
            "a_purge_forgets_only_outcomes_older_than_its_cutoff",
            a_purge_forgets_only_outcomes_older_than_its_cutoff,
        ),
        ("settle_never_goes_below_zero", settle_never_goes_below_zero),
        ("same_key_is_charged_once", same_key_is_charged_once),
        ("debit_refund_check", debit_refund_check),
        (
            "refund_only_against_a_recorded_debit_and_never_more",
            refund_only_against_a_recorded_debit_and_never_more,
        ),
        ("balance_overflow_is_refused", balance_overflow_is_refused),
        (
            "a_session_belongs_to_its_account_and_peer",
            a_session_belongs_to_its_account_and_peer,
        ),
        ("unknown_session_runs_nothing", unknown_session_runs_nothing),
        (
            "expiry_releases_only_expired_sessions",
            expiry_releases_only_expired_sessions,
        ),
        (
            "close_expired_in_one_transaction",
            close_expired_in_one_transaction,
        ),
        ("ensure_and_duplicates", ensure_and_duplicates),
        (
            "a_group_commits_together_and_a_failing_batch_undoes_only_itself",
            a_group_commits_together_and_a_failing_batch_undoes_only_itself,
        ),
        (
            "charge_resolves_with_the_outcome",
            charge_resolves_with_the_outcome,
        ),
    ];
    for (name, case) in cases {
        let url = pg.database(&name[..name.len().min(60)]);
        BACKEND.with(|b| *b.borrow_mut() = Some(url));
        eprintln!("postgres: {name}");
        case();
    }
    BACKEND.with(|b| *b.borrow_mut() = None);
}

/// `sqlite://PATH?journal_dir=DIR` keeps the embedded store's journal in `DIR`; any other
/// parameter is refused.
#[test]
fn a_sqlite_url_may_put_the_journal_in_a_directory_of_its_own() {
    if scheme() != "sqlite" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ocs.db");
    let jdir = dir.path().join("journal");
    let url = format!("sqlite://{}?journal_dir={}", db.display(), jdir.display());
    let store = super::open(&url).unwrap();
    let id = ocs_common::add_e164(&*store, "491700000001", 500);
    store.apply(&batch(id, "j/1", vec![debit(20)]), 0).unwrap();
    let names = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(names(&jdir)
        .iter()
        .any(|n| n.starts_with("ocs.db.journal.0")));
    assert!(!names(dir.path())
        .iter()
        .any(|n| n.starts_with("ocs.db.journal.0")));
    drop(store);
    let bad = format!("sqlite://{}?journal={}", db.display(), jdir.display());
    let Err(StoreError::Config(e)) = super::open(&bad) else {
        panic!("an unknown parameter was accepted");
    };
    assert!(e.contains("journal_dir=DIR"), "{e}");
}

/// The group transaction's look-ups and write-back plan as index scans on a new, empty
/// database (where a generic plan would otherwise be a sequential scan, and stay one as the
/// tables grow), on the store's own connections.
#[test]
fn postgres_group_statements_plan_as_index_scans_on_empty_tables() {
    let Some(pg) = postgres_once() else {
        return;
    };
    let store = super::postgres::PgStore::connect(&pg.database("plans"), 1).unwrap();
    let plans = store.group_plans().unwrap();
    assert_eq!(plans.len(), 4);
    for plan in &plans {
        assert!(plan.contains("Index"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}

#[test]
fn charge_resolves_with_the_outcome() {
    let (store, id) = setup(100);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = batch(id, "c/1", vec![debit(30)]);
    let out = rt.block_on(store.clone().charge(b.clone(), 0)).unwrap();
    assert_eq!((out.results, out.replayed), (vec![30], false));
    // Charged once; `apply` from inside async code works too (no nested block_on).
    let again = rt.block_on(async {
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.apply(&b, 0))
            .await
            .unwrap()
    });
    assert!(again.unwrap().replayed);
    assert_eq!(store.account(id).unwrap().unwrap().balance, 70);
}
