//! Requests sent and not yet answered, keyed by Hop-by-Hop id (or another mark `K`), each
//! with a deadline. Sans-IO: the owner passes `now` and wakes up at
//! [`PendingTable::next_deadline`].

use crate::fast_map::FastMap;
use std::collections::BTreeSet;
use std::hash::Hash;
use std::time::Instant;

/// A table of pending requests carrying a value `T` (a reply channel, the original
/// request for failover, ...). A request's deadline leaves with it: the table holds no
/// more deadlines than requests.
#[derive(Debug)]
pub struct PendingTable<T, K = u32> {
    entries: FastMap<K, (Instant, T)>,
    deadlines: BTreeSet<(Instant, K)>,
}

impl<T, K> Default for PendingTable<T, K> {
    fn default() -> Self {
        PendingTable {
            entries: FastMap::default(),
            deadlines: BTreeSet::new(),
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
        self.deadlines.insert((deadline, id));
        self.entries.insert(id, (deadline, value));
        Ok(())
    }

    /// Removes and returns the request an answer with this id belongs to.
    pub fn take(&mut self, id: K) -> Option<T> {
        let (deadline, value) = self.entries.remove(&id)?;
        self.deadlines.remove(&(deadline, id));
        Some(value)
    }

    /// A pending request, with its deadline.
    pub fn get_mut(&mut self, id: K) -> Option<(Instant, &mut T)> {
        self.entries.get_mut(&id).map(|(d, v)| (*d, v))
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<(K, T)> {
        let mut out = Vec::new();
        while let Some(&(d, id)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some((_, v)) = self.entries.remove(&id) {
                out.push((id, v));
            }
        }
        out
    }

    /// Removes and returns everything (the connection is gone).
    pub fn drain(&mut self) -> Vec<(K, T)> {
        self.deadlines.clear();
        self.entries.drain().map(|(id, (_, v))| (id, v)).collect()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Number of pending requests.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Deadlines held (tests: one per pending request, none left behind).
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
}
