//! JSON-line export of charging records, at least once and deduplicated.
//!
//! A session's record is committed before its JSON line is written; the line is marked
//! written in the store afterwards ([`super::store::GroupCommit::mark_exported`]). A
//! crash in between leaves the session unmarked: at the next start [`recover`] writes the
//! lines of this node's unmarked sessions, skipping those whose line the end of the file
//! already holds (written, not yet marked), so each appears once. A line cut short by the
//! crash is removed first. On standard output there is no file to check: lines may then
//! appear twice (at least once).

use super::serve::RecordsSink;
use super::store::{Backend, ChargingRecord, StoreError};
use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Default bytes at the end of the records file searched for lines already written.
pub const DEFAULT_RECHECK_BYTES: u64 = 8 << 20;

/// Errors of [`recover`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The records file failed.
    #[error("records file: {0}")]
    Io(#[from] std::io::Error),
}

/// One charging record as its JSON line (with the newline).
pub fn line(record: &ChargingRecord) -> String {
    let mut l = serde_json::to_string(record).unwrap_or_default();
    l.push('\n');
    l
}

/// Writes the lines of this node's closed sessions that were never marked written (see
/// the module docs), then marks them; returns how many lines it wrote. `recheck_bytes`
/// bounds how much of the file's end is searched for lines already there.
pub fn recover(
    store: &mut dyn Backend,
    sink: &RecordsSink,
    recheck_bytes: u64,
) -> Result<usize, ExportError> {
    let pending = store.unexported()?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut written = 0;
    match sink {
        RecordsSink::None => {}
        RecordsSink::Stdout => {
            let mut out = std::io::stdout().lock();
            for rec in &pending {
                out.write_all(line(rec).as_bytes())?;
                written += 1;
            }
            out.flush()?;
        }
        RecordsSink::File(path) => {
            let present = repair_and_scan(path, recheck_bytes)?;
            let mut f = OpenOptions::new().create(true).append(true).open(path)?;
            for rec in pending.iter().filter(|r| !present.contains(&r.session_id)) {
                f.write_all(line(rec).as_bytes())?;
                written += 1;
            }
            f.sync_data()?;
        }
    }
    let ids: Vec<String> = pending.into_iter().map(|r| r.session_id).collect();
    store.mark_exported(&ids)?;
    Ok(written)
}

/// Cuts a last line without its newline (a write the crash interrupted) and returns the
/// Session-Ids of the lines in the last `recheck_bytes` of the file.
fn repair_and_scan(path: &Path, recheck_bytes: u64) -> std::io::Result<HashSet<String>> {
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let from = len.saturating_sub(recheck_bytes);
    f.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    (&mut f).take(recheck_bytes).read_to_end(&mut tail)?;
    let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < tail.len() && (complete > 0 || from == 0) {
        f.set_len(from + complete as u64)?;
        tail.truncate(complete);
    }
    let mut present = HashSet::new();
    // The first line of a window that starts mid-file may be cut: it fails to parse.
    for l in tail.split(|&b| b == b'\n') {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(l) {
            if let Some(sid) = v.get("session_id").and_then(|s| s.as_str()) {
                present.insert(sid.to_owned());
            }
        }
    }
    Ok(present)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acct::store::{RecordStore, Stored};
    use diameter::dict::base_rfc6733::{AccountingRecordType as Rt, Acr};

    fn event(sid: &str) -> Acr {
        Acr {
            session_id: sid.into(),
            origin_host: "sbc.example.net".into(),
            origin_realm: "example.net".into(),
            destination_realm: "example.net".into(),
            accounting_record_type: Rt::EventRecord,
            ..Default::default()
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("whole JSON lines");
                v["session_id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// Three closed sessions at a crash: e1 written and marked, e2 written (and a torn
    /// half line after it) but not marked, e3 committed only. Recovery writes e3 alone,
    /// cuts the torn line, and a second recovery writes nothing.
    #[test]
    fn recovery_writes_each_missing_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("records.jsonl");
        let mut store = RecordStore::open(&dir.path().join("acct.db"))
            .unwrap()
            .node("cdf");
        let mut recs = Vec::new();
        for sid in ["e1", "e2", "e3"] {
            let out = store.apply_group(&[(event(sid), 1)]).unwrap();
            let [Stored::New(Some(rec))] = &out[..] else {
                panic!("{out:?}")
            };
            recs.push(rec.clone());
        }
        let torn = &line(&recs[2])[..20];
        std::fs::write(&file, format!("{}{}{torn}", line(&recs[0]), line(&recs[1]))).unwrap();
        Backend::mark_exported(&mut store, &["e1".into()]).unwrap();

        let sink = RecordsSink::File(file.clone());
        assert_eq!(
            recover(&mut store, &sink, DEFAULT_RECHECK_BYTES).unwrap(),
            1
        );
        assert_eq!(lines(&file), ["e1", "e2", "e3"]);
        assert_eq!(
            recover(&mut store, &sink, DEFAULT_RECHECK_BYTES).unwrap(),
            0
        );
        assert_eq!(lines(&file), ["e1", "e2", "e3"]);
    }

    /// Another node's closed sessions are not this node's to write.
    #[test]
    fn recovery_leaves_other_nodes_sessions_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("acct.db");
        let mut a = RecordStore::open(&db).unwrap().node("cdf-a");
        a.apply_group(&[(event("by-a"), 1)]).unwrap();
        let mut b = RecordStore::open(&db).unwrap().node("cdf-b");
        let file = dir.path().join("b.jsonl");
        let sink = RecordsSink::File(file.clone());
        assert_eq!(recover(&mut b, &sink, DEFAULT_RECHECK_BYTES).unwrap(), 0);
        assert_eq!(Backend::unexported(&mut a).unwrap().len(), 1);
    }
}
