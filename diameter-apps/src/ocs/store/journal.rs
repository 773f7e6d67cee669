//! The engine's durable log: an append-only journal of [`Record`]s in segment files next to
//! the database (`<db>.journal.<first LSN>`), group-committed by a syncer thread.
//!
//! A record on disk is `[length u32][CRC-32 u32][payload]` (little endian; the CRC covers the
//! payload), the payload `[LSN u64][kind u8][body]`. LSNs count up by one from 1. Appending
//! ([`Journal::append`]) only copies the encoded record into a buffer; the syncer writes
//! everything appended while its previous write and `fdatasync` ran, syncs it, and then
//! publishes the new durable LSN ([`Journal::wait`], [`Journal::wait_async`]). A failed
//! write or sync stops the journal: nothing appended after it becomes durable and every
//! waiter gets [`StoreError::Stopped`].
//!
//! [`Journal::rotate`] starts a new segment at the next LSN (the checkpoint does this, then
//! deletes the older segments once SQLite holds their records). Recovery
//! ([`read_segments`]) reads the segments in order; a torn or corrupt tail of the last
//! segment (a crash in the middle of a write) is ignored, corruption anywhere else is an
//! error.

use super::wake_relay::{wake_all, Relay, Relays};
use super::{AccountId, Batch, CommitObserver, IdKind, NewAccount, Op, StoreError, SubscriberId};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Default number of syncer threads: overlapping `fdatasync`s cut the wait for durability
/// (on the 2-core VM of the README's figures, one thread synced 290 times a second, four
/// threads together 8,800 times).
pub const DEFAULT_SYNCERS: usize = 4;

/// Default [`EngineOptions::journal_overlap_after`](super::EngineOptions::journal_overlap_after):
/// 2 ms. A second `fdatasync` starts only once the one in flight has run this long, so a fast
/// disk gets one sync at a time (fewer, bigger groups: less CPU per record) and a slow one
/// still gets overlapping syncs.
pub const DEFAULT_OVERLAP_AFTER: Duration = Duration::from_millis(2);

/// Default [`EngineOptions::journal_sync_interval`](super::EngineOptions::journal_sync_interval):
/// 1 ms. At 80,000 CCR/s on the README's 2-CPU VM this halved the journal's CPU and bytes
/// written per CCR (2.5–2.7 → 1.4–1.5 µs, 520 → 290 bytes) and lowered p99, for about 0.3 ms
/// more at the median at half that rate.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(1);

/// How the journal's syncer threads share the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPolicy {
    /// Syncer threads, the most `fdatasync`s in flight at once (at least one; default
    /// [`DEFAULT_SYNCERS`]).
    pub syncers: usize,
    /// A syncer starts another `fdatasync` while one is in flight only after that one has
    /// run this long (default [`DEFAULT_OVERLAP_AFTER`]; zero: overlap at once).
    pub overlap_after: Duration,
    /// The least time between the starts of two `fdatasync`s when none is in flight
    /// (default [`DEFAULT_SYNC_INTERVAL`]; zero: sync at once). Records appended meanwhile
    /// join the next sync: fewer, larger syncs under load; an idle journal syncs at once,
    /// and so does one whose producers said they are idle ([`Journal::producers_idle`]).
    pub min_interval: Duration,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            syncers: DEFAULT_SYNCERS,
            overlap_after: DEFAULT_OVERLAP_AFTER,
            min_interval: DEFAULT_SYNC_INTERVAL,
        }
    }
}

/// The largest record accepted when reading (a longer length is taken as corruption).
const MAX_RECORD: usize = 16 << 20;

/// One change of the engine's state, as journaled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A charging batch that ran (not replayed, not refused) at `now_ms`.
    Batch { now_ms: i64, batch: Batch },
    /// An account created under `id`.
    AddAccount { id: AccountId, account: NewAccount },
    /// An operator adjustment.
    Adjust {
        id: AccountId,
        delta: i64,
        now_ms: i64,
    },
    /// The Tcc sweep closing these sessions (in lock order).
    CloseExpired {
        sessions: Vec<(String, AccountId)>,
        now_ms: i64,
    },
    /// Saved outcomes older than this are forgotten.
    Purge { before_ms: i64 },
}

// ---- CRC-32 (IEEE 802.3, reflected, as zlib) ----

/// CRC-32 of `data` (`crc32fast`: the CPU's carry-less multiply where it has one; on a
/// 200-byte record 9 ns against 390 ns for the byte-wise table it replaces).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

// ---- encoding ----

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn put_rg(out: &mut Vec<u8>, rg: Option<u32>) {
    match rg {
        Some(v) => {
            out.push(1);
            put_u32(out, v);
        }
        None => out.push(0),
    }
}

fn put_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::OpenSession { expires_at } => {
            out.push(0);
            put_i64(out, *expires_at);
        }
        Op::Touch { expires_at } => {
            out.push(1);
            put_i64(out, *expires_at);
        }
        Op::Settle {
            rating_group,
            used_cost,
        } => {
            out.push(2);
            put_rg(out, *rating_group);
            put_i64(out, *used_cost);
        }
        Op::Reserve {
            rating_group,
            want,
            block,
        } => {
            out.push(3);
            put_rg(out, *rating_group);
            put_i64(out, *want);
            put_i64(out, *block);
        }
        Op::CloseSession => out.push(4),
        Op::CloseIfExpired { now_ms } => {
            out.push(5);
            put_i64(out, *now_ms);
        }
        Op::Debit {
            amount,
            partial,
            reference,
        } => {
            out.push(6);
            put_i64(out, *amount);
            out.push(u8::from(*partial));
            put_opt_str(out, reference.as_deref());
        }
        Op::Refund { amount, reference } => {
            out.push(7);
            put_i64(out, *amount);
            put_str(out, reference);
        }
        Op::Check { amount } => {
            out.push(8);
            put_i64(out, *amount);
        }
    }
}

/// The body of [`Record::Batch`], with its kind.
fn put_batch(out: &mut Vec<u8>, now_ms: i64, batch: &Batch) {
    out.push(0);
    put_i64(out, now_ms);
    put_i64(out, batch.account);
    put_opt_str(out, batch.session.as_deref());
    out.push(u8::from(batch.require_session));
    put_opt_str(out, batch.peer.as_deref());
    put_opt_str(out, batch.key.as_deref());
    put_u32(out, batch.ops.len() as u32);
    for op in &batch.ops {
        put_op(out, op);
    }
}

/// Appends the payload of a record (LSN, kind, body) to `out`.
fn put_payload(out: &mut Vec<u8>, lsn: u64, r: &Record) {
    out.extend_from_slice(&lsn.to_le_bytes());
    match r {
        Record::Batch { now_ms, batch } => put_batch(out, *now_ms, batch),
        Record::AddAccount { id, account } => {
            out.push(1);
            put_i64(out, *id);
            put_str(out, &account.name);
            put_i64(out, account.balance);
            put_u32(out, account.currency);
            put_u32(out, account.ids.len() as u32);
            for sid in &account.ids {
                out.push(sid.kind.code() as u8);
                put_str(out, &sid.data);
            }
        }
        Record::Adjust { id, delta, now_ms } => {
            out.push(2);
            put_i64(out, *id);
            put_i64(out, *delta);
            put_i64(out, *now_ms);
        }
        Record::CloseExpired { sessions, now_ms } => {
            out.push(3);
            put_i64(out, *now_ms);
            put_u32(out, sessions.len() as u32);
            for (s, a) in sessions {
                put_str(out, s);
                put_i64(out, *a);
            }
        }
        Record::Purge { before_ms } => {
            out.push(4);
            put_i64(out, *before_ms);
        }
    }
}

/// Appends a whole framed record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, lsn: u64, r: &Record) {
    frame(out, |out| put_payload(out, lsn, r));
}

/// Appends a framed [`Record::Batch`] to `out` (without building the record).
fn encode_batch(out: &mut Vec<u8>, lsn: u64, now_ms: i64, batch: &Batch) {
    frame(out, |out| {
        out.extend_from_slice(&lsn.to_le_bytes());
        put_batch(out, now_ms, batch);
    });
}

/// Frames the payload `body` writes: length, CRC-32, payload.
fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    body(out);
    let len = (out.len() - start - 8) as u32;
    let crc = crc32(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

// ---- decoding ----

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn opt_str(&mut self) -> Option<Option<String>> {
        Some(if self.bool()? {
            Some(self.str()?)
        } else {
            None
        })
    }
    fn rg(&mut self) -> Option<Option<u32>> {
        Some(if self.bool()? {
            Some(self.u32()?)
        } else {
            None
        })
    }
    /// A count of items that each take at least `min` bytes (bounds allocations).
    fn count(&mut self, min: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.saturating_mul(min) <= self.0.len()).then_some(n)
    }

    fn op(&mut self) -> Option<Op> {
        Some(match self.u8()? {
            0 => Op::OpenSession {
                expires_at: self.i64()?,
            },
            1 => Op::Touch {
                expires_at: self.i64()?,
            },
            2 => Op::Settle {
                rating_group: self.rg()?,
                used_cost: self.i64()?,
            },
            3 => Op::Reserve {
                rating_group: self.rg()?,
                want: self.i64()?,
                block: self.i64()?,
            },
            4 => Op::CloseSession,
            5 => Op::CloseIfExpired {
                now_ms: self.i64()?,
            },
            6 => Op::Debit {
                amount: self.i64()?,
                partial: self.bool()?,
                reference: self.opt_str()?,
            },
            7 => Op::Refund {
                amount: self.i64()?,
                reference: self.str()?,
            },
            8 => Op::Check {
                amount: self.i64()?,
            },
            _ => return None,
        })
    }

    fn record(&mut self) -> Option<Record> {
        Some(match self.u8()? {
            0 => {
                let now_ms = self.i64()?;
                let mut batch = Batch::new(self.i64()?, self.opt_str()?);
                batch.require_session = self.bool()?;
                batch.peer = self.opt_str()?;
                batch.key = self.opt_str()?;
                let n = self.count(1)?;
                batch.ops = (0..n).map(|_| self.op()).collect::<Option<_>>()?;
                Record::Batch { now_ms, batch }
            }
            1 => {
                let id = self.i64()?;
                let name = self.str()?;
                let balance = self.i64()?;
                let currency = self.u32()?;
                let n = self.count(5)?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    let kind = IdKind::from_code(i32::from(self.u8()?))?;
                    ids.push(SubscriberId::new(kind, self.str()?));
                }
                let mut account = NewAccount::new(ids, balance, currency);
                account.name = name;
                Record::AddAccount { id, account }
            }
            2 => Record::Adjust {
                id: self.i64()?,
                delta: self.i64()?,
                now_ms: self.i64()?,
            },
            3 => {
                let now_ms = self.i64()?;
                let n = self.count(12)?;
                let sessions = (0..n)
                    .map(|_| Some((self.str()?, self.i64()?)))
                    .collect::<Option<_>>()?;
                Record::CloseExpired { sessions, now_ms }
            }
            4 => Record::Purge {
                before_ms: self.i64()?,
            },
            _ => return None,
        })
    }
}

/// Decodes one framed record at the start of `data`: `Some((lsn, record, bytes used))`, or
/// `None` when the bytes are torn (too short) or corrupt (bad length, CRC or body).
pub(crate) fn decode(data: &[u8]) -> Option<(u64, Record, usize)> {
    let mut c = Cursor(data);
    let len = c.u32()? as usize;
    let crc = c.u32()?;
    if len > MAX_RECORD {
        return None;
    }
    let payload = c.take(len)?;
    if crc32(payload) != crc {
        return None;
    }
    let mut p = Cursor(payload);
    let lsn = p.u64()?;
    let record = p.record()?;
    p.0.is_empty().then_some((lsn, record, 8 + len))
}

// ---- segments ----

/// The path of the segment starting at `lsn`.
fn segment_path(base: &Path, lsn: u64) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{lsn:020}"));
    PathBuf::from(s)
}

/// The segments of the journal `base` (`<db>.journal`), by first LSN.
pub(crate) fn segments(base: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out: Vec<_> = named_after(base)?
        .into_iter()
        .filter_map(|(rest, path)| {
            let lsn = Some(rest).filter(|r| r.len() == 20)?.parse::<u64>().ok()?;
            Some((lsn, path))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The segments and spare files of the journal `base`, all of them (a journal left behind).
pub(crate) fn files(base: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut out: Vec<PathBuf> = segments(base)?.into_iter().map(|(_, p)| p).collect();
    out.extend(spare_files(base)?);
    Ok(out)
}

/// The spare segment files of the journal `base` ([`Spares`]).
fn spare_files(base: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let found = named_after(base)?.into_iter();
    Ok(found
        .filter(|(rest, _)| rest.starts_with(SPARE))
        .map(|(_, path)| path)
        .collect())
}

/// The files next to `base` named `<base name>.<rest>`, with their `rest`.
fn named_after(base: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(
        "{}.",
        base.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&prefix) {
            out.push((rest.to_owned(), entry.path()));
        }
    }
    Ok(out)
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Config(format!("journal {}: {e}", path.display()))
}

/// Reads every segment in order and calls `f` with each record; returns the last LSN read
/// (0 when there is none). A segment followed by another holds the records up to the next
/// one's first LSN; bytes after them are a recycled file's old records and are ignored. A
/// torn or corrupt tail of the last segment is ignored; a bad record before it, or LSNs
/// that do not follow each other, are [`StoreError::Corrupt`].
pub(crate) fn read_segments(
    base: &Path,
    mut f: impl FnMut(u64, Record) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let segs = segments(base)?;
    let mut last: Option<u64> = None;
    for (n, (start, path)) in segs.iter().enumerate() {
        let mut data = Vec::new();
        File::open(path)
            .and_then(|mut file| file.read_to_end(&mut data))
            .map_err(|e| io_error(path, e))?;
        if let Some(l) = last {
            if *start != l + 1 {
                return Err(StoreError::Corrupt(format!(
                    "journal segment {} starts at {start}, after record {l}",
                    path.display()
                )));
            }
        }
        // The last LSN this segment holds, when another segment follows it.
        let end = segs.get(n + 1).map(|(next, _)| next.saturating_sub(1));
        let mut at = 0;
        let mut expect = *start;
        while at < data.len() && end.is_none_or(|end| expect <= end) {
            match decode(&data[at..]) {
                Some((lsn, record, used)) if lsn == expect => {
                    f(lsn, record)?;
                    last = Some(lsn);
                    expect += 1;
                    at += used;
                }
                Some((lsn, _, _)) if end.is_none() && lsn < *start => {
                    break; // a recycled segment's old records: the end of the new ones
                }
                _ if end.is_none() => {
                    if starts_record(&data[at..], expect) {
                        tracing::warn!(segment = %path.display(), offset = at,
                            bytes = data.len() - at, "ocs: torn journal tail ignored");
                    } else {
                        // Old bytes of a recycled file, cut by the new records.
                        tracing::debug!(segment = %path.display(), offset = at,
                            "ocs: end of the journal's records");
                    }
                    break;
                }
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "journal segment {} at byte {at}",
                        path.display()
                    )))
                }
            }
        }
        if let Some(end) = end.filter(|end| expect <= *end) {
            return Err(StoreError::Corrupt(format!(
                "journal segment {} ends at record {}, before record {end}",
                path.display(),
                expect - 1
            )));
        }
    }
    Ok(last.unwrap_or(0))
}

/// Whether `data` begins like the record `lsn` (its frame holds that LSN where the payload
/// starts): a torn write of the next record, not a recycled file's old bytes.
fn starts_record(data: &[u8], lsn: u64) -> bool {
    data.get(8..16)
        .is_some_and(|b| b == lsn.to_le_bytes().as_slice())
}

// ---- the writer ----

struct Buf {
    data: Vec<u8>,
    last_lsn: u64,
    /// Byte offsets in `data` where a new segment starts, with its first LSN.
    rotations: Vec<(usize, u64)>,
    stop: bool,
    /// Syncers waiting for data (appending wakes one).
    sleeping: usize,
    /// Syncers watching the sync in flight, to overlap it once it turns slow. They wake
    /// on their timeout only: the syncer whose sync ended takes what was appended
    /// meanwhile itself, so a fast disk costs no thread switch per sync.
    overlap_waiting: usize,
    /// Writes and syncs running now, and when the latest of them started.
    in_flight: usize,
    last_start: Option<Instant>,
    /// The most syncs ever in flight at once.
    peak_in_flight: usize,
    /// The last LSN handed to a sync (the records of the next one follow it).
    taken_lsn: u64,
}

/// The durable LSN as the blocking waiters see it, and how many of them there are.
struct Durability {
    lsn: u64,
    blocked: usize,
}

struct Shared {
    buf: Mutex<Buf>,
    /// The segment being written; locked before `buf` is released, so that writes keep the
    /// order of the records.
    file: Mutex<Arc<File>>,
    /// The syncer waits here for data.
    wake: Condvar,
    /// Syncers watching the sync in flight wait here ([`Buf::overlap_waiting`]).
    watch: Condvar,
    /// The syncer holding data back waits here ([`Shared::pacing`]).
    pace: Condvar,
    /// Syncers holding data back until [`SyncPolicy::min_interval`] has passed since the
    /// last sync started: that one syncs whatever is appended meanwhile, so appending wakes
    /// no other. Changed under the lock of [`Shared::buf`], read without it by
    /// [`Journal::producers_idle`].
    pacing: AtomicUsize,
    /// The producers have appended nothing since they last went idle
    /// ([`Journal::producers_idle`]): holding records back would gather no more.
    idle: AtomicBool,
    durable: Mutex<Durability>,
    /// Threads blocked in [`Journal::wait`] wait here (notified only when there are some).
    durable_changed: Condvar,
    durable_lsn: AtomicU64,
    /// Tasks waiting in [`Journal::wait_async`].
    waiters: Waiters,
    /// Their I/O threads' relays: a sync wakes each thread once, not each task.
    relays: Arc<Relays>,
    failed: AtomicBool,
    /// Dropped segment files kept to be written over as new segments ([`Spares`]).
    spares: Spares,
    /// Told of each sync: its records and how long it took ([`Journal::observe`]).
    observer: OnceLock<CommitObserver>,
}

/// Tasks waiting for an LSN to become durable, in LSN order, so that a sync wakes exactly
/// the tasks whose records it made durable (not every waiter at every sync).
#[derive(Default)]
struct Waiters(Mutex<VecDeque<Waiter>>);

/// A task waiting for an LSN, and the relay of its thread if it has one.
type Waiter = (u64, Waker, Option<Arc<Relay>>);

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiter>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a waiter for `lsn` (they mostly come in LSN order: searched from the back).
    fn register(&self, lsn: u64, waker: &Waker, relay: Option<Arc<Relay>>) {
        let mut q = self.lock();
        let at = q.iter().rposition(|(l, ..)| *l <= lsn).map_or(0, |i| i + 1);
        q.insert(at, (lsn, waker.clone(), relay));
    }

    /// Wakes the waiters of every LSN up to `lsn` (all of them with `u64::MAX`).
    fn wake_through(&self, lsn: u64) {
        let woken: Vec<Waiter> = {
            let mut q = self.lock();
            let n = q.partition_point(|(l, ..)| *l <= lsn);
            if n == 0 {
                return;
            }
            q.drain(..n).collect()
        };
        // The node's held answers leave from here, written to their sockets at once.
        diameter_core::node::release_from_here(|| {
            wake_all(woken.into_iter().map(|(_, w, relay)| (w, relay)))
        });
    }
}

/// Resolves once its LSN is durable (or the journal failed): [`Journal::wait_async`].
struct Durable {
    shared: Arc<Shared>,
    lsn: u64,
}

impl Durable {
    fn ready(&self) -> Option<Result<(), StoreError>> {
        if self.shared.durable_lsn.load(Ordering::Acquire) >= self.lsn {
            Some(Ok(()))
        } else if self.shared.failed.load(Ordering::Acquire) {
            Some(Err(StoreError::Stopped))
        } else {
            None
        }
    }
}

impl Future for Durable {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.ready() {
            return Poll::Ready(r);
        }
        let relay = self.shared.relays.here();
        self.shared.waiters.register(self.lsn, cx.waker(), relay);
        // Published between the check and the registration: that wake may have missed us.
        match self.ready() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl Shared {
    /// Publishes that everything up to `lsn` is durable (never moves back: syncers finish
    /// out of order).
    fn publish(&self, lsn: u64) {
        self.durable_lsn.fetch_max(lsn, Ordering::AcqRel);
        let blocked = {
            let mut d = self.durable.lock().unwrap_or_else(|e| e.into_inner());
            d.lsn = d.lsn.max(lsn);
            d.blocked > 0
        };
        if blocked {
            self.durable_changed.notify_all();
        }
        self.waiters.wake_through(lsn);
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Release);
        drop(self.durable.lock().unwrap_or_else(|e| e.into_inner()));
        self.durable_changed.notify_all();
        self.waiters.wake_through(u64::MAX);
    }
}

/// The journal writer (see the module docs). Without a file (an in-memory store) every
/// record is durable once appended.
pub(crate) struct Journal {
    shared: Arc<Shared>,
    base: Option<PathBuf>,
    syncers: Vec<std::thread::JoinHandle<()>>,
    /// The first LSN of the first segment this journal wrote: only its own segments are
    /// recycled (a segment from before a crash may hold records past its recovered end).
    first_own: u64,
}

impl Journal {
    /// A journal that writes nothing: records are durable at once.
    pub fn memory(last_lsn: u64) -> Result<Journal, StoreError> {
        let devnull = File::open("/dev/null").map_err(|e| io_error(Path::new("/dev/null"), e))?;
        Ok(Journal {
            shared: Arc::new(Self::shared(last_lsn, devnull, Spares::default())),
            base: None,
            syncers: Vec::new(),
            first_own: last_lsn + 1,
        })
    }

    fn shared(last_lsn: u64, file: File, spares: Spares) -> Shared {
        Shared {
            file: Mutex::new(Arc::new(file)),
            buf: Mutex::new(Buf {
                data: Vec::new(),
                last_lsn,
                rotations: Vec::new(),
                stop: false,
                sleeping: 0,
                overlap_waiting: 0,
                in_flight: 0,
                last_start: None,
                peak_in_flight: 0,
                taken_lsn: last_lsn,
            }),
            wake: Condvar::new(),
            watch: Condvar::new(),
            pace: Condvar::new(),
            pacing: AtomicUsize::new(0),
            idle: AtomicBool::new(false),
            durable: Mutex::new(Durability {
                lsn: last_lsn,
                blocked: 0,
            }),
            durable_changed: Condvar::new(),
            durable_lsn: AtomicU64::new(last_lsn),
            waiters: Waiters::default(),
            relays: Arc::default(),
            failed: AtomicBool::new(false),
            spares,
            observer: OnceLock::new(),
        }
    }

    /// Starts a new segment `<base>.<last_lsn + 1>` and the policy's syncer threads (at
    /// least one). A record appended while a sync runs waits for it and joins the next
    /// group, unless that sync has run [`SyncPolicy::overlap_after`]: then another syncer
    /// starts the next sync at once. Syncs start [`SyncPolicy::min_interval`] apart at least.
    pub fn create(base: &Path, last_lsn: u64, policy: SyncPolicy) -> Result<Journal, StoreError> {
        let spares = Spares::found(base)?;
        let file = new_segment(base, last_lsn + 1, &spares)?;
        let shared = Arc::new(Self::shared(last_lsn, file, spares));
        let mut threads = Vec::new();
        for n in 0..policy.syncers.max(1) {
            let (s, b) = (shared.clone(), base.to_path_buf());
            let t = std::thread::Builder::new()
                .name(format!("ocs-journal-{n}"))
                .spawn(move || syncer(s, b, policy))
                .map_err(|e| StoreError::Config(format!("cannot start the journal syncer: {e}")))?;
            threads.push(t);
        }
        Ok(Journal {
            shared,
            base: Some(base.to_path_buf()),
            syncers: threads,
            first_own: last_lsn + 1,
        })
    }

    fn buf(&self) -> std::sync::MutexGuard<'_, Buf> {
        self.shared.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record; returns its LSN. Callers append in the order their changes were
    /// made (under the state's lock).
    pub fn append(&self, r: &Record) -> Result<u64, StoreError> {
        self.append_with(|out, lsn| encode(out, lsn, r))
    }

    /// [`Journal::append`] of a [`Record::Batch`].
    pub fn append_batch(&self, now_ms: i64, batch: &Batch) -> Result<u64, StoreError> {
        self.append_with(|out, lsn| encode_batch(out, lsn, now_ms, batch))
    }

    fn append_with(&self, put: impl FnOnce(&mut Vec<u8>, u64)) -> Result<u64, StoreError> {
        if self.failed() {
            return Err(StoreError::Stopped);
        }
        let mut b = self.buf();
        let lsn = b.last_lsn + 1;
        b.last_lsn = lsn;
        if self.base.is_none() {
            drop(b);
            self.shared.publish(lsn);
            return Ok(lsn);
        }
        put(&mut b.data, lsn);
        if self.shared.idle.load(Ordering::Relaxed) {
            self.shared.idle.store(false, Ordering::Relaxed);
        }
        // A sleeping syncer is needed when none is syncing or about to (the one that is
        // takes this record when its sync ends, the one pacing when its wait ends), or to
        // watch a sync in flight that nobody watches.
        let wake = b.sleeping > 0
            && if b.in_flight == 0 {
                self.shared.pacing.load(Ordering::SeqCst) == 0
            } else {
                b.overlap_waiting == 0
            };
        drop(b);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(lsn)
    }

    /// Tells the journal that its producers have nothing more to append for now (an I/O
    /// thread is about to wait for work): a syncer holding records back for
    /// [`SyncPolicy::min_interval`] syncs them at once, since waiting would gather no more.
    /// Until the next append, records are not held back at all. Costs two atomic
    /// operations when no syncer is holding records back.
    pub(crate) fn producers_idle(&self) {
        // Paired with the syncer's store of `pacing` before its load of `idle`: either it
        // sees the producers idle, or this sees it pacing and wakes it.
        self.shared.idle.store(true, Ordering::SeqCst);
        if self.shared.pacing.load(Ordering::SeqCst) == 0 {
            return;
        }
        // Under the lock, the syncer counted in `pacing` is waiting, not about to.
        drop(self.buf());
        self.shared.pace.notify_one();
    }

    /// The LSN of the last record appended.
    pub fn last_lsn(&self) -> u64 {
        self.buf().last_lsn
    }

    /// Tells `observer` of every later sync: the records it made durable and how long its
    /// write and `fdatasync` took. The first observer stays.
    pub fn observe(&self, observer: CommitObserver) {
        let _ = self.shared.observer.set(observer);
    }

    /// The last durable LSN.
    pub fn durable_lsn(&self) -> u64 {
        self.shared.durable_lsn.load(Ordering::Acquire)
    }

    /// How many spare segment files were written over as new segments.
    #[cfg(test)]
    pub fn spares_reused(&self) -> u64 {
        self.shared.spares.reused.load(Ordering::Relaxed)
    }

    /// Whether a write or sync failed (then nothing more becomes durable).
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Starts a new segment with the next record; returns the last LSN of the old ones.
    pub fn rotate(&self) -> u64 {
        let mut b = self.buf();
        let last = b.last_lsn;
        if self.base.is_some() {
            let at = b.data.len();
            b.rotations.push((at, last + 1));
            drop(b);
            self.shared.wake.notify_one();
        }
        last
    }

    /// Drops the segments whose records all have an LSN up to `lsn` (SQLite holds them):
    /// this journal's own are kept as spares to be written over ([`Spares`]), up to
    /// [`SPARES`] of them; the rest are deleted.
    pub fn drop_segments_through(&self, lsn: u64) -> Result<(), StoreError> {
        let Some(base) = &self.base else {
            return Ok(());
        };
        let segs = segments(base)?;
        for (i, (start, path)) in segs.iter().enumerate() {
            // A segment ends where the next begins.
            match segs.get(i + 1) {
                Some((next, _)) if *next <= lsn + 1 => {
                    if *start < self.first_own || !self.shared.spares.keep(base, *start, path)? {
                        std::fs::remove_file(path).map_err(|e| io_error(path, e))?;
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Blocks until `lsn` is durable.
    pub fn wait(&self, lsn: u64) -> Result<(), StoreError> {
        if self.durable_lsn() >= lsn {
            return Ok(());
        }
        let mut d = self
            .shared
            .durable
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while d.lsn < lsn {
            if self.failed() {
                return Err(StoreError::Stopped);
            }
            d.blocked += 1;
            d = self
                .shared
                .durable_changed
                .wait(d)
                .unwrap_or_else(|e| e.into_inner());
            d.blocked -= 1;
        }
        Ok(())
    }

    /// Resolves once `lsn` is durable, without blocking a thread; only the sync that makes
    /// `lsn` durable wakes the task.
    pub fn wait_async(
        &self,
        lsn: u64,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        Durable {
            shared: self.shared.clone(),
            lsn,
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.buf().stop = true;
        self.shared.wake.notify_all();
        self.shared.watch.notify_all();
        self.shared.pace.notify_all();
        for t in self.syncers.drain(..) {
            let _ = t.join();
        }
    }
}

/// Creates the segment starting at `lsn` and syncs its directory entry. A spare file is
/// renamed into place and written over from its start: writing within a file's length
/// needs no file-system metadata commit per `fdatasync`, which an appended file does.
/// A file of that name already there can only hold a torn record (every record in it would
/// come after the last one recovered): it is emptied.
fn new_segment(base: &Path, lsn: u64, spares: &Spares) -> Result<File, StoreError> {
    let path = segment_path(base, lsn);
    let spare = match path.exists() {
        true => None,
        false => spares.take(),
    };
    let opened = match spare {
        Some(spare) => {
            std::fs::rename(&spare, &path).and_then(|()| OpenOptions::new().write(true).open(&path))
        }
        None => OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path),
    };
    let file = opened.map_err(|e| io_error(&path, e))?;
    if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    Ok(file)
}

/// The most spare segment files kept ([`Spares`]).
pub const SPARES: usize = 2;

/// Dropped segment files (`<base>.spare.<first LSN>`), reused as new segments. Every record left in
/// one has an LSN below any segment it becomes (only a journal's own segments, written in
/// LSN order, turn spare), so recovery tells the new records from the old by their LSNs.
#[derive(Default)]
struct Spares {
    files: Mutex<Vec<PathBuf>>,
    /// How many were written over as new segments.
    reused: AtomicU64,
}

impl Spares {
    /// The spares a previous run left (their records are all in SQLite: they were dropped).
    fn found(base: &Path) -> Result<Spares, StoreError> {
        let mut found = spare_files(base)?;
        found.sort();
        for extra in found.drain(SPARES.min(found.len())..) {
            std::fs::remove_file(&extra).map_err(|e| io_error(&extra, e))?;
        }
        Ok(Spares {
            files: Mutex::new(found),
            reused: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Option<PathBuf> {
        let spare = self.lock().pop();
        if spare.is_some() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        spare
    }

    /// Renames the dropped segment starting at `start` into a spare unless [`SPARES`] are
    /// kept already; whether it was kept.
    fn keep(&self, base: &Path, start: u64, segment: &Path) -> Result<bool, StoreError> {
        let mut spares = self.lock();
        let name = spare_path(base, start);
        // (A spare of that name can only be a previous run's over a store started anew.)
        if spares.len() >= SPARES || spares.contains(&name) {
            return Ok(false);
        }
        std::fs::rename(segment, &name).map_err(|e| io_error(segment, e))?;
        spares.push(name);
        Ok(true)
    }
}

/// What a spare's name adds to the journal's: `<base>.spare.<its first LSN as a segment>`.
const SPARE: &str = "spare.";

fn spare_path(base: &Path, start: u64) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{SPARE}{start:020}"));
    PathBuf::from(s)
}

/// Writes and syncs what was appended, group by group, until stopped or failed. Each
/// syncer takes what is buffered, writes it (in order: the segment is locked before the
/// buffer is released), then syncs; `fdatasync` makes durable everything written to the file
/// before it started, so the group's last LSN is durable when it returns.
fn syncer(shared: Arc<Shared>, base: PathBuf, policy: SyncPolicy) {
    let SyncPolicy {
        overlap_after,
        min_interval,
        ..
    } = policy;
    let mut spare = Vec::new();
    let mut b = shared.buf.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        loop {
            let work = !b.data.is_empty() || !b.rotations.is_empty();
            if !work {
                if b.stop {
                    return; // stopped with nothing left
                }
                b.sleeping += 1;
                b = shared.wake.wait(b).unwrap_or_else(|e| e.into_inner());
                b.sleeping -= 1;
                continue;
            }
            let since = b.last_start.map(|t| t.elapsed());
            let running = match since {
                Some(t) if b.in_flight > 0 => t,
                Some(t) if t < min_interval && !b.stop => {
                    // Too soon after the last one: let more records join this sync, unless
                    // the producers are idle (none are coming).
                    shared.pacing.fetch_add(1, Ordering::SeqCst);
                    if !shared.idle.load(Ordering::SeqCst) {
                        b = shared
                            .pace
                            .wait_timeout(b, min_interval - t)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    shared.pacing.fetch_sub(1, Ordering::SeqCst);
                    if shared.idle.load(Ordering::SeqCst) && !b.data.is_empty() {
                        break;
                    }
                    continue;
                }
                // Nothing in flight, the last sync long enough ago (or stopping): sync now.
                _ => break,
            };
            if running >= overlap_after {
                break; // the sync in flight is slow: overlap it
            }
            // Watch the sync in flight until it counts as slow (if it ends first, its
            // syncer takes the data and this one finds a new sync, or nothing, to watch).
            b.overlap_waiting += 1;
            b = shared
                .watch
                .wait_timeout(b, overlap_after - running)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            b.overlap_waiting -= 1;
        }
        b.in_flight += 1;
        b.peak_in_flight = b.peak_in_flight.max(b.in_flight);
        b.last_start = Some(Instant::now());
        let mut data = std::mem::replace(&mut b.data, std::mem::take(&mut spare));
        let rotations = std::mem::take(&mut b.rotations);
        let last = b.last_lsn;
        let records = last - b.taken_lsn;
        b.taken_lsn = last;
        let started = Instant::now();
        let mut file = shared.file.lock().unwrap_or_else(|e| e.into_inner());
        drop(b);
        let written = (|| -> Result<Arc<File>, StoreError> {
            let mut from = 0;
            for (at, lsn) in &rotations {
                (&**file)
                    .write_all(&data[from..*at])
                    .and_then(|()| file.sync_data())
                    .map_err(|e| io_error(&base, e))?;
                *file = Arc::new(new_segment(&base, *lsn, &shared.spares)?);
                from = *at;
            }
            (&**file)
                .write_all(&data[from..])
                .map_err(|e| io_error(&base, e))?;
            Ok(file.clone())
        })();
        drop(file);
        let synced = written.and_then(|f| f.sync_data().map_err(|e| io_error(&base, e)));
        if let Err(e) = synced {
            shared
                .buf
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .in_flight -= 1;
            tracing::error!(error = %e, "ocs: journal write failed; the store stops charging");
            shared.fail();
            return;
        }
        // Ended before anyone learns it: an append made once its records are durable must
        // not take this sync for one still running (and overlap it at once with a zero
        // `overlap_after`, inside the interval).
        shared
            .buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .in_flight -= 1;
        // A sync of a segment rotation alone made no record durable: not a commit.
        if let Some(observe) = shared.observer.get().filter(|_| records > 0) {
            observe(records as usize, started.elapsed());
        }
        shared.publish(last);
        data.clear();
        spare = data;
        b = shared.buf.lock().unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        let mut b = Batch::new(7, Some("s;1".into()));
        b.key = Some("s;1|1|0|pgw".into());
        b.peer = Some("pgw".into());
        b.require_session = true;
        b.ops = vec![
            Op::OpenSession { expires_at: 5 },
            Op::Touch { expires_at: 6 },
            Op::Settle {
                rating_group: Some(3),
                used_cost: -1,
            },
            Op::Reserve {
                rating_group: None,
                want: 100,
                block: 10,
            },
            Op::CloseSession,
            Op::CloseIfExpired { now_ms: 9 },
            Op::Debit {
                amount: 4,
                partial: true,
                reference: Some("00ff".into()),
            },
            Op::Refund {
                amount: 2,
                reference: "00ff".into(),
            },
            Op::Check { amount: i64::MIN },
        ];
        let mut acc = NewAccount::new(vec![SubscriberId::new(IdKind::SipUri, "sip:a@b")], 9, 978);
        acc.name = "alice".into();
        vec![
            Record::Batch {
                now_ms: 42,
                batch: b,
            },
            Record::AddAccount {
                id: 3,
                account: acc,
            },
            Record::Adjust {
                id: 3,
                delta: -5,
                now_ms: 1,
            },
            Record::CloseExpired {
                sessions: vec![("x".into(), 1), ("y".into(), 2)],
                now_ms: 77,
            },
            Record::Purge { before_ms: 12 },
        ]
    }

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        for (n, r) in sample().into_iter().enumerate() {
            let mut out = Vec::new();
            encode(&mut out, n as u64 + 1, &r);
            let (lsn, back, used) = decode(&out).unwrap();
            assert_eq!((lsn, &back, used), (n as u64 + 1, &r, out.len()));
            // Torn: any prefix is not a record.
            for cut in 0..out.len() {
                assert!(decode(&out[..cut]).is_none());
            }
            // A flipped bit fails the CRC.
            let mut bad = out.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x40;
            assert!(decode(&bad).is_none());
        }
    }

    /// How many records the segments of the journal `base` hold.
    fn records_in(base: &Path) -> usize {
        let mut read = 0;
        read_segments(base, |_, _| {
            read += 1;
            Ok(())
        })
        .unwrap();
        read
    }

    /// A journal under `policy` in a new directory (kept alive by the first member), and
    /// its base path.
    fn fresh(policy: SyncPolicy) -> (tempfile::TempDir, PathBuf, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("ocs.db.journal");
        let j = Journal::create(&base, 0, policy).unwrap();
        (dir, base, j)
    }

    /// Appends from four threads, waiting for each record, until `n` records are durable.
    fn load(j: &Journal, n: usize) {
        let records = sample();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..n / 4 {
                        let lsn = j.append(&records[i % records.len()]).unwrap();
                        j.wait(lsn).unwrap();
                    }
                });
            }
        });
    }

    /// A waker counting its wakes.
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_sync_wakes_only_the_tasks_whose_lsn_it_made_durable() {
        let shared = Journal::shared(0, File::open("/dev/null").unwrap(), Spares::default());
        let counts: Vec<Arc<Count>> = (0..4)
            .map(|_| Arc::new(Count(Default::default())))
            .collect();
        let woken = |c: &Arc<Count>| c.0.load(Ordering::SeqCst);
        let shared = Arc::new(shared);
        let mut futures: Vec<_> = [2u64, 1, 4, 3]
            .into_iter()
            .map(|lsn| {
                Box::pin(Durable {
                    shared: shared.clone(),
                    lsn,
                })
            })
            .collect();
        for (f, c) in futures.iter_mut().zip(&counts) {
            let waker = Waker::from(c.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(f.as_mut().poll(&mut cx).is_pending());
        }
        shared.publish(2);
        assert_eq!(counts.iter().map(woken).collect::<Vec<_>>(), [1, 1, 0, 0]);
        let waker = Waker::from(counts[0].clone());
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(
            futures[0].as_mut().poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        shared.publish(3);
        assert_eq!(counts.iter().map(woken).collect::<Vec<_>>(), [1, 1, 0, 1]);
        // A failure wakes the rest, which then fail.
        shared.fail();
        assert_eq!(counts.iter().map(woken).collect::<Vec<_>>(), [1, 1, 1, 1]);
        assert!(matches!(
            futures[2].as_mut().poll(&mut cx),
            Poll::Ready(Err(StoreError::Stopped))
        ));
        assert!(shared.waiters.lock().is_empty());
    }

    #[test]
    fn one_sync_at_a_time_until_the_one_in_flight_is_slow() {
        let slow_never = SyncPolicy {
            syncers: 3,
            overlap_after: Duration::from_secs(3600),
            min_interval: Duration::ZERO,
        };
        let (_dir, base, j) = fresh(slow_never);
        load(&j, 400);
        assert_eq!(j.durable_lsn(), 400);
        assert_eq!(
            j.buf().peak_in_flight,
            1,
            "a second sync overlapped a fast one"
        );
        drop(j);
        assert_eq!(records_in(&base), 400);
    }

    #[test]
    fn syncs_start_at_least_the_interval_apart_and_what_waits_joins_one() {
        let interval = Duration::from_millis(60);
        let policy = SyncPolicy {
            syncers: 2,
            overlap_after: Duration::ZERO,
            min_interval: interval,
        };
        let (_dir, base, j) = fresh(policy);
        let syncs = Arc::new(Mutex::new(Vec::new()));
        let seen = syncs.clone();
        j.observe(Arc::new(move |n, took| {
            seen.lock().unwrap().push((n, took))
        }));
        let records = sample();
        // An idle journal syncs at once; the next records wait for the interval together,
        // counted from the start of the first sync (after `start`).
        let start = std::time::Instant::now();
        let first = j.append(&records[0]).unwrap();
        j.wait(first).unwrap();
        let lsns: Vec<u64> = (1..4)
            .map(|i| j.append(&records[i % records.len()]).unwrap())
            .collect();
        j.wait(lsns[2]).unwrap();
        assert!(
            start.elapsed() >= interval,
            "two syncs within {:?}",
            start.elapsed()
        );
        assert_eq!(j.durable_lsn(), 4);
        // Observed: one sync of the first record, one of the three that waited together.
        let syncs = syncs.lock().unwrap().clone();
        assert_eq!(syncs.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 3]);
        assert!(syncs.iter().all(|s| s.1 > Duration::ZERO));
        drop(j);
        assert_eq!(records_in(&base), 4);
    }

    #[test]
    fn idle_producers_end_the_pacing_and_what_was_held_back_syncs_at_once() {
        let policy = SyncPolicy {
            syncers: 2,
            overlap_after: Duration::from_secs(3600),
            min_interval: Duration::from_secs(3600),
        };
        let (_dir, base, j) = fresh(policy);
        let records = sample();
        let first = j.append(&records[0]).unwrap();
        j.wait(first).unwrap();
        j.producers_idle(); // nothing held back: nothing to do
        let lsns: Vec<u64> = (1..4)
            .map(|i| j.append(&records[i % records.len()]).unwrap())
            .collect();
        // Held back for the hour, until a syncer paces...
        while j.shared.pacing.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(j.durable_lsn(), 1);
        // ...and synced, all together, once the producers say they are idle.
        j.producers_idle();
        j.wait(lsns[2]).unwrap();
        assert_eq!(j.durable_lsn(), 4);
        // Idle before a syncer got to pacing: it finds them idle and does not pace.
        for round in 0..20 {
            let lsn = j.append(&records[round % records.len()]).unwrap();
            j.producers_idle();
            j.wait(lsn).unwrap();
        }
        drop(j);
        assert_eq!(records_in(&base), 24);
    }

    #[test]
    fn records_appended_while_a_syncer_paces_wake_no_other() {
        let policy = SyncPolicy {
            syncers: 4,
            overlap_after: Duration::from_secs(5),
            min_interval: Duration::from_millis(400),
        };
        let (_dir, _, j) = fresh(policy);
        let records = sample();
        let first = j.append(&records[0]).unwrap();
        j.wait(first).unwrap();
        // Its syncer back asleep, the next record wakes one syncer, which holds it back for
        // the interval...
        std::thread::sleep(Duration::from_millis(50));
        let mut last = j.append(&records[1]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // ...and the records after it join that one's sync: the others sleep on.
        for i in 0..8 {
            last = j.append(&records[i % records.len()]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        {
            let b = j.buf();
            let pacing = j.shared.pacing.load(Ordering::SeqCst);
            assert_eq!((pacing, b.sleeping), (1, 3), "syncers woken by appends");
        }
        j.wait(last).unwrap();
        assert_eq!(j.durable_lsn(), 10);
    }

    #[test]
    fn syncs_overlap_at_once_with_a_zero_overlap_time() {
        let at_once = SyncPolicy {
            syncers: 3,
            overlap_after: Duration::ZERO,
            min_interval: Duration::ZERO,
        };
        let (_dir, _, j) = fresh(at_once);
        load(&j, 400);
        assert_eq!(j.durable_lsn(), 400);
        assert!(j.buf().peak_in_flight >= 1);
    }

    #[test]
    fn segments_are_written_rotated_read_and_dropped() {
        let (_dir, base, j) = fresh(SyncPolicy::default());
        let records = sample();
        let mut last = 0;
        for r in &records[..3] {
            last = j.append(r).unwrap();
        }
        assert_eq!(j.rotate(), 3);
        for r in &records[3..] {
            last = j.append(r).unwrap();
        }
        j.wait(last).unwrap();
        assert_eq!(j.durable_lsn(), 5);
        let segs = segments(&base).unwrap();
        assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 4]);
        let mut read = Vec::new();
        assert_eq!(
            read_segments(&base, |lsn, r| {
                read.push((lsn, r));
                Ok(())
            })
            .unwrap(),
            5
        );
        assert_eq!(read.into_iter().map(|r| r.1).collect::<Vec<_>>(), records);
        j.drop_segments_through(3).unwrap();
        assert_eq!(segments(&base).unwrap().len(), 1);
        drop(j);
        // Reads on from record 4.
        let mut n = 0;
        assert_eq!(
            read_segments(&base, |_, _| {
                n += 1;
                Ok(())
            })
            .unwrap(),
            5
        );
        assert_eq!(n, 2);
    }

    #[test]
    fn dropped_segments_are_written_over_and_their_old_records_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("ocs.db.journal");
        let records = sample();
        let read_all = |base: &Path| {
            let mut read = Vec::new();
            let last = read_segments(base, |lsn, r| {
                read.push((lsn, r));
                Ok(())
            })
            .unwrap();
            (last, read)
        };
        // Records 1 to 5 in a segment from before this journal (a previous run's).
        let mut before = Vec::new();
        for (n, r) in records.iter().enumerate() {
            encode(&mut before, n as u64 + 1, r);
        }
        let old = segment_path(&base, 1);
        std::fs::write(&old, &before).unwrap();
        let j = Journal::create(&base, 5, SyncPolicy::default()).unwrap();
        // This journal's first segment gets every sample, three times over: a long file.
        let mut last = 0;
        for _ in 0..3 {
            for r in &records {
                last = j.append(r).unwrap();
            }
        }
        assert_eq!(j.rotate(), last);
        j.append(&records[0]).unwrap();
        j.wait(last + 1).unwrap();
        j.drop_segments_through(last).unwrap();
        // The old segment is deleted (it may hold records past the end recovery read), this
        // journal's own is kept as a spare.
        assert!(!old.exists());
        let spare = spare_path(&base, 6);
        let long = std::fs::metadata(&spare).unwrap().len();
        assert!(long > before.len() as u64);
        assert_eq!(
            j.shared.spares.lock().as_slice(),
            std::slice::from_ref(&spare)
        );
        // The next segment is the spare, written over from its start: one short record,
        // the rest of the file the old records, which have lower LSNs.
        let second = last + 1;
        assert_eq!(j.rotate(), second);
        let third = j.append(&records[1]).unwrap();
        j.wait(third).unwrap();
        assert!(!spare.exists());
        let reused = segment_path(&base, third);
        assert_eq!(std::fs::metadata(&reused).unwrap().len(), long);
        let (read_last, read) = read_all(&base);
        assert_eq!(read_last, third);
        assert_eq!(
            read,
            vec![(second, records[0].clone()), (third, records[1].clone())]
        );
        // Followed by another segment, the reused one is read up to the next one's first
        // LSN, and its old records still do not count.
        assert_eq!(j.rotate(), third);
        let fourth = j.append(&records[2]).unwrap();
        j.wait(fourth).unwrap();
        let (read_last, read) = read_all(&base);
        assert_eq!(read_last, fourth);
        assert_eq!(
            read.iter().map(|r| r.0).collect::<Vec<_>>(),
            [second, third, fourth]
        );
        // A segment that stops short of the next one's first LSN is corrupt.
        drop(j);
        std::fs::write(segment_path(&base, second), b"").unwrap();
        assert!(matches!(
            read_segments(&base, |_, _| Ok(())),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_torn_next_record_is_told_from_old_bytes() {
        let mut one = Vec::new();
        encode(&mut one, 7, &sample()[0]);
        assert!(starts_record(&one[..20], 7));
        assert!(!starts_record(&one[..20], 8));
        assert!(!starts_record(&one[..12], 7), "too short to tell");
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_ignored_but_not_a_corrupt_middle() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("j");
        let records = sample();
        let mut bytes = Vec::new();
        for (n, r) in records.iter().enumerate() {
            encode(&mut bytes, n as u64 + 1, r);
        }
        let first_len = {
            let mut one = Vec::new();
            encode(&mut one, 1, &records[0]);
            one.len()
        };
        let path = segment_path(&base, 1);
        let count = |base: &Path| {
            let mut n = 0;
            read_segments(base, |_, _| {
                n += 1;
                Ok(())
            })
            .map(|last| (n, last))
        };
        // Torn in the middle of the last record.
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(count(&base).unwrap(), (4, 4));
        // A CRC mismatch in the second record of the last segment: the rest is ignored.
        let mut bad = bytes.clone();
        bad[first_len + 20] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(count(&base).unwrap(), (1, 1));
        // The same damage in a segment followed by another: corruption, not a tail.
        let mut next = Vec::new();
        encode(&mut next, 6, &records[0]);
        std::fs::write(segment_path(&base, 6), &next).unwrap();
        assert!(matches!(count(&base), Err(StoreError::Corrupt(_))));
    }
}
