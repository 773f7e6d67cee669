//! Two OCS instances on one PostgreSQL: many concurrent sessions on the same accounts.

mod ocs_common;

use diameter_apps::ocs::store::{Batch, IdKind, NewAccount, Op, PgStore, Store, SubscriberId};
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
