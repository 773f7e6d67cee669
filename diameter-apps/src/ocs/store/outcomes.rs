//! Saved request outcomes of the engine's memory state: recent ones in a map bounded in
//! bytes, every retained key in a filter of keyed 64-bit hashes by minute saved (see
//! [`super::memory`]).

use super::memory::{FastMap, MemLimits, OutcomeLookup};
use super::{AccountId, StoreError};
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Width of one bucket of the key filter, ms.
const FILTER_BUCKET_MS: i64 = 60_000;
/// Bytes counted per saved outcome besides its key and text (map and queue entries).
const OUTCOME_OVERHEAD: usize = 96;

/// Filter keys dropped and saved outcomes evicted, at most, per saved outcome: more than
/// one, so that a filter or a map over its bound comes back under it.
pub(crate) const STEP: usize = 4;

/// How far back a request's key is looked for among the saved outcomes.
///
/// Past [`MemLimits::filter_keys`] the filter drops its oldest minute, and a key that is
/// not in it may still be in SQLite. Looking every new key up there (an index walk under
/// the state's lock) halved the node's rate once the filter was full: after about 40 s at
/// 100,000 CCR/s. So only requests marked as possible duplicates (the T flag) are looked
/// for past the filter, as RFC 6733 Appendix C suggests; an unmarked request is checked
/// against the filter's window, which always holds the current minute and, with the
/// default bound, 4 million keys. A retransmission arriving before its original is found
/// too, as long as the original comes within that window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// Every retained outcome: a request marked as a possible duplicate, an operator's
    /// batch, a look-up outside a charge.
    Retained,
    /// The outcomes in memory and those whose keys the filter holds: an unmarked request.
    Window,
    /// None: a journaled batch replayed on recovery, which was new when it ran (a batch
    /// that found its key is not journaled). Looking again could find an older outcome
    /// that the run, checking its window only, did not, and replay differently.
    Skip,
}

/// Saved request outcomes: recent ones in memory, all retained keys in a filter.
pub(crate) struct Outcomes {
    pub(crate) recent: FastMap<Arc<str>, (AccountId, Arc<str>, i64)>,
    /// Insertion order of `recent`: (sequence, key).
    order: VecDeque<(u64, Arc<str>)>,
    bytes: usize,
    pub(crate) next_seq: u64,
    /// Outcomes with a sequence below this are in SQLite and may be evicted.
    pub(crate) checkpointed_seq: u64,
    /// Keys the filter's hashes (seeded per process and instance; foldhash's quality
    /// variant, as a hash stands for its key here).
    hasher: foldhash::quality::RandomState,
    /// Keyed hashes of the retained keys.
    filter: KeyFilter,
    /// The hashes by minute saved (for the purge).
    by_minute: BTreeMap<i64, Vec<u64>>,
    filter_len: usize,
    /// Keys saved before this may be missing from the filter (dropped for space).
    incomplete_before: Option<i64>,
    limits: MemLimits,
}

/// Shards of the key filter: each grows (rehashes) on its own, so that growing moves a
/// sixty-fourth of the filter at a time. Growing one table past 1.8 million keys took
/// 44 ms, under the state's lock; the longest insert into 64 shards took 1.1 ms.
const FILTER_SHARDS: usize = 64;
const _: () = assert!(FILTER_SHARDS == 1 << (64 - 58)); // `KeyFilter::index`

/// Keyed hashes of the retained keys, with a count (two keys may share a hash), in
/// [`FILTER_SHARDS`] tables chosen by the hash's top bits.
struct KeyFilter(Vec<FastMap<u64, u32>>);

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter((0..FILTER_SHARDS).map(|_| FastMap::default()).collect())
    }
}

impl KeyFilter {
    /// The shard of a hash: its top bits.
    fn index(h: u64) -> usize {
        (h >> 58) as usize
    }

    fn shard(&mut self, h: u64) -> &mut FastMap<u64, u32> {
        &mut self.0[Self::index(h)]
    }

    fn contains(&self, h: u64) -> bool {
        self.0[Self::index(h)].contains_key(&h)
    }

    fn add(&mut self, h: u64) {
        *self.shard(h).entry(h).or_insert(0) += 1;
    }

    fn remove_one(&mut self, h: u64) {
        if let std::collections::hash_map::Entry::Occupied(mut e) = self.shard(h).entry(h) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

impl Outcomes {
    pub(crate) fn new(limits: MemLimits) -> Self {
        Outcomes {
            recent: FastMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            next_seq: 0,
            checkpointed_seq: 0,
            hasher: foldhash::quality::RandomState::default(),
            filter: KeyFilter::default(),
            by_minute: BTreeMap::new(),
            filter_len: 0,
            incomplete_before: None,
            limits,
        }
    }

    /// Sizes the map of saved outcomes for its bound now, so that it never grows while
    /// charging: growing rehashes every entry under the state's lock (a 140 ms stall at
    /// about 460,000 saved outcomes on the README's machine). Each outcome counts at least
    /// [`OUTCOME_OVERHEAD`] bytes, which bounds their number: about 50 MB of table with the
    /// default 64 MiB bound. The key filter still grows with its keys (its entries are 16
    /// bytes: a rehash moves a tenth as much, and a full-size table up front would cost
    /// about 140 MB of resident memory on a quiet server).
    pub(crate) fn reserve_bounds(&mut self) {
        let outcomes = self.limits.outcome_bytes / OUTCOME_OVERHEAD;
        self.recent.reserve(outcomes);
        self.order.reserve(outcomes);
    }

    /// Since when (ms) the filter holds every key saved (`None`: every retained key).
    pub(crate) fn complete_since(&self) -> Option<i64> {
        self.incomplete_before
    }

    pub(crate) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The saved outcome of `key`, looked for as far back as `check` says: in memory, then
    /// in SQLite (`fallback`) when the filter holds the key, or, with
    /// [`KeyCheck::Retained`], when the filter has dropped keys still retained.
    pub(crate) fn lookup(
        &self,
        key: &str,
        check: KeyCheck,
        fallback: OutcomeLookup<'_>,
    ) -> Result<Option<(AccountId, String)>, StoreError> {
        if check == KeyCheck::Skip {
            return Ok(None);
        }
        if let Some((account, outcome, _)) = self.recent.get(key) {
            return Ok(Some((*account, outcome.to_string())));
        }
        if self.sql_may_hold(key, check) {
            return fallback(key);
        }
        Ok(None)
    }

    /// Whether SQLite may hold `key`'s outcome, as far back as `check` looks (the outcomes
    /// in memory aside): the filter holds its key, or a marked key is looked for past it.
    fn sql_may_hold(&self, key: &str, check: KeyCheck) -> bool {
        (check == KeyCheck::Retained && self.incomplete_before.is_some())
            || self.filter.contains(self.hash(key))
    }

    /// Whether [`Outcomes::lookup`] of `key` would ask SQLite (the `fallback`).
    pub(crate) fn needs_fallback(&self, key: &str, check: KeyCheck) -> bool {
        check != KeyCheck::Skip && !self.recent.contains_key(key) && self.sql_may_hold(key, check)
    }

    /// Keeps a new outcome in the recent map (not yet in the filter, see [`Outcomes::commit`]).
    pub(crate) fn insert(
        &mut self,
        key: &Arc<str>,
        account: AccountId,
        outcome: &Arc<str>,
        at: i64,
    ) {
        self.bytes += key.len() + outcome.len() + OUTCOME_OVERHEAD;
        self.recent
            .insert(key.clone(), (account, outcome.clone(), at));
        self.order.push_back((self.next_seq, key.clone()));
        self.next_seq += 1;
    }

    /// Undoes the last [`Outcomes::insert`] of `key`.
    pub(crate) fn remove_last(&mut self, key: &str) {
        if let Some((_, outcome, _)) = self.recent.remove(key) {
            self.bytes = self
                .bytes
                .saturating_sub(key.len() + outcome.len() + OUTCOME_OVERHEAD);
        }
        if self.order.back().is_some_and(|(_, k)| **k == *key) {
            self.order.pop_back();
            self.next_seq -= 1;
        }
    }

    /// Puts a saved key into the filter (once its batch succeeded), dropping keys of the
    /// oldest minute when the filter is full. Both that and the eviction of saved
    /// outcomes go a few entries per call ([`STEP`]): a charge holding the state's lock
    /// never pays for a whole minute or a whole checkpoint at once.
    pub(crate) fn commit(&mut self, key: &str, at: i64) {
        let h = self.hash(key);
        self.filter.add(h);
        let minute = at.div_euclid(FILTER_BUCKET_MS);
        match self.by_minute.last_entry() {
            Some(mut last) if *last.key() == minute => last.get_mut().push(h),
            last => {
                // A new minute: sized like the last one, so that it does not grow by
                // doubling (a copy of millions of hashes at a time) under the lock.
                let size = last.map_or(0, |l| l.get().len());
                self.by_minute
                    .entry(minute)
                    .or_insert_with(|| Vec::with_capacity(size))
                    .push(h);
            }
        }
        self.filter_len += 1;
        for _ in 0..STEP {
            if self.filter_len <= self.limits.filter_keys || self.by_minute.len() <= 1 {
                break;
            }
            self.drop_oldest_key();
        }
        self.evict(STEP);
    }

    /// Removes one key of the oldest minute from the filter; from then on a key of that
    /// minute may be missing, so keys saved before its end are looked up in SQLite.
    fn drop_oldest_key(&mut self) {
        let Some(mut first) = self.by_minute.first_entry() else {
            return;
        };
        let end = (*first.key() + 1).saturating_mul(FILTER_BUCKET_MS);
        let dropped = first.get_mut().pop();
        if first.get().is_empty() {
            first.remove();
        }
        self.missing_before(end);
        if let Some(h) = dropped {
            self.filter.remove_one(h);
            self.filter_len -= 1;
        }
    }

    /// Notes that keys saved up to `at` (to the end of its minute) may be missing from the
    /// filter: the engine loads only the newest keys when it opens.
    pub(crate) fn keys_missing_through(&mut self, at: i64) {
        self.missing_before((at.div_euclid(FILTER_BUCKET_MS) + 1).saturating_mul(FILTER_BUCKET_MS));
    }

    /// Keys saved before `end` may be missing from the filter.
    fn missing_before(&mut self, end: i64) {
        self.incomplete_before = Some(self.incomplete_before.map_or(end, |t| t.max(end)));
    }

    /// Removes the oldest minute from the filter; returns it.
    pub(crate) fn drop_first_minute(&mut self) -> Option<i64> {
        let (minute, hashes) = self.by_minute.pop_first()?;
        for h in &hashes {
            self.filter.remove_one(*h);
        }
        self.filter_len -= hashes.len();
        Some(minute)
    }

    /// Drops the oldest checkpointed outcomes while over the byte bound.
    /// At most `max` of them: [`STEP`] per saved outcome and a thousand per checkpoint,
    /// so the bound holds within the outcomes of a checkpoint interval or two.
    pub(crate) fn evict(&mut self, max: usize) {
        for _ in 0..max {
            if self.bytes <= self.limits.outcome_bytes {
                break;
            }
            match self.order.front() {
                Some((seq, _)) if *seq < self.checkpointed_seq => {}
                _ => break,
            }
            let Some((_, key)) = self.order.pop_front() else {
                break;
            };
            if let Some((_, outcome, _)) = self.recent.remove(&key) {
                self.bytes = self
                    .bytes
                    .saturating_sub(key.len() + outcome.len() + OUTCOME_OVERHEAD);
            }
        }
    }

    /// Forgets outcomes saved before `before_ms`; returns how many left memory.
    pub(crate) fn purge(&mut self, before_ms: i64) -> u64 {
        let n = self.recent.len();
        self.recent.retain(|_, (_, _, at)| *at >= before_ms);
        let removed = n - self.recent.len();
        if removed > 0 {
            let recent = &self.recent;
            self.order.retain(|(_, k)| recent.contains_key(k));
            self.bytes = self
                .recent
                .iter()
                .map(|(k, (_, o, _))| k.len() + o.len() + OUTCOME_OVERHEAD)
                .sum();
        }
        // Whole minutes before the horizon only: a key of a partly purged minute stays in
        // the filter and is looked up in SQLite (not found: new).
        let first_kept = before_ms.div_euclid(FILTER_BUCKET_MS);
        while let Some((&minute, _)) = self.by_minute.first_key_value() {
            if minute >= first_kept {
                break;
            }
            self.drop_first_minute();
        }
        if self.incomplete_before.is_some_and(|t| t <= before_ms) {
            self.incomplete_before = None;
        }
        removed as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_bounded_and_found_through_the_filter() {
        let limits = MemLimits {
            outcome_bytes: 2_000,
            filter_keys: 1_000,
            ..MemLimits::default()
        };
        let mut o = Outcomes::new(limits);
        for n in 0..100 {
            let key: Arc<str> = format!("k{n}").into();
            o.insert(&key, 1, &"0;1;0".into(), n);
            o.commit(&key, n);
        }
        // Nothing checkpointed: nothing evicted.
        assert_eq!(o.recent.len(), 100);
        o.checkpointed_seq = 100;
        o.evict(usize::MAX);
        assert!(o.bytes <= 2_000 && o.recent.len() < 100);
        let sql = |k: &str| Ok((k == "k0").then(|| (1, "0;1;0".to_string())));
        assert!(o.lookup("k0", KeyCheck::Retained, &sql).unwrap().is_some()); // evicted, read from SQL
        assert!(o
            .lookup("new", KeyCheck::Retained, &|_| panic!(
                "no SQL for a new key"
            ))
            .unwrap()
            .is_none());
        assert!(o
            .lookup("k99", KeyCheck::Retained, &|_| panic!("in memory"))
            .unwrap()
            .is_some());
        // A full filter drops its oldest minute and asks SQL for unknown keys until the
        // retention passed over it.
        let mut small = Outcomes::new(MemLimits {
            outcome_bytes: 1 << 20,
            filter_keys: 2,
            ..MemLimits::default()
        });
        small.commit("a", 0);
        small.commit("b", FILTER_BUCKET_MS);
        small.commit("c", 2 * FILTER_BUCKET_MS);
        assert_eq!(small.incomplete_before, Some(FILTER_BUCKET_MS));
        let asked = std::cell::Cell::new(false);
        let probe = |_: &str| {
            asked.set(true);
            Ok(None)
        };
        small.lookup("x", KeyCheck::Retained, &probe).unwrap();
        assert!(
            asked.get(),
            "a marked request is looked for past the filter"
        );
        // An unmarked one only where the filter holds its key; a replay, nowhere.
        asked.set(false);
        assert!(small
            .lookup("x", KeyCheck::Window, &probe)
            .unwrap()
            .is_none());
        assert!(
            !asked.get(),
            "no SQL for an unmarked key the filter does not hold"
        );
        small.lookup("c", KeyCheck::Window, &probe).unwrap();
        assert!(asked.get(), "a key the filter holds is looked up");
        // `needs_fallback` says so beforehand, each time.
        assert!(small.needs_fallback("x", KeyCheck::Retained));
        assert!(!small.needs_fallback("x", KeyCheck::Window));
        assert!(small.needs_fallback("c", KeyCheck::Window));
        assert!(!small.needs_fallback("c", KeyCheck::Skip));
        assert!(!o.needs_fallback("k99", KeyCheck::Retained), "in memory");
        asked.set(false);
        small.lookup("c", KeyCheck::Skip, &probe).unwrap();
        assert!(!asked.get());
        small.purge(FILTER_BUCKET_MS);
        assert_eq!(small.incomplete_before, None);
    }

    #[test]
    fn a_full_filter_and_map_shrink_a_few_entries_per_commit() {
        let mut o = Outcomes::new(MemLimits {
            outcome_bytes: 1 << 20,
            filter_keys: 10,
            ..MemLimits::default()
        });
        for n in 0..20 {
            o.commit(&format!("old{n}"), 0); // one minute is never dropped
        }
        assert_eq!(o.filter_len, 20);
        let mut sizes = Vec::new();
        for n in 0..4 {
            o.commit(&format!("new{n}"), FILTER_BUCKET_MS);
            sizes.push(o.filter_len);
        }
        assert_eq!(
            sizes,
            vec![17, 14, 11, 10],
            "at most STEP keys dropped per commit"
        );
        assert_eq!(o.incomplete_before, Some(FILTER_BUCKET_MS));
        // Saved outcomes over their bound go the same way once checkpointed.
        let mut o = Outcomes::new(MemLimits {
            outcome_bytes: 0,
            filter_keys: 1_000,
            ..MemLimits::default()
        });
        for n in 0..10 {
            let key: Arc<str> = format!("k{n}").into();
            o.insert(&key, 1, &"0;1;0".into(), 0);
        }
        o.checkpointed_seq = 10;
        o.commit("k9", 0);
        assert_eq!(o.recent.len(), 10 - STEP);
    }
}
