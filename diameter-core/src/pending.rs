//! Requests sent and not yet answered, keyed by Hop-by-Hop id (or another mark `K`), each
//! with a deadline. Sans-IO: the owner passes `now` and wakes up at
//! [`PendingTable::next_deadline`].
//!
//! The deadlines are a min-heap that keeps an answered request's deadline until it comes
//! to the top or the heap is rebuilt: answers mostly come in the order the requests went,
//! so a request's deadline is usually on top when its answer comes and leaves at once, and
//! a deadline added is usually the latest (no reordering). That costs a few comparisons
//! per request where an ordered set cost two tree updates (some 1,000 instructions per
//! relayed answer). The heap never holds more than twice the pending requests plus
//! 64 answered ones (`STALE_SLACK`), and its top is always a pending request's.

use crate::fast_map::FastMap;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::BinaryHeap;
use std::hash::Hash;
use std::time::Instant;

/// Answered requests' deadlines the heap may hold beyond the pending ones before it is
/// rebuilt from the pending requests.
const STALE_SLACK: usize = 64;

/// A table of pending requests carrying a value `T` (a reply channel, the original
/// request for failover, ...). Memory follows the requests pending: see the module doc.
#[derive(Debug)]
pub struct PendingTable<T, K = u32> {
    entries: FastMap<K, (Instant, T)>,
    /// Earliest first; may hold deadlines of requests already taken (never on top).
    deadlines: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<T, K: Ord> Default for PendingTable<T, K> {
    fn default() -> Self {
        PendingTable {
            entries: FastMap::default(),
            deadlines: BinaryHeap::new(),
        }
    }
}

impl<T, K: Copy + Eq + Hash + Ord> PendingTable<T, K> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a request; gives the value back if the id is already pending.
    pub fn insert(&mut self, id: K, deadline: Instant, value: T) -> Result<(), T> {
        if self.entries.contains_key(&id) {
            return Err(value);
        }
        self.deadlines.push(Reverse((deadline, id)));
        self.entries.insert(id, (deadline, value));
        Ok(())
    }

    /// Removes and returns the request an answer with this id belongs to.
    pub fn take(&mut self, id: K) -> Option<T> {
        let (due, value) = self.entries.remove(&id)?;
        // Usually the oldest request's answer: its deadline leaves without a look-up.
        if self.deadlines.peek() == Some(&Reverse((due, id))) {
            self.deadlines.pop();
        }
        self.settle();
        Some(value)
    }

    /// A pending request, with its deadline.
    pub fn get_mut(&mut self, id: K) -> Option<(Instant, &mut T)> {
        self.entries.get_mut(&id).map(|(d, v)| (*d, v))
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<(K, T)> {
        let mut out = Vec::new();
        while let Some(&Reverse((d, id))) = self.deadlines.peek() {
            if d > now {
                break;
            }
            self.deadlines.pop();
            if let Entry::Occupied(e) = self.entries.entry(id) {
                if e.get().0 == d {
                    out.push((id, e.remove().1));
                }
            }
        }
        self.settle();
        out
    }

    /// Removes and returns everything (the connection is gone).
    pub fn drain(&mut self) -> Vec<(K, T)> {
        self.deadlines.clear();
        self.entries.drain().map(|(id, (_, v))| (id, v)).collect()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((d, _))| *d)
    }

    /// Number of pending requests.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the deadline `d` of `id` is a pending request's (not one taken, nor an
    /// earlier request's with the same id).
    fn is_pending(&self, d: Instant, id: K) -> bool {
        self.entries.get(&id).is_some_and(|(due, _)| *due == d)
    }

    /// Keeps a pending request's deadline on top, and the heap within its bound.
    fn settle(&mut self) {
        while let Some(&Reverse((d, id))) = self.deadlines.peek() {
            if self.is_pending(d, id) {
                break;
            }
            self.deadlines.pop();
        }
        if self.deadlines.len() > 2 * self.entries.len() + STALE_SLACK {
            self.rebuild();
        }
    }

    /// The heap again from the pending requests alone, in the same allocation.
    fn rebuild(&mut self) {
        let mut v = std::mem::take(&mut self.deadlines).into_vec();
        v.clear();
        v.extend(self.entries.iter().map(|(id, (d, _))| Reverse((*d, *id))));
        self.deadlines = BinaryHeap::from(v);
    }

    /// Deadlines held, taken requests' included (tests: bounded by the pending ones).
    #[cfg(test)]
    pub(crate) fn deadlines_held(&self) -> usize {
        self.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn take_and_expire() {
        let t0 = Instant::now();
        let mut p = PendingTable::new();
        p.insert(1, t0 + Duration::from_secs(1), "a").unwrap();
        p.insert(2, t0 + Duration::from_secs(2), "b").unwrap();
        assert_eq!(p.insert(2, t0, "dup"), Err("dup"));
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(p.take(1), Some("a"));
        assert_eq!(p.take(1), None);
        assert!(p.expired(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(p.expired(t0 + Duration::from_secs(2)), vec![(2, "b")]);
        assert!(p.is_empty());
    }

    #[test]
    fn answered_deadlines_do_not_pile_up_behind_an_unanswered_one() {
        let t0 = Instant::now();
        let mut p = PendingTable::new();
        p.insert(0, t0 + Duration::from_secs(1), 0).unwrap();
        for id in 1..10_000u32 {
            p.insert(id, t0 + Duration::from_secs(2), id).unwrap();
            assert_eq!(p.take(id), Some(id));
            assert!(p.deadlines_held() <= 2 * p.len() + STALE_SLACK);
        }
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(p.take(0), Some(0));
        assert_eq!(p.next_deadline(), None);
        assert_eq!(p.deadlines_held(), 0);
    }

    #[test]
    fn an_id_used_again_expires_at_its_new_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = PendingTable::new();
        p.insert(0, t0 + s(9), "keep").unwrap();
        p.insert(7, t0 + s(1), "first").unwrap();
        assert_eq!(p.take(7), Some("first"));
        p.insert(7, t0 + s(5), "again").unwrap();
        assert!(p.expired(t0 + s(1)).is_empty());
        assert_eq!(p.next_deadline(), Some(t0 + s(5)));
        assert_eq!(p.expired(t0 + s(5)), vec![(7, "again")]);
        assert_eq!(p.next_deadline(), Some(t0 + s(9)));
    }
}

#[cfg(test)]
mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8),
        Take(u8),
        Expire(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), any::<u8>()).prop_map(|(id, d)| Op::Insert(id % 32, d)),
            any::<u8>().prop_map(|id| Op::Take(id % 32)),
            any::<u8>().prop_map(Op::Expire),
        ]
    }

    proptest! {
        /// The table does what a map of id to deadline does, and its heap stays bounded.
        #[test]
        fn behaves_like_a_map_of_deadlines(ops in proptest::collection::vec(op(), 0..400)) {
            let t0 = Instant::now();
            let at = |n: u8| t0 + Duration::from_millis(u64::from(n));
            let mut table = PendingTable::new();
            let mut model: BTreeMap<u8, u8> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(id, d) => {
                        let fresh = !model.contains_key(&id);
                        prop_assert_eq!(table.insert(id, at(d), d).is_ok(), fresh);
                        model.entry(id).or_insert(d);
                    }
                    Op::Take(id) => prop_assert_eq!(table.take(id), model.remove(&id)),
                    Op::Expire(now) => {
                        let mut got = table.expired(at(now));
                        got.sort();
                        let want: Vec<(u8, u8)> =
                            model.iter().filter(|(_, d)| **d <= now).map(|(i, d)| (*i, *d)).collect();
                        model.retain(|_, d| *d > now);
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert_eq!(table.next_deadline(), model.values().min().map(|d| at(*d)));
                prop_assert!(table.deadlines_held() <= 2 * table.len() + STALE_SLACK);
            }
        }
    }
}
