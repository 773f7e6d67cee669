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
                c.subscription_id = vec![msisdn(user)];
                c.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)];
                ocs(0).handle_ccr(c, SystemTime::now());
                for n in 1..3 {
                    let mut u = base(&s, CcRequestType::UpdateRequest, n, GY);
                    u.multiple_services_credit_control =
                        vec![data_mscc(100, Some(0), Some(4_000_000))];
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
                c.multiple_services_credit_control = vec![data_mscc(100, None, Some(3_000_000))];
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
            reserved: 350
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
            reserved: 50
        }
    );
}
