//! The hash maps on the per-request path.

use std::collections::HashMap;

/// A map of the per-request path (pending requests, in-flight requests, peers): foldhash,
/// seeded per map. Keys may come from the network (Hop-by-Hop and End-to-End ids), so the
/// seed is random as with std's SipHash, whose cost per look-up showed in the client's and
/// the relay's profiles (about 1,200 instructions of 19,300 per request of `bench`).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;
