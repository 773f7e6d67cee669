//! Inbound connection slots: a total, a share per source address, and a reserve that
//! only the addresses of configured peers may use. A slot is held until the
//! connection's reader and writer have both ended, that is until its socket is closed.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Why an accepted connection gets no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is taken (or only reserved ones are left).
    Full,
    /// The source address has its share already.
    PerSource,
}

/// The slot table of a node's listeners.
#[derive(Debug)]
pub(crate) struct ConnSlots {
    max: usize,
    reserved: usize,
    per_source: usize,
    reserved_sources: HashSet<IpAddr>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    slots: Arc<ConnSlots>,
    source: IpAddr,
}

/// The address a source is counted under: IPv4 (also when mapped into IPv6) as is,
/// IPv6 by its /64 prefix (what one subscriber line or host usually gets).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl ConnSlots {
    /// `max` slots in all, of which `reserved` only for `reserved_sources`; at most
    /// `per_source` per source address (reserved sources are not limited per source).
    pub(crate) fn new(
        max: usize,
        reserved: usize,
        per_source: usize,
        reserved_sources: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        ConnSlots {
            max,
            reserved: reserved.min(max),
            per_source,
            reserved_sources: reserved_sources.into_iter().map(source_key).collect(),
            state: Mutex::default(),
        }
    }

    /// Takes a slot for a connection from `source`.
    pub(crate) fn try_acquire(self: &Arc<Self>, source: IpAddr) -> Result<SlotGuard, Refused> {
        let key = source_key(source);
        let privileged = self.reserved_sources.contains(&key);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let open = if privileged {
            self.max
        } else {
            self.max - self.reserved
        };
        if st.total >= open {
            return Err(Refused::Full);
        }
        let count = st.by_source.entry(key).or_insert(0);
        if !privileged && *count >= self.per_source {
            return Err(Refused::PerSource);
        }
        *count += 1;
        st.total += 1;
        Ok(SlotGuard {
            slots: self.clone(),
            source: key,
        })
    }

    /// Slots taken.
    pub(crate) fn in_use(&self) -> usize {
        self.state.lock().map(|s| s.total).unwrap_or(0)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut st = self.slots.state.lock().unwrap_or_else(|e| e.into_inner());
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                st.by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_source_limit_and_release() {
        let slots = Arc::new(ConnSlots::new(10, 0, 2, []));
        let a = slots.try_acquire(ip("10.0.0.1")).unwrap();
        let _b = slots.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            slots.try_acquire(ip("10.0.0.1")).unwrap_err(),
            Refused::PerSource
        );
        // The same address mapped into IPv6 counts as the same source.
        assert_eq!(
            slots.try_acquire(ip("::ffff:10.0.0.1")).unwrap_err(),
            Refused::PerSource
        );
        assert!(slots.try_acquire(ip("10.0.0.2")).is_ok());
        drop(a);
        assert!(slots.try_acquire(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let slots = Arc::new(ConnSlots::new(10, 0, 1, []));
        let _a = slots.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        assert!(slots.try_acquire(ip("2001:db8:1:2::99")).is_err());
        assert!(slots.try_acquire(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn reserve_is_kept_for_configured_sources() {
        let slots = Arc::new(ConnSlots::new(4, 2, 10, [ip("192.0.2.7")]));
        let mut held = Vec::new();
        for i in 1..=2 {
            held.push(slots.try_acquire(ip(&format!("198.51.100.{i}"))).unwrap());
        }
        // Only the reserve is left: unknown sources are refused...
        assert_eq!(
            slots.try_acquire(ip("198.51.100.9")).unwrap_err(),
            Refused::Full
        );
        // ...a configured peer's address still gets in, up to the total.
        held.push(slots.try_acquire(ip("192.0.2.7")).unwrap());
        held.push(slots.try_acquire(ip("192.0.2.7")).unwrap());
        assert_eq!(
            slots.try_acquire(ip("192.0.2.7")).unwrap_err(),
            Refused::Full
        );
        assert_eq!(slots.in_use(), 4);
        held.clear();
        assert_eq!(slots.in_use(), 0);
    }
}
