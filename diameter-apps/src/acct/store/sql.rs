//! The record store's rules, written once for any connection that can run a statement
//! ([`Conn`]): SQLite and PostgreSQL share every statement.
//!
//! Exactly once: a record is inserted under its primary key (Session-Id,
//! Accounting-Record-Type, Accounting-Record-Number) with `ON CONFLICT DO NOTHING`; no row
//! inserted means a duplicate, which changes nothing else. Merging: the session row is
//! upserted in the same transaction (earliest first, latest last, START and STOP times
//! kept once, record count, largest cumulative volumes, the Rf Service-Information of the
//! highest-numbered record that carried one). Statements use `$1, $2, …` in order (SQLite
//! binds those by position too) and only syntax both databases accept.

use super::{ChargingRecord, StoreError, Stored};
use diameter::dict::base_rfc6733::{AccountingRecordType as Rt, Acr};

/// Accounting-Input-Octets (RFC 7155 §10.2).
pub(crate) const ACCOUNTING_INPUT_OCTETS: u32 = 363;
/// Accounting-Output-Octets (RFC 7155 §10.2).
pub(crate) const ACCOUNTING_OUTPUT_OCTETS: u32 = 364;

/// A statement parameter.
pub(crate) enum P<'a> {
    /// TEXT.
    Text(&'a str),
    /// TEXT or NULL.
    OptText(Option<&'a str>),
    /// BIGINT.
    Int(i64),
    /// BIGINT or NULL.
    OptInt(Option<i64>),
}

/// A column value read back.
#[derive(Debug)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Int(i64),
}

/// What a backend provides.
pub(crate) trait Conn {
    /// Runs a statement; returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[P<'_>]) -> Result<u64, StoreError>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[P<'_>]) -> Result<Vec<Vec<Cell>>, StoreError>;
}

fn int(row: &[Cell], i: usize) -> Result<i64, StoreError> {
    match row.get(i) {
        Some(Cell::Int(v)) => Ok(*v),
        other => Err(StoreError(format!("column {i}: {other:?}"))),
    }
}

fn opt_int(row: &[Cell], i: usize) -> Result<Option<i64>, StoreError> {
    match row.get(i) {
        Some(Cell::Null) => Ok(None),
        _ => int(row, i).map(Some),
    }
}

fn text(row: &[Cell], i: usize) -> Result<String, StoreError> {
    match row.get(i) {
        Some(Cell::Text(s)) => Ok(s.clone()),
        other => Err(StoreError(format!("column {i}: {other:?}"))),
    }
}

fn opt_text(row: &[Cell], i: usize) -> Result<Option<String>, StoreError> {
    match row.get(i) {
        Some(Cell::Null) => Ok(None),
        _ => text(row, i).map(Some),
    }
}

fn octets(acr: &Acr, code: u32) -> Option<u64> {
    acr.other
        .iter()
        .find(|a| a.code == code && a.vendor == 0)
        .and_then(|a| <[u8; 8]>::try_from(&a.data[..]).ok())
        .map(u64::from_be_bytes)
}

/// The Rf Service-Information of `acr` as JSON text.
fn service_information(acr: &Acr) -> Option<String> {
    acr.service_information
        .as_deref()
        .map(|si| crate::acct::avp_json::group_to_json(si).to_string())
}

/// The session row's merge (CASE instead of two-argument MIN/MAX, which PostgreSQL
/// spells LEAST/GREATEST).
const SESSION_UPSERT: &str = "INSERT INTO acct_sessions (session_id, origin_host, user_name,
         first_ms, last_ms, start_ms, stop_ms, records, input_octets, output_octets, closed,
         service_context_id, service_information, service_information_number, closed_by)
     VALUES ($1, $2, $3, $4, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (session_id) DO UPDATE SET
         user_name = COALESCE(acct_sessions.user_name, excluded.user_name),
         first_ms = CASE WHEN excluded.first_ms < acct_sessions.first_ms
             THEN excluded.first_ms ELSE acct_sessions.first_ms END,
         last_ms = CASE WHEN excluded.last_ms > acct_sessions.last_ms
             THEN excluded.last_ms ELSE acct_sessions.last_ms END,
         start_ms = COALESCE(acct_sessions.start_ms, excluded.start_ms),
         stop_ms = COALESCE(acct_sessions.stop_ms, excluded.stop_ms),
         records = acct_sessions.records + 1,
         input_octets = CASE WHEN excluded.input_octets > acct_sessions.input_octets
             THEN excluded.input_octets ELSE acct_sessions.input_octets END,
         output_octets = CASE WHEN excluded.output_octets > acct_sessions.output_octets
             THEN excluded.output_octets ELSE acct_sessions.output_octets END,
         closed = CASE WHEN excluded.closed > acct_sessions.closed
             THEN excluded.closed ELSE acct_sessions.closed END,
         service_context_id = COALESCE(acct_sessions.service_context_id,
             excluded.service_context_id),
         service_information = CASE WHEN excluded.service_information IS NOT NULL
             AND (acct_sessions.service_information_number IS NULL
                 OR excluded.service_information_number
                     > acct_sessions.service_information_number)
             THEN excluded.service_information ELSE acct_sessions.service_information END,
         service_information_number = CASE WHEN excluded.service_information IS NOT NULL
             AND (acct_sessions.service_information_number IS NULL
                 OR excluded.service_information_number
                     > acct_sessions.service_information_number)
             THEN excluded.service_information_number
             ELSE acct_sessions.service_information_number END,
         closed_by = COALESCE(acct_sessions.closed_by, excluded.closed_by)";

/// Stores one ACR received at `now_ms` (inside the caller's transaction); `node` names
/// the node that writes the JSON line of a session this record closes.
pub(crate) fn apply_one(
    c: &mut dyn Conn,
    acr: &Acr,
    now_ms: i64,
    node: &str,
) -> Result<Stored, StoreError> {
    let sid = acr.session_id.as_str();
    let kind = acr.accounting_record_type;
    let inserted = c.exec(
        "INSERT INTO acct_records (session_id, record_type, record_number, received_ms)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[
            P::Text(sid),
            P::Int(i32::from(kind).into()),
            P::Int(acr.accounting_record_number.into()),
            P::Int(now_ms),
        ],
    )?;
    if inserted == 0 {
        return Ok(Stored::Duplicate);
    }
    let start = (kind == Rt::StartRecord).then_some(now_ms);
    let closes = matches!(kind, Rt::StopRecord | Rt::EventRecord);
    let stop = closes.then_some(now_ms);
    let input = octets(acr, ACCOUNTING_INPUT_OCTETS).unwrap_or(0) as i64;
    let output = octets(acr, ACCOUNTING_OUTPUT_OCTETS).unwrap_or(0) as i64;
    let si = service_information(acr);
    let si_number = si.as_ref().map(|_| i64::from(acr.accounting_record_number));
    c.exec(
        SESSION_UPSERT,
        &[
            P::Text(sid),
            P::Text(acr.origin_host.as_str()),
            P::OptText(acr.user_name.as_ref().map(|u| u.as_str())),
            P::Int(now_ms),
            P::OptInt(start),
            P::OptInt(stop),
            P::Int(input),
            P::Int(output),
            P::Int(closes as i64),
            P::OptText(acr.service_context_id.as_ref().map(|c| c.as_str())),
            P::OptText(si.as_deref()),
            P::OptInt(si_number),
            P::OptText(closes.then_some(node)),
        ],
    )?;
    if !closes {
        return Ok(Stored::New(None));
    }
    let mut rec = read_session(c, sid)?;
    if let Some(r) = &mut rec {
        if kind == Rt::EventRecord {
            r.kind = "event";
        }
    }
    Ok(Stored::New(rec))
}

/// The merged record of a session (closed or not).
pub(crate) fn read_session(
    c: &mut dyn Conn,
    sid: &str,
) -> Result<Option<ChargingRecord>, StoreError> {
    let rows = c.query(
        "SELECT origin_host, user_name, first_ms, last_ms, start_ms, stop_ms, records,
                input_octets, output_octets, service_context_id, service_information
         FROM acct_sessions WHERE session_id = $1",
        &[P::Text(sid)],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let first_ms = int(r, 2)?;
    let last_ms = int(r, 3)?;
    let start = opt_int(r, 4)?;
    let stop = opt_int(r, 5)?;
    let span = match (start, stop) {
        (Some(a), Some(b)) => b - a,
        _ => last_ms - first_ms,
    };
    Ok(Some(ChargingRecord {
        session_id: sid.into(),
        origin_host: text(r, 0)?,
        user_name: opt_text(r, 1)?,
        kind: if start.is_some() { "session" } else { "event" },
        first_ms,
        last_ms,
        duration_s: span.max(0) as f64 / 1000.0,
        records: int(r, 6)?,
        input_octets: int(r, 7)? as u64,
        output_octets: int(r, 8)? as u64,
        service_context_id: opt_text(r, 9)?,
        service_information: opt_text(r, 10)?.and_then(|t| serde_json::from_str(&t).ok()),
    }))
}

/// The closed sessions whose JSON line `node` has not confirmed written, oldest first.
pub(crate) fn unexported(c: &mut dyn Conn, node: &str) -> Result<Vec<ChargingRecord>, StoreError> {
    let rows = c.query(
        "SELECT session_id FROM acct_sessions
         WHERE closed = 1 AND exported = 0 AND closed_by = $1 ORDER BY last_ms",
        &[P::Text(node)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(rec) = read_session(c, &text(&r, 0)?)? {
            out.push(rec);
        }
    }
    Ok(out)
}

/// Marks sessions' JSON lines as written.
pub(crate) fn mark_exported(c: &mut dyn Conn, session_ids: &[String]) -> Result<(), StoreError> {
    for sid in session_ids {
        c.exec(
            "UPDATE acct_sessions SET exported = 1 WHERE session_id = $1",
            &[P::Text(sid)],
        )?;
    }
    Ok(())
}

/// How many records are stored.
pub(crate) fn record_count(c: &mut dyn Conn) -> Result<u64, StoreError> {
    let rows = c.query("SELECT COUNT(*) FROM acct_records", &[])?;
    let n = rows.first().map(|r| int(r, 0)).transpose()?.unwrap_or(0);
    Ok(n as u64)
}

/// The order to apply a group in: by Session-Id, so that two nodes committing groups on
/// one database take the rows' locks in the same order (no deadlock between them).
pub(crate) fn lock_order(acrs: &[(Acr, i64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..acrs.len()).collect();
    order.sort_by(|&a, &b| {
        acrs[a]
            .0
            .session_id
            .as_str()
            .cmp(acrs[b].0.session_id.as_str())
    });
    order
}
