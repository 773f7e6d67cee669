//! The OCS's own metrics, served by the node's endpoint (`serve ocs --metrics ADDR`,
//! registered with [`diameter_core::node::NodeBuilder::metrics_registry`]).
//!
//! | metric | labels |
//! | --- | --- |
//! | `ocs_ccr_total` | `type` (`initial`, `update`, `termination`, `event`, `other`), `result_code` |
//! | `ocs_store_batch_size` (histogram) | CCRs per store commit (the embedded store: records per journal `fdatasync`; PostgreSQL: CCRs per group transaction) |
//! | `ocs_store_commit_duration_seconds` (histogram) | time of one store commit (the embedded store: of one journal write and `fdatasync`; PostgreSQL: of one group transaction) |
//! | `ocs_store_errors_total` | `kind` (`temporary`, `permanent`) |
//! | `ocs_open_sessions` (gauge) | |
//! | `ocs_reserved_amount` (gauge) | reserved over all accounts, minor units |
//! | `ocs_request_keys_in_memory_since_timestamp_seconds` (gauge) | the embedded store's key filter holds every key saved since then (0: all retained); unmarked duplicates older than it are charged as new |
//!
//! Result-Codes of the dictionaries are labelled by number, others by class (`5xxx`), so
//! the series count is bounded. Recording is lock-free: each (type, Result-Code) has a slot
//! filled once with its counter, then atomic adds; the histograms are atomic buckets. The
//! two gauges are refreshed from the store ([`crate::ocs::store::Store::totals`]) by the
//! server every [`REFRESH`], or less often when the store takes long to count
//! ([`next_refresh`]).

use crate::ocs::store::Account;
use crate::ocs::store::{
    AccountId, Batch, BatchOutcome, ChargeFuture, Charged, CommitObserver, ExpiredSession,
    LedgerTotals, NewAccount, Store, StoreError, StoreTotals, SubscriberId,
};
use diameter::dict::dcca_rfc4006::CcRequestType;
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, MetricType, TypedMetric},
    registry::Registry,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How often the gauges are refreshed from the store when counting is cheap.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The longest wait between two refreshes of the gauges.
pub const MAX_REFRESH: Duration = Duration::from_secs(60);

/// The wait before the next refresh of the gauges, after one that took `took`: the store
/// spends at most 1/250 of its time on them. The embedded store counts in memory and
/// refreshes every [`REFRESH`]; PostgreSQL scans its `sessions` table, which churn fills
/// with dead rows between vacuums: there a count every second took 30–45 ms at 8,000
/// CCR/s and delayed the answers queued behind it (p99 31–33 ms instead of 12–15 ms).
pub fn next_refresh(took: Duration) -> Duration {
    took.saturating_mul(250).clamp(REFRESH, MAX_REFRESH)
}

/// Upper bounds of the batch size buckets (CCRs per commit).
const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
/// Upper bounds of the commit latency buckets, in seconds.
const COMMIT_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// CC-Request-Type labels, by slot.
const TYPES: [&str; 5] = ["initial", "update", "termination", "event", "other"];
/// Result-Code label slots after the known codes: five classes and `other`.
const RC_EXTRA: usize = 6;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CcrLabels {
    r#type: &'static str,
    result_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

/// A histogram over fixed bounds recorded with atomic adds only. The sum is kept in
/// integer units of `1 / scale`.
#[derive(Clone, Debug)]
struct Buckets(Arc<BucketsInner>);

#[derive(Debug)]
struct BucketsInner {
    bounds: &'static [f64],
    /// Observations per bucket, the last one past the largest bound (+Inf).
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    scale: f64,
}

impl Buckets {
    fn new(bounds: &'static [f64], scale: f64) -> Self {
        Buckets(Arc::new(BucketsInner {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            scale,
        }))
    }

    /// Records `value` (in the bounds' unit), `units` in the sum's integer unit.
    fn observe(&self, value: f64, units: u64) {
        let b = &self.0;
        let i = b
            .bounds
            .iter()
            .position(|x| value <= *x)
            .unwrap_or(b.bounds.len());
        b.counts[i].fetch_add(1, Ordering::Relaxed);
        b.sum.fetch_add(units, Ordering::Relaxed);
    }
}

impl TypedMetric for Buckets {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Buckets {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let b = &self.0;
        let buckets: Vec<(f64, u64)> = b
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(b.counts.iter())
            .map(|(x, n)| (x, n.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = b.sum.load(Ordering::Relaxed) as f64 / b.scale;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The OCS's metrics (see the module docs). Cheap to share: every handle is atomic.
#[derive(Debug)]
pub struct OcsMetrics {
    result_codes: Vec<u32>,
    ccr: Family<CcrLabels, Counter>,
    /// `[type][result code]`, filled on first use.
    ccr_slots: Box<[OnceLock<Counter>]>,
    batch_size: Buckets,
    commit: Buckets,
    errors: Family<ErrorLabels, Counter>,
    temporary: Counter,
    permanent: Counter,
    open_sessions: Gauge,
    reserved: Gauge,
    keys_in_memory_since: Gauge,
}

impl Default for OcsMetrics {
    fn default() -> Self {
        OcsMetrics::new()
    }
}

impl OcsMetrics {
    /// Metrics labelling the dictionaries' Result-Codes by number.
    pub fn new() -> Self {
        let mut result_codes: Vec<u32> = diameter::dict::DICTIONARY
            .result_codes
            .iter()
            .map(|r| r.value)
            .chain([2001, 3004, 5012])
            .collect();
        result_codes.sort_unstable();
        result_codes.dedup();
        let slots = TYPES.len() * (result_codes.len() + RC_EXTRA);
        let errors = Family::<ErrorLabels, Counter>::default();
        let temporary = errors.get_or_create_owned(&ErrorLabels { kind: "temporary" });
        let permanent = errors.get_or_create_owned(&ErrorLabels { kind: "permanent" });
        OcsMetrics {
            result_codes,
            ccr: Family::default(),
            ccr_slots: (0..slots).map(|_| OnceLock::new()).collect(),
            batch_size: Buckets::new(&BATCH_BUCKETS, 1.0),
            commit: Buckets::new(&COMMIT_BUCKETS, 1e9),
            errors,
            temporary,
            permanent,
            open_sessions: Gauge::default(),
            reserved: Gauge::default(),
            keys_in_memory_since: Gauge::default(),
        }
    }

    /// Adds the metrics to a registry (the node's: `NodeBuilder::metrics_registry`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ocs_ccr",
            "CCRs answered by CC-Request-Type and Result-Code",
            self.ccr.clone(),
        );
        registry.register(
            "ocs_store_batch_size",
            "CCRs per store commit",
            self.batch_size.clone(),
        );
        registry.register(
            "ocs_store_commit_duration_seconds",
            "Time of one store commit (transaction and fsync)",
            self.commit.clone(),
        );
        registry.register(
            "ocs_store_errors",
            "Store failures by kind (temporary: answered 3004; permanent: 5012)",
            self.errors.clone(),
        );
        registry.register(
            "ocs_open_sessions",
            "Open credit-control sessions in the store",
            self.open_sessions.clone(),
        );
        registry.register(
            "ocs_reserved_amount",
            "Amount reserved over all accounts, minor units",
            self.reserved.clone(),
        );
        registry.register(
            "ocs_request_keys_in_memory_since_timestamp_seconds",
            "The embedded store holds every request key saved since this time (0: every \
             retained key): unmarked duplicates older than it are not found",
            self.keys_in_memory_since.clone(),
        );
    }

    /// A CCR was answered.
    pub fn ccr(&self, request_type: CcRequestType, result_code: u32) {
        let t = match request_type {
            CcRequestType::InitialRequest => 0,
            CcRequestType::UpdateRequest => 1,
            CcRequestType::TerminationRequest => 2,
            CcRequestType::EventRequest => 3,
            CcRequestType::Unrecognized(_) => 4,
        };
        let n = self.result_codes.len();
        let r = match self.result_codes.binary_search(&result_code) {
            Ok(i) => i,
            Err(_) if (1000..6000).contains(&result_code) => n + (result_code / 1000 - 1) as usize,
            Err(_) => n + 5,
        };
        let slot = &self.ccr_slots[t * (n + RC_EXTRA) + r];
        slot.get_or_init(|| {
            let label = match self.result_codes.get(r) {
                Some(c) => c.to_string(),
                None if r - n < 5 => format!("{}xxx", r - n + 1),
                None => "other".into(),
            };
            self.ccr.get_or_create_owned(&CcrLabels {
                r#type: TYPES[t],
                result_code: label,
            })
        })
        .inc();
    }

    /// A store commit of `size` CCRs took `latency` (the committer calls this once per
    /// transaction).
    pub fn batch(&self, size: usize, latency: Duration) {
        self.batch_size.observe(size as f64, size as u64);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.commit.observe(latency.as_secs_f64(), nanos);
    }

    /// A store call failed.
    pub fn store_error(&self, e: &StoreError) {
        if e.is_temporary() {
            self.temporary.inc();
        } else {
            self.permanent.inc();
        }
    }

    /// Sets the gauges from the store's totals.
    pub fn totals(&self, t: StoreTotals) {
        self.open_sessions.set(t.open_sessions);
        self.reserved.set(t.reserved);
        let since_s = t
            .keys_in_memory_since_ms
            .map_or(0, |ms| ms.div_euclid(1000));
        self.keys_in_memory_since.set(since_s);
    }
}

/// A [`Store`] that records its commits and failures in [`OcsMetrics`]. A store that
/// groups charges itself reports its commits ([`Store::observe_commits`]); for the others
/// each [`Store::apply`] or [`Store::charge`] is one commit of one CCR, and each
/// [`Store::apply_group`] one of its batches.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: Arc<OcsMetrics>,
    /// The inner store reports its own commits: calls are not counted as commits.
    own_commits: bool,
}

impl MeteredStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<OcsMetrics>) -> Self {
        let m = metrics.clone();
        let observer: CommitObserver = Arc::new(move |size, took| m.batch(size, took));
        let own_commits = inner.observe_commits(observer);
        MeteredStore {
            inner,
            metrics,
            own_commits,
        }
    }

    /// A call of the inner store that is one commit of one CCR, unless it counts its own.
    fn commit_of_one(&self, started: Instant) {
        if !self.own_commits {
            self.metrics.batch(1, started.elapsed());
        }
    }

    fn note<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            self.metrics.store_error(e);
        }
        r
    }
}

impl Store for MeteredStore {
    fn add_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        self.note(self.inner.add_account(account))
    }
    fn ensure_account(&self, account: &NewAccount) -> Result<AccountId, StoreError> {
        self.note(self.inner.ensure_account(account))
    }
    fn find_account(&self, id: &SubscriberId) -> Result<Option<Account>, StoreError> {
        self.note(self.inner.find_account(id))
    }
    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.note(self.inner.account(id))
    }
    fn adjust_balance(&self, id: AccountId, delta: i64, now_ms: i64) -> Result<i64, StoreError> {
        self.note(self.inner.adjust_balance(id, delta, now_ms))
    }
    fn session_account(&self, session_id: &str) -> Result<Option<AccountId>, StoreError> {
        self.note(self.inner.session_account(session_id))
    }
    fn request_account(&self, key: &str) -> Result<Option<AccountId>, StoreError> {
        self.note(self.inner.request_account(key))
    }
    fn sessions_of(&self, id: AccountId) -> Result<Vec<String>, StoreError> {
        self.note(self.inner.sessions_of(id))
    }
    fn expired_sessions(
        &self,
        now_ms: i64,
        after: Option<&ExpiredSession>,
        limit: usize,
    ) -> Result<Vec<ExpiredSession>, StoreError> {
        self.note(self.inner.expired_sessions(now_ms, after, limit))
    }
    fn close_expired(
        &self,
        sessions: &[ExpiredSession],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.note(self.inner.close_expired(sessions, now_ms))
    }
    fn account_id(&self, id: &SubscriberId) -> Result<Option<AccountId>, StoreError> {
        self.note(self.inner.account_id(id))
    }
    fn apply(&self, batch: &Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        let t = Instant::now();
        let r = self.inner.apply(batch, now_ms);
        if r.is_ok() {
            self.commit_of_one(t);
        }
        self.note(r)
    }
    /// One commit of a group (see [`crate::ocs::store::GroupCommit`]): its size and latency.
    fn apply_group(&self, batches: &[(&Batch, i64)]) -> Vec<Result<BatchOutcome, StoreError>> {
        let t = Instant::now();
        let results = self.inner.apply_group(batches);
        if results.iter().any(|r| r.is_ok()) {
            self.metrics.batch(batches.len(), t.elapsed());
        }
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            self.metrics.store_error(e);
        }
        results
    }
    fn groups(&self) -> bool {
        self.inner.groups()
    }
    /// One charge of the inner store (a commit of its own unless it reports its commits).
    fn charge(self: Arc<Self>, batch: Batch, now_ms: i64) -> ChargeFuture {
        let t = Instant::now();
        let work = self.inner.clone().charge(batch, now_ms);
        Box::pin(async move {
            let r = work.await;
            match &r {
                Ok(_) => self.commit_of_one(t),
                Err(e) => self.metrics.store_error(e),
            }
            r
        })
    }
    /// A charge applied at once by the inner store (the embedded engine: its journal syncs
    /// are its commits). Without this, a node with metrics lost the held-answer path.
    fn charge_now(&self, batch: &Batch, now_ms: i64) -> Option<Result<Charged, StoreError>> {
        let started = Instant::now();
        let r = self.inner.charge_now(batch, now_ms)?;
        match &r {
            Ok(_) => self.commit_of_one(started),
            Err(e) => self.metrics.store_error(e),
        }
        Some(r)
    }
    fn lookups_in_memory(&self) -> bool {
        self.inner.lookups_in_memory()
    }
    fn producers_idle(&self) {
        self.inner.producers_idle()
    }
    fn ledger_totals(&self, id: AccountId) -> Result<LedgerTotals, StoreError> {
        self.note(self.inner.ledger_totals(id))
    }
    fn purge_requests(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.note(self.inner.purge_requests(before_ms))
    }
    fn totals(&self) -> Result<StoreTotals, StoreError> {
        self.note(self.inner.totals())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: &OcsMetrics) -> String {
        let mut r = Registry::default();
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn slow_counts_are_refreshed_less_often() {
        assert_eq!(next_refresh(Duration::from_micros(50)), REFRESH);
        assert_eq!(next_refresh(Duration::from_millis(4)), REFRESH);
        assert_eq!(
            next_refresh(Duration::from_millis(40)),
            Duration::from_secs(10)
        );
        assert_eq!(next_refresh(Duration::from_secs(2)), MAX_REFRESH);
    }

    #[test]
    fn ccr_labels_batches_and_gauges() {
        let m = OcsMetrics::new();
        m.ccr(CcRequestType::InitialRequest, 2001);
        m.ccr(CcRequestType::InitialRequest, 2001);
        m.ccr(CcRequestType::UpdateRequest, 4012);
        m.ccr(CcRequestType::EventRequest, 4999);
        m.ccr(CcRequestType::Unrecognized(9), 7000);
        m.batch(3, Duration::from_micros(300));
        m.batch(1, Duration::from_millis(2));
        m.totals(StoreTotals {
            open_sessions: 7,
            reserved: 1234,
            keys_in_memory_since_ms: Some(1_796_000_000_500),
        });
        let text = render(&m);
        for line in [
            "ocs_ccr_total{type=\"initial\",result_code=\"2001\"} 2",
            "ocs_ccr_total{type=\"update\",result_code=\"4012\"} 1",
            "ocs_ccr_total{type=\"event\",result_code=\"4xxx\"} 1",
            "ocs_ccr_total{type=\"other\",result_code=\"other\"} 1",
            "ocs_store_batch_size_sum 4.0",
            "ocs_store_batch_size_count 2",
            "ocs_store_batch_size_bucket{le=\"2.0\"} 1",
            "ocs_store_batch_size_bucket{le=\"4.0\"} 2",
            "ocs_store_commit_duration_seconds_bucket{le=\"0.0005\"} 1",
            "ocs_store_commit_duration_seconds_bucket{le=\"0.0025\"} 2",
            "ocs_store_errors_total{kind=\"temporary\"} 0",
            "ocs_open_sessions 7",
            "ocs_reserved_amount 1234",
            "ocs_request_keys_in_memory_since_timestamp_seconds 1796000000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    /// The embedded store reports its commits: one per journal sync, which charges made
    /// together share. The wrapper then counts no commit of its own per charge, so the
    /// batch sizes add up to the charges and there are fewer commits than charges.
    #[cfg(feature = "sqlite")]
    #[test]
    fn the_embedded_store_counts_a_commit_per_journal_sync() {
        use crate::ocs::store::{Engine, EngineOptions, IdKind, Op};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocs.db");
        let engine = Engine::open(path.to_str().unwrap(), EngineOptions::default()).unwrap();
        let m = Arc::new(OcsMetrics::new());
        let store = Arc::new(MeteredStore::new(Arc::new(engine), m.clone()));
        let id = store
            .add_account(&NewAccount::new(
                vec![SubscriberId::new(IdKind::E164, "1")],
                1_000,
                978,
            ))
            .unwrap();
        let charges = 50;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let debit = |key: String| {
            let mut b = Batch::new(id, None);
            b.key = Some(key);
            b.ops.push(Op::Debit {
                amount: 1,
                partial: false,
                reference: None,
            });
            b
        };
        rt.block_on(async {
            let all: Vec<_> = (0..charges)
                .map(|i| tokio::spawn(store.clone().charge(debit(format!("k{i}")), 0)))
                .collect();
            for charged in all {
                charged.await.unwrap().unwrap();
            }
            // Charges applied at once go through the wrapper too (the held-answer path).
            for i in 0..10 {
                let b = debit(format!("now{i}"));
                let charged = store.charge_now(&b, 0).expect("the engine charges at once");
                charged.unwrap().durable.await.unwrap();
            }
        });
        let text = render(&m);
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
        };
        // The account's record and the 60 charges, in fewer syncs than charges.
        let (records, commits) = (
            value("ocs_store_batch_size_sum"),
            value("ocs_store_batch_size_count"),
        );
        assert_eq!(records, f64::from(charges + 10 + 1));
        assert!(commits < f64::from(charges), "{commits} commits");
        assert_eq!(value("ocs_store_commit_duration_seconds_count"), commits);
    }
}
