//! Identifier generators: Hop-by-Hop and End-to-End ids (RFC 6733 §3) and Session-Ids
//! (§8.8). All are sans-IO: the caller passes the clock reading or seed in.

/// Hop-by-Hop Identifiers for one connection: a counter from a random start, so that
/// answers can be matched to requests on that connection.
#[derive(Clone, Debug)]
pub struct HopByHopIds(u32);

impl HopByHopIds {
    /// Starts at `seed` (take it from a random source).
    pub fn new(seed: u32) -> Self {
        HopByHopIds(seed)
    }

    /// The next id.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        let id = self.0;
        self.0 = self.0.wrapping_add(1);
        id
    }
}

/// End-to-End Identifiers (RFC 6733 §3): the high 12 bits are the low 12 bits of the clock
/// at start-up, the low 20 bits a counter, so ids stay unique across a reboot for at least
/// four minutes.
#[derive(Clone, Debug)]
pub struct EndToEndIds {
    high: u32,
    counter: u32,
}

impl EndToEndIds {
    /// Starts from the clock reading at start-up (for example Unix seconds).
    pub fn new(clock_at_start: u64) -> Self {
        EndToEndIds {
            high: ((clock_at_start & 0xfff) as u32) << 20,
            counter: 0,
        }
    }

    /// The next id.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        let id = self.high | (self.counter & 0x000f_ffff);
        self.counter = self.counter.wrapping_add(1);
        id
    }
}

/// Session-Ids of RFC 6733 §8.8: `<DiameterIdentity>;<high 32 bits>;<low 32 bits>[;<optional>]`.
/// The 64-bit value starts with the high half from the start-up time and the low half at
/// zero, and is incremented for every session, so it does not repeat across reboots.
#[derive(Clone, Debug)]
pub struct SessionIds {
    identity: String,
    value: u64,
}

impl SessionIds {
    /// Ids for the node `identity` (its Origin-Host), started at `clock_at_start`
    /// (Unix seconds).
    pub fn new(identity: impl Into<String>, clock_at_start: u64) -> Self {
        SessionIds {
            identity: identity.into(),
            value: (clock_at_start & 0xffff_ffff) << 32,
        }
    }

    /// The next Session-Id, with an optional implementation-defined suffix.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self, optional: Option<&str>) -> String {
        let v = self.value;
        self.value = self.value.wrapping_add(1);
        let (high, low) = ((v >> 32) as u32, v as u32);
        match optional {
            Some(o) => format!("{};{high};{low};{o}", self.identity),
            None => format!("{};{high};{low}", self.identity),
        }
    }
}

/// A small xorshift generator for timer jitter; not for anything secret.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from a seed (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Jitter(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// A value uniform in `0..=max` (roughly).
    pub fn below(&mut self, max: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        if max == u64::MAX {
            x
        } else {
            x % (max + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_to_end_layout() {
        let mut ids = EndToEndIds::new(0x1234_5abc);
        assert_eq!(ids.next(), 0xabc0_0000);
        assert_eq!(ids.next(), 0xabc0_0001);
    }

    #[test]
    fn session_id_format() {
        let mut s = SessionIds::new("a.example.net", 5);
        assert_eq!(s.next(None), "a.example.net;5;0");
        assert_eq!(s.next(Some("x")), "a.example.net;5;1;x");
    }

    #[test]
    fn hop_by_hop_wraps() {
        let mut h = HopByHopIds::new(u32::MAX);
        assert_eq!(h.next(), u32::MAX);
        assert_eq!(h.next(), 0);
    }
}
