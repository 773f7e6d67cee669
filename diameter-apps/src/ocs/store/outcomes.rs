//! Saved request outcomes of the engine's memory state: recent ones in a log bounded in
//! bytes, every retained key in a filter of keyed 64-bit hashes by minute saved (see
//! [`super::memory`]). The filter also indexes the log: a charge looks its key up with one
//! probe of one table, and evicting the oldest outcome touches neither.

use super::memory::{FastMap, MemLimits, OutcomeLookup};
use super::outcome_log::{OutcomeLog, Saved};
use super::{AccountId, StoreError};
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Width of one bucket of the key filter, ms.
const FILTER_BUCKET_MS: i64 = 60_000;
/// Bytes counted per saved outcome besides its key and text: its header and place in the
/// log, and a share of the chunk left unused.
const OUTCOME_OVERHEAD: usize = 48;

/// Filter keys dropped and saved outcomes evicted, at most, per saved outcome: more than
/// one, so that a filter or a log over its bound comes back under it.
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

/// How to undo an [`Outcomes::insert`] ([`Outcomes::remove_last`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Inserted {
    /// The filter's slot for the key's hash pointed at this outcome before (raw, 0: none).
    Indexed(u64),
    /// The slot points at another key's outcome in memory (the same hash): this one is
    /// indexed by its key apart.
    Collided,
}

/// Saved request outcomes: recent ones in memory, all retained keys in a filter.
pub(crate) struct Outcomes {
    /// The recent outcomes, oldest first, numbered in the order saved.
    log: OutcomeLog,
    bytes: usize,
    /// Outcomes with a sequence below this are in SQLite and may be evicted.
    pub(crate) checkpointed_seq: u64,
    /// Keys the filter's hashes (seeded per process and instance; foldhash's quality
    /// variant, as a hash stands for its key here).
    hasher: foldhash::quality::RandomState,
    /// Masks every key's hash, in tests of keys sharing one.
    #[cfg(test)]
    hash_mask: u64,
    /// Keyed hashes of the retained keys, each with the newest outcome of its hash.
    filter: KeyFilter,
    /// Outcomes in memory whose key's hash slot points at another key's (a collision of
    /// 64-bit keyed hashes: in practice empty), by key.
    collided: FastMap<Arc<str>, u64>,
    /// Hashes whose keys all left the filter while their slot's outcome was in memory:
    /// their slots go once it has left too ([`Outcomes::checkpointed`]).
    lingering: Vec<u64>,
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

/// A filter slot: how many retained keys have the hash (low 16 bits; at the top value it
/// stays, as if the keys were retained for good), and the sequence number plus one of the
/// newest outcome saved under it (the other 48 bits; 0: none). An outcome's number is
/// only trusted while the log holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot(u64);

impl Slot {
    const COUNT: u64 = 0xFFFF;

    fn count(self) -> u64 {
        self.0 & Self::COUNT
    }

    fn add(&mut self) {
        if self.count() < Self::COUNT {
            self.0 += 1;
        }
    }

    /// One key less (none once the count stuck at its top).
    fn remove_one(&mut self) {
        if (1..Self::COUNT).contains(&self.count()) {
            self.0 -= 1;
        }
    }

    /// The outcome's number, raw (plus one; 0: none).
    fn outcome(self) -> u64 {
        self.0 >> 16
    }

    fn set_outcome(&mut self, raw: u64) {
        self.0 = (raw << 16) | self.count();
    }
}

/// Keyed hashes of the retained keys ([`Slot`]s), in [`FILTER_SHARDS`] tables chosen by
/// the hash's top bits.
struct KeyFilter(Vec<FastMap<u64, Slot>>);

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

    fn shard(&mut self, h: u64) -> &mut FastMap<u64, Slot> {
        &mut self.0[Self::index(h)]
    }

    fn get(&self, h: u64) -> Slot {
        self.0[Self::index(h)].get(&h).copied().unwrap_or_default()
    }

    fn slot(&mut self, h: u64) -> &mut Slot {
        self.shard(h).entry(h).or_default()
    }

    /// Removes the slot of `h` if it holds nothing: no key, or an outcome `gone` says left.
    fn remove_if_unused(&mut self, h: u64, gone: impl Fn(u64) -> bool) {
        if let std::collections::hash_map::Entry::Occupied(e) = self.shard(h).entry(h) {
            let s = *e.get();
            if s.count() == 0 && (s.outcome() == 0 || gone(s.outcome() - 1)) {
                e.remove();
            }
        }
    }
}

impl Outcomes {
    pub(crate) fn new(limits: MemLimits) -> Self {
        Outcomes {
            log: OutcomeLog::default(),
            bytes: 0,
            checkpointed_seq: 0,
            hasher: foldhash::quality::RandomState::default(),
            #[cfg(test)]
            hash_mask: u64::MAX,
            filter: KeyFilter::default(),
            collided: FastMap::default(),
            lingering: Vec::new(),
            by_minute: BTreeMap::new(),
            filter_len: 0,
            incomplete_before: None,
            limits,
        }
    }

    /// Sizes the log's index for its bound now, so that it never grows while charging.
    /// Each outcome counts at least [`OUTCOME_OVERHEAD`] bytes, which bounds their number.
    /// The key filter grows with its keys (its entries are 16 bytes: a rehash of a shard
    /// is short, and a full-size table up front would cost about 140 MB of resident
    /// memory on a quiet server).
    pub(crate) fn reserve_bounds(&mut self) {
        self.log
            .reserve(self.limits.outcome_bytes / OUTCOME_OVERHEAD);
    }

    /// Saved outcomes held in memory.
    #[cfg(test)]
    pub(crate) fn in_memory(&self) -> usize {
        self.log.len()
    }

    /// Since when (ms) the filter holds every key saved (`None`: every retained key).
    pub(crate) fn complete_since(&self) -> Option<i64> {
        self.incomplete_before
    }

    pub(crate) fn hash(&self, key: &str) -> u64 {
        let h = self.hasher.hash_one(key);
        #[cfg(test)]
        let h = h & self.hash_mask;
        h
    }

    /// The number the next saved outcome gets (those before it are saved).
    pub(crate) fn next_seq(&self) -> u64 {
        self.log.next_seq()
    }

    /// `key`'s outcome in memory, found through the slot of its hash.
    fn find(&self, key: &str, slot: Slot) -> Option<Saved<'_>> {
        let saved = self.log.get(slot.outcome().checked_sub(1)?);
        if let Some(saved) = saved.filter(|s| s.key == key.as_bytes()) {
            return Some(saved);
        }
        if self.collided.is_empty() {
            return None;
        }
        self.log.get(*self.collided.get(key)?)
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
        let slot = self.filter.get(self.hash(key));
        if let Some(saved) = self.find(key, slot) {
            let outcome = String::from_utf8_lossy(saved.outcome).into_owned();
            return Ok(Some((saved.account, outcome)));
        }
        if self.sql_may_hold(slot, check) {
            return fallback(key);
        }
        Ok(None)
    }

    /// Whether SQLite may hold the outcome of a key with filter slot `slot`, as far back
    /// as `check` looks (the outcomes in memory aside): the filter holds its key, or a
    /// marked key is looked for past it.
    fn sql_may_hold(&self, slot: Slot, check: KeyCheck) -> bool {
        (check == KeyCheck::Retained && self.incomplete_before.is_some()) || slot.count() > 0
    }

    /// Whether [`Outcomes::lookup`] of `key` would ask SQLite (the `fallback`).
    pub(crate) fn needs_fallback(&self, key: &str, check: KeyCheck) -> bool {
        if check == KeyCheck::Skip {
            return false;
        }
        let slot = self.filter.get(self.hash(key));
        self.find(key, slot).is_none() && self.sql_may_hold(slot, check)
    }

    /// Keeps a new outcome in memory (its key goes into the filter at
    /// [`Outcomes::commit`]); returns how to undo it.
    pub(crate) fn insert(
        &mut self,
        key: &Arc<str>,
        account: AccountId,
        outcome: &str,
        at: i64,
    ) -> Inserted {
        self.bytes += key.len() + outcome.len() + OUTCOME_OVERHEAD;
        let seq = self.log.push(account, at, key, outcome);
        let h = self.hash(key);
        let log = &self.log;
        let slot = self.filter.slot(h);
        let before = slot.outcome();
        let other = before
            .checked_sub(1)
            .and_then(|s| log.get(s))
            .is_some_and(|saved| saved.key != key.as_bytes());
        if other {
            self.collided.insert(key.clone(), seq);
            return Inserted::Collided;
        }
        slot.set_outcome(seq + 1);
        Inserted::Indexed(before)
    }

    /// Undoes the last [`Outcomes::insert`], of `key`.
    pub(crate) fn remove_last(&mut self, key: &str, how: Inserted) {
        let Some(last) = self.next_seq().checked_sub(1) else {
            return;
        };
        let Some(saved) = self.log.get(last) else {
            return;
        };
        debug_assert_eq!(saved.key, key.as_bytes(), "undone out of order");
        self.bytes = self
            .bytes
            .saturating_sub(saved.key.len() + saved.outcome.len() + OUTCOME_OVERHEAD);
        self.log.pop_last();
        match how {
            Inserted::Collided => {
                self.collided.remove(key);
            }
            Inserted::Indexed(before) => {
                let h = self.hash(key);
                self.filter.slot(h).set_outcome(before);
                let log = &self.log;
                self.filter.remove_if_unused(h, |s| !log.holds(s));
            }
        }
    }

    /// Puts a saved key into the filter (once its batch succeeded), dropping keys of the
    /// oldest minute when the filter is full. Both that and the eviction of saved
    /// outcomes go a few entries per call ([`STEP`]): a charge holding the state's lock
    /// never pays for a whole minute or a whole checkpoint at once.
    pub(crate) fn commit(&mut self, key: &str, at: i64) {
        let h = self.hash(key);
        self.filter.slot(h).add();
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

    /// One retained key of hash `h` leaves the filter. Its slot stays while it still
    /// indexes an outcome in memory (the outcome is found there until evicted).
    fn remove_key(&mut self, h: u64) {
        let slot = self.filter.slot(h);
        slot.remove_one();
        let slot = *slot;
        let log = &self.log;
        self.filter.remove_if_unused(h, |s| !log.holds(s));
        if slot.count() == 0 && slot.outcome() != 0 && log.holds(slot.outcome() - 1) {
            self.lingering.push(h);
        }
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
            self.remove_key(h);
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
            self.remove_key(*h);
        }
        self.filter_len -= hashes.len();
        Some(minute)
    }

    /// Drops the oldest outcome in memory.
    fn pop_oldest(&mut self) {
        if let Some(len) = self.log.first_len() {
            self.bytes = self.bytes.saturating_sub(len + OUTCOME_OVERHEAD);
            self.log.pop_first();
        }
    }

    /// Drops the oldest checkpointed outcomes while over the byte bound.
    /// At most `max` of them: [`STEP`] per saved outcome and a thousand per checkpoint,
    /// so the bound holds within the outcomes of a checkpoint interval or two.
    pub(crate) fn evict(&mut self, max: usize) {
        for _ in 0..max {
            if self.bytes <= self.limits.outcome_bytes
                || self.log.len() == 0
                || self.log.first_seq() >= self.checkpointed_seq
            {
                break;
            }
            self.pop_oldest();
        }
    }

    /// The outcomes up to `seq` are in SQLite: evicts a thousand at most while over the
    /// byte bound (the saved outcomes that follow evict the rest), and lets go of the
    /// slots and collided keys whose outcomes have left memory.
    pub(crate) fn checkpointed(&mut self, seq: u64) {
        self.checkpointed_seq = self.checkpointed_seq.max(seq);
        self.evict(1024);
        self.forget_evicted();
    }

    /// Removes the lingering slots and collided keys of outcomes no longer in memory.
    fn forget_evicted(&mut self) {
        let log = &self.log;
        self.collided.retain(|_, s| log.holds(*s));
        let mut lingering = std::mem::take(&mut self.lingering);
        lingering.retain(|h| {
            let slot = self.filter.get(*h);
            let held = slot.count() == 0 && slot.outcome() != 0 && log.holds(slot.outcome() - 1);
            if !held {
                self.filter.remove_if_unused(*h, |s| !log.holds(s));
            }
            held
        });
        self.lingering = lingering;
    }

    /// Forgets outcomes saved before `before_ms`; returns how many left memory. The log
    /// is in the order saved, so it goes from the oldest up to the first one saved since
    /// (one saved earlier after a clock step back stays until evicted).
    pub(crate) fn purge(&mut self, before_ms: i64) -> u64 {
        let mut removed = 0;
        while self.log.first().is_some_and(|s| s.at < before_ms) {
            self.pop_oldest();
            removed += 1;
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
        self.forget_evicted();
        if self.incomplete_before.is_some_and(|t| t <= before_ms) {
            self.incomplete_before = None;
        }
        removed
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
            o.insert(&key, 1, "0;1;0", n);
            o.commit(&key, n);
        }
        // Nothing checkpointed: nothing evicted.
        assert_eq!(o.in_memory(), 100);
        o.checkpointed_seq = 100;
        o.evict(usize::MAX);
        assert!(o.bytes <= 2_000 && o.in_memory() < 100);
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
            o.insert(&key, 1, "0;1;0", 0);
        }
        o.checkpointed_seq = 10;
        o.commit("k9", 0);
        assert_eq!(o.in_memory(), 10 - STEP);
    }

    #[test]
    fn keys_of_one_hash_are_told_apart_in_memory_and_looked_up_in_sqlite_once_evicted() {
        let mut o = Outcomes::new(MemLimits {
            outcome_bytes: 0,
            filter_keys: 1_000,
            ..MemLimits::default()
        });
        o.hash_mask = 0;
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        o.insert(&a, 1, "A", 0);
        o.commit(&a, 0);
        assert!(matches!(o.insert(&b, 2, "B", 0), Inserted::Collided));
        o.commit(&b, 0);
        let no_sql = |_: &str| panic!("in memory");
        let found = |o: &Outcomes, k| o.lookup(k, KeyCheck::Window, &no_sql).unwrap();
        assert_eq!(found(&o, "a"), Some((1, "A".to_string())));
        assert_eq!(found(&o, "b"), Some((2, "B".to_string())));
        // A third, rolled back, leaves the other two as they were.
        let how = o.insert(&c, 3, "C", 0);
        o.remove_last("c", how);
        assert_eq!((o.in_memory(), o.collided.len()), (2, 1));
        assert_eq!(found(&o, "b"), Some((2, "B".to_string())));
        // "c" is not in memory but its hash is retained: SQLite is asked (and says new).
        let asked = std::cell::Cell::new(0);
        let sql = |_: &str| {
            asked.set(asked.get() + 1);
            Ok(None)
        };
        assert_eq!(o.lookup("c", KeyCheck::Window, &sql).unwrap(), None);
        assert_eq!(asked.get(), 1);
        // Checkpointed, both leave memory (a bound of 0 bytes) and are looked up in SQLite.
        o.checkpointed(o.next_seq());
        assert_eq!((o.in_memory(), o.collided.len()), (0, 0));
        assert!(o.needs_fallback("a", KeyCheck::Window) && o.needs_fallback("b", KeyCheck::Window));
    }

    #[test]
    fn a_key_dropped_from_a_full_filter_is_found_in_memory_until_its_outcome_goes() {
        let mut o = Outcomes::new(MemLimits {
            outcome_bytes: 1 << 20,
            filter_keys: 1,
            ..MemLimits::default()
        });
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        o.insert(&a, 1, "A", 0);
        o.commit(&a, 0);
        o.insert(&b, 1, "B", FILTER_BUCKET_MS);
        o.commit(&b, FILTER_BUCKET_MS);
        assert_eq!(o.filter_len, 1, "the filter dropped a's minute");
        let no_sql = |_: &str| panic!("in memory");
        assert_eq!(
            o.lookup("a", KeyCheck::Window, &no_sql).unwrap(),
            Some((1, "A".to_string()))
        );
        assert_eq!(o.lingering.len(), 1);
        // Purged from memory: its slot goes too, b's stays.
        assert_eq!(o.purge(1), 1);
        assert!(o.lingering.is_empty());
        assert_eq!(o.filter.0.iter().map(|s| s.len()).sum::<usize>(), 1);
        assert!(!o.needs_fallback("a", KeyCheck::Window));
        assert!(!o.needs_fallback("b", KeyCheck::Window), "in memory");
    }

    /// Random saves, roll-backs, checkpoints and evictions over keys sharing 16 hashes,
    /// against a model: a saved key is always found (in memory or in SQLite, which holds
    /// what was checkpointed) with its own outcome, and a key never saved never is.
    #[test]
    fn every_saved_key_is_found_with_its_own_outcome_among_shared_hashes() {
        let mut o = Outcomes::new(MemLimits {
            outcome_bytes: 3_000,
            filter_keys: 1 << 20,
            ..MemLimits::default()
        });
        o.hash_mask = 0xF;
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        // key -> (outcome, sequence): what was saved; SQLite holds those checkpointed.
        let mut saved: std::collections::HashMap<String, (String, u64)> = Default::default();
        for n in 0..20_000u64 {
            match next(10) {
                0 => {
                    let seq = o.next_seq();
                    o.checkpointed(seq);
                }
                1 => {
                    let key: Arc<str> = format!("r{n}").into();
                    let how = o.insert(&key, 1, "rolled back", 0);
                    o.remove_last(&key, how);
                }
                _ => {
                    let key: Arc<str> = format!("k{n}").into();
                    let outcome = format!("outcome of k{n}");
                    saved.insert(key.to_string(), (outcome.clone(), o.next_seq()));
                    o.insert(&key, 1, &outcome, 0);
                    o.commit(&key, 0);
                }
            }
            let probe = if next(2) == 0 {
                format!("k{}", next(n + 1))
            } else {
                format!("r{}", next(n + 1))
            };
            let sql = |k: &str| {
                Ok(saved
                    .get(k)
                    .filter(|(_, seq)| *seq < o.checkpointed_seq)
                    .map(|(out, _)| (1, out.clone())))
            };
            let found = o.lookup(&probe, KeyCheck::Window, &sql).unwrap();
            assert_eq!(
                found.map(|f| f.1),
                saved.get(&probe).map(|s| s.0.clone()),
                "{probe}"
            );
        }
        assert!(o.in_memory() < saved.len() / 2, "the byte bound evicted");
    }
}
