//! The record store's rules, on SQLite.

use super::sql::ACCOUNTING_INPUT_OCTETS;
use super::*;
use diameter::dict::base_rfc6733::AccountingRecordType as Rt;
use diameter_core::bytes::Bytes;
use diameter_core::RawAvp;

fn acr(sid: &str, kind: Rt, n: u32, input: Option<u64>) -> Acr {
    Acr {
        session_id: sid.into(),
        origin_host: "sbc.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        accounting_record_type: kind,
        accounting_record_number: n,
        user_name: Some("alice".into()),
        other: input
            .map(|v| {
                vec![RawAvp::new(
                    ACCOUNTING_INPUT_OCTETS,
                    0x40,
                    0,
                    Bytes::copy_from_slice(&v.to_be_bytes()),
                )]
            })
            .unwrap_or_default()
            .into(),
        ..Default::default()
    }
}

#[test]
fn start_interim_stop_merge_into_one_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RecordStore::open(&dir.path().join("acct.db")).unwrap();
    let out = s
        .apply_group(&[
            (acr("s1", Rt::StartRecord, 0, None), 1_000),
            (acr("s1", Rt::InterimRecord, 1, Some(500)), 31_000),
            (acr("s1", Rt::InterimRecord, 1, Some(500)), 31_500),
        ])
        .unwrap();
    assert_eq!(
        out,
        vec![Stored::New(None), Stored::New(None), Stored::Duplicate]
    );
    let out = s
        .apply_group(&[(acr("s1", Rt::StopRecord, 2, Some(900)), 61_000)])
        .unwrap();
    let Stored::New(Some(rec)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(rec.kind, "session");
    assert_eq!(rec.records, 3);
    assert_eq!(rec.duration_s, 60.0);
    assert_eq!(rec.input_octets, 900);
    assert_eq!(rec.user_name.as_deref(), Some("alice"));
    assert_eq!(s.record_count().unwrap(), 3);
    // A late interim with a lower cumulative volume does not lower it.
    let dup = s
        .apply_group(&[(acr("s1", Rt::StopRecord, 2, Some(900)), 62_000)])
        .unwrap();
    assert_eq!(dup, vec![Stored::Duplicate]);
    assert_eq!(s.session("s1").unwrap().unwrap().records, 3);
}

#[test]
fn rf_service_information_of_the_highest_record_is_kept_as_json() {
    use diameter::dict::tgpp_ts32299::{ImsInformation, NodeFunctionality, ServiceInformation};
    use diameter_core::Boxed;
    let rf = |node: NodeFunctionality| {
        Some(Boxed::new(ServiceInformation {
            ims_information: Some(Boxed::new(ImsInformation {
                node_functionality: node,
                ..Default::default()
            })),
            ..Default::default()
        }))
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = RecordStore::open(&dir.path().join("acct.db")).unwrap();
    let mut start = acr("rf", Rt::StartRecord, 0, None);
    start.service_context_id = Some("32260@3gpp.org".into());
    start.service_information = rf(NodeFunctionality::PCscf);
    let mut stop = acr("rf", Rt::StopRecord, 2, None);
    stop.service_information = rf(NodeFunctionality::SCscf);
    // The interim (number 1) comes last, from a client's storage: it does not win.
    let mut interim = acr("rf", Rt::InterimRecord, 1, None);
    interim.service_information = rf(NodeFunctionality::ICscf);
    s.apply_group(&[(start, 1_000), (stop, 2_000), (interim, 3_000)])
        .unwrap();
    let rec = s.session("rf").unwrap().unwrap();
    assert_eq!(rec.service_context_id.as_deref(), Some("32260@3gpp.org"));
    let si = rec.service_information.clone().expect("kept");
    assert_eq!(
        si["IMS-Information"]["Node-Functionality"], "S_CSCF",
        "{si}"
    );
    let line = serde_json::to_value(&rec).unwrap();
    assert_eq!(line["service_context_id"], "32260@3gpp.org");
    // A base accounting record has neither key.
    s.apply_group(&[(acr("base", Rt::EventRecord, 0, None), 5)])
        .unwrap();
    let base = serde_json::to_value(s.session("base").unwrap().unwrap()).unwrap();
    assert!(base.get("service_information").is_none(), "{base}");
}

#[test]
fn an_event_is_a_closed_record_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acct.db");
    {
        let gc = GroupCommit::new(RecordStore::open(&path).unwrap(), 8);
        let Stored::New(Some(rec)) = gc.apply(acr("e1", Rt::EventRecord, 0, None), 5).unwrap()
        else {
            panic!()
        };
        assert_eq!(rec.kind, "event");
        assert_eq!(rec.duration_s, 0.0);
    }
    let s = RecordStore::open(&path).unwrap();
    assert_eq!(s.record_count().unwrap(), 1);
}

#[test]
fn concurrent_acrs_share_commits_and_each_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acct.db");
    let gc = std::sync::Arc::new(GroupCommit::new(RecordStore::open(&path).unwrap(), 64));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let gc = gc.clone();
            std::thread::spawn(move || {
                for n in 0..20u32 {
                    // Every record twice: the second is a duplicate.
                    for _ in 0..2 {
                        let kind = if n == 0 {
                            Rt::StartRecord
                        } else {
                            Rt::InterimRecord
                        };
                        gc.apply(acr(&format!("s{t}"), kind, n, None), 1).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(gc);
    assert_eq!(
        RecordStore::open(&path).unwrap().record_count().unwrap(),
        160
    );
}
