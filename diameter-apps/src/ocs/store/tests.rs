use super::*;

fn alice() -> SubscriberId {
    SubscriberId::new(IdKind::E164, "491700000001")
}

fn setup(balance: i64) -> (Arc<dyn Store>, AccountId) {
    let store = open("sqlite::memory:").unwrap();
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
        key: Some(key.into()),
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
                    },
                    Op::Check { amount: 100 },
                    Op::Refund { amount: 50 },
                    Op::Check { amount: 150 },
                    Op::Debit {
                        amount: 200,
                        partial: true,
                    },
                ],
            ),
            0,
        )
        .unwrap();
    assert_eq!(out.results, vec![0, 1, 50, 1, 150]);
    assert_eq!(out.balance, 0);
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
    assert!(store.expired_sessions(49, 10).unwrap().is_empty());
    assert_eq!(
        store.expired_sessions(50, 10).unwrap(),
        vec![("s1".to_string(), id)]
    );
    let mut b = Batch::new(id, Some("s1".into()));
    b.ops.push(Op::CloseIfExpired { now_ms: 40 });
    assert_eq!(store.apply(&b, 40).unwrap().results, vec![-1]);
    b.ops[0] = Op::CloseIfExpired { now_ms: 60 };
    assert_eq!(store.apply(&b, 60).unwrap().results, vec![70]);
    assert_eq!(store.account(id).unwrap().unwrap().available(), 100);
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
    let dir = std::env::temp_dir().join(format!("ocs-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ocs.db");
    let url = format!("sqlite://{}", path.display());
    {
        let store = open(&url).unwrap();
        store
            .add_account(&NewAccount::new(vec![alice()], 42, 978))
            .unwrap();
    }
    let store = open(&url).unwrap();
    assert_eq!(store.find_account(&alice()).unwrap().unwrap().balance, 42);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
