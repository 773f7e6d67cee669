//! The accounting server's record store on PostgreSQL (a private cluster per test):
//! the rules of the SQLite store, group commit, and two CDF nodes on one database.

mod ocs_common;

use diameter::dict::base_rfc6733::{Aca, AccountingRecordType as Rt, Acr};
use diameter_apps::acct::serve::{start, RecordsSink, ServeOptions, APPLICATION_ID};
use diameter_apps::acct::store::{Backend, GroupCommit, PgRecordStore, Stored};
use diameter_core::node::{Node, PeerConfig};
use std::sync::Arc;
use std::time::Duration;

fn acr(sid: &str, kind: Rt, n: u32) -> Acr {
    Acr {
        session_id: sid.into(),
        origin_host: "sbc.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        accounting_record_type: kind,
        accounting_record_number: n,
        ..Default::default()
    }
}

/// Two stores (as two nodes would have) commit groups of the same sessions' records at
/// once, every record twice: each is stored once, each session merged once, and exactly
/// one of the two STOPs reports the closed session.
#[test]
fn pg_two_stores_store_every_record_once() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    let a = Arc::new(GroupCommit::new(
        PgRecordStore::connect(&pg.url).unwrap(),
        32,
    ));
    let b = Arc::new(GroupCommit::new(
        PgRecordStore::connect(&pg.url).unwrap(),
        32,
    ));
    let sessions = 20;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let gc = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                let mut closed = 0;
                for s in 0..sessions {
                    let sid = format!("s{s}");
                    for (kind, n) in [
                        (Rt::StartRecord, 0),
                        (Rt::InterimRecord, 1),
                        (Rt::StopRecord, 2),
                    ] {
                        match gc.apply(acr(&sid, kind, n), 1_000 + i64::from(n)).unwrap() {
                            Stored::New(Some(rec)) => {
                                assert_eq!(rec.records, 3, "{rec:?}");
                                closed += 1;
                            }
                            Stored::New(None) | Stored::Duplicate => {}
                        }
                    }
                }
                closed
            })
        })
        .collect();
    let closed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(closed, sessions, "one closing STOP per session");
    drop((a, b));
    let mut store = PgRecordStore::connect(&pg.url).unwrap();
    assert_eq!(store.record_count().unwrap(), 3 * sessions as u64);
    let rec = store.session("s7").unwrap().unwrap();
    assert_eq!(
        (rec.kind, rec.records, rec.duration_s),
        ("session", 3, 0.002)
    );
}

async fn cdf(
    url: &str,
    host: &str,
    records: std::path::PathBuf,
) -> diameter_apps::acct::serve::AcctHandle {
    start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = host.into();
        o.origin_realm = "example.net".into();
        o.store = url.into();
        o.records = RecordsSink::File(records);
        o
    })
    .await
    .expect("CDF on PostgreSQL")
}

/// Two `serve acct` nodes on one database: a session's START reaches one node and its
/// STOP the other; retransmissions reach both. Every record is stored once and every
/// session written as exactly one JSON line over the two nodes' files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_two_cdf_nodes_share_one_database() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let url = pg.uri();
        let a = cdf(&url, "cdf-a.example.net", dir.path().join("a.jsonl")).await;
        let b = cdf(&url, "cdf-b.example.net", dir.path().join("b.jsonl")).await;
        let node = Node::builder()
            .origin_host("sbc.example.net")
            .origin_realm("example.net")
            .acct_application(APPLICATION_ID)
            .peer(PeerConfig::new("cdf-a.example.net", a.local_addrs()[0]))
            .peer(PeerConfig::new("cdf-b.example.net", b.local_addrs()[0]))
            .build()
            .await
            .unwrap();
        assert!(
            node.wait_peer("cdf-a.example.net", Duration::from_secs(10))
                .await
        );
        assert!(
            node.wait_peer("cdf-b.example.net", Duration::from_secs(10))
                .await
        );
        let to = |host: &str, mut r: Acr| {
            r.destination_host = Some(host.into());
            r
        };
        let n = 10;
        for s in 0..n {
            let sid = format!("sbc;two;{s}");
            for (host, kind, num) in [
                ("cdf-a.example.net", Rt::StartRecord, 0),
                ("cdf-b.example.net", Rt::StartRecord, 0),
                ("cdf-b.example.net", Rt::StopRecord, 1),
                ("cdf-a.example.net", Rt::StopRecord, 1),
            ] {
                let aca: Aca = node
                    .send(&to(host, acr(&sid, kind, num)), APPLICATION_ID)
                    .await
                    .unwrap();
                assert_eq!(aca.result_code, 2001);
            }
        }
        node.stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
        a.stop().await;
        b.stop().await;
        let mut lines = Vec::new();
        for f in ["a.jsonl", "b.jsonl"] {
            let text = std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
            lines.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
            );
        }
        assert_eq!(lines.len(), n, "{lines:#?}");
        assert!(lines.iter().all(|l| l["records"] == 2), "{lines:#?}");
        let count = tokio::task::spawn_blocking(move || {
            PgRecordStore::connect(&url)
                .unwrap()
                .record_count()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(count, 2 * n as u64);
    })
    .await
    .expect("in time");
}
