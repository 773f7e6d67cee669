//! Following 3006 DIAMETER_REDIRECT_INDICATION (RFC 6733 §6.1.7, §6.13, RFC 4740 §6.8):
//! reading Redirect-Host, Redirect-Host-Usage and Redirect-Max-Cache-Time from an answer,
//! and a bounded cache of redirections keyed as Redirect-Host-Usage says. Sans-IO: the
//! caller passes `now`.

use diameter_core::base::avp;
use diameter_core::fields::{destination_host, destination_realm, find_str, session_id};
use diameter_core::result_code::DIAMETER_REDIRECT_INDICATION;
use diameter_core::{AvpFlags, RawAvp, RawMessage};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// User-Name (RFC 6733).
const USER_NAME: u32 = 1;
/// SIP-AOR (RFC 4740 §9.8).
const SIP_AOR: u32 = 122;

/// How the client follows redirections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectConfig {
    /// Redirections followed for one request (0: a 3006 answer is returned as it is).
    /// Default 2.
    pub max_hops: u32,
    /// Cached redirections at most; when full, expired entries go first, then the one
    /// nearest its expiry. Default 1024.
    pub cache_entries: usize,
    /// Upper bound on Redirect-Max-Cache-Time, so an answer cannot pin a route for
    /// years. Default one day.
    pub max_cache_time: Duration,
}

impl Default for RedirectConfig {
    fn default() -> Self {
        RedirectConfig {
            max_hops: 2,
            cache_entries: 1024,
            max_cache_time: Duration::from_secs(86_400),
        }
    }
}

/// Redirect-Host-Usage (RFC 6733 §6.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedirectUsage {
    /// 0: only this request.
    DontCache,
    /// 1: every request of the session.
    AllSession,
    /// 2: every request for the Destination-Realm.
    AllRealm,
    /// 3: every request for the realm and application.
    RealmAndApplication,
    /// 4: every request of the application.
    AllApplication,
    /// 5: every request for the Destination-Host.
    AllHost,
    /// 6: every request for the user (User-Name, else SIP-AOR).
    AllUser,
}

impl RedirectUsage {
    /// The usage for a value; unknown values are treated as DONT_CACHE.
    pub fn from_value(v: u32) -> Self {
        match v {
            1 => RedirectUsage::AllSession,
            2 => RedirectUsage::AllRealm,
            3 => RedirectUsage::RealmAndApplication,
            4 => RedirectUsage::AllApplication,
            5 => RedirectUsage::AllHost,
            6 => RedirectUsage::AllUser,
            _ => RedirectUsage::DontCache,
        }
    }
}

/// A 3006 answer, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The hosts of the Redirect-Host URIs, in order.
    pub hosts: Vec<String>,
    /// Redirect-Host-Usage (DONT_CACHE when absent).
    pub usage: RedirectUsage,
    /// Redirect-Max-Cache-Time.
    pub max_cache_time: Option<Duration>,
}

impl Redirect {
    /// Reads an answer; `None` unless it is 3006 with at least one usable Redirect-Host.
    pub fn of(answer: &RawMessage) -> Option<Redirect> {
        if diameter_core::fields::result_code(answer) != Some(DIAMETER_REDIRECT_INDICATION) {
            return None;
        }
        let mut out = Redirect {
            hosts: Vec::new(),
            usage: RedirectUsage::DontCache,
            max_cache_time: None,
        };
        for a in answer.avps().flatten().filter(|a| a.vendor == 0) {
            let u32_of = || diameter_core::fields::read_u32(a.data());
            match a.code {
                avp::REDIRECT_HOST => {
                    if let Some(h) = std::str::from_utf8(a.data()).ok().and_then(uri_host) {
                        out.hosts.push(h);
                    }
                }
                avp::REDIRECT_HOST_USAGE => {
                    out.usage = u32_of().map_or(RedirectUsage::DontCache, RedirectUsage::from_value)
                }
                avp::REDIRECT_MAX_CACHE_TIME => {
                    out.max_cache_time = u32_of().map(|s| Duration::from_secs(s.into()))
                }
                _ => {}
            }
        }
        (!out.hosts.is_empty()).then_some(out)
    }
}

/// The host of a DiameterURI (`aaa://host:port;transport=tcp`, RFC 6733 §4.3.1), or
/// `None` when it is not one.
pub fn uri_host(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("aaa://")
        .or_else(|| uri.strip_prefix("aaas://"))?;
    let authority = rest.split(';').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// Returns `request` with its Destination-Host replaced by `host`.
pub fn with_destination_host(request: &RawMessage, host: &str) -> RawMessage {
    let mut avps: Vec<RawAvp> = request
        .avps()
        .flatten()
        .filter(|a| !(a.code == avp::DESTINATION_HOST && a.vendor == 0))
        .map(|a| a.to_raw())
        .collect();
    avps.push(RawAvp::new(
        avp::DESTINATION_HOST,
        AvpFlags::MANDATORY,
        0,
        host.as_bytes().to_vec().into(),
    ));
    RawMessage::from_avps(request.header, &avps)
}

/// What a request is keyed by in the cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestKeys {
    /// Session-Id.
    pub session: Option<String>,
    /// Destination-Realm.
    pub realm: Option<String>,
    /// Application-Id of the header.
    pub application: u32,
    /// Destination-Host.
    pub host: Option<String>,
    /// User-Name, else the first SIP-AOR.
    pub user: Option<String>,
}

impl RequestKeys {
    /// The keys of a request.
    pub fn of(request: &RawMessage) -> Self {
        RequestKeys {
            session: session_id(request),
            realm: destination_realm(request).map(|r| r.to_ascii_lowercase()),
            application: request.header.application_id,
            host: destination_host(request).map(|h| h.to_ascii_lowercase()),
            user: find_str(request, USER_NAME).or_else(|| find_str(request, SIP_AOR)),
        }
    }

    /// The cache key under `usage`, if the request has what it needs.
    fn key(&self, usage: RedirectUsage) -> Option<String> {
        let app = self.application;
        match usage {
            RedirectUsage::DontCache => None,
            RedirectUsage::AllSession => self.session.clone(),
            RedirectUsage::AllRealm => self.realm.clone(),
            RedirectUsage::RealmAndApplication => self.realm.as_ref().map(|r| format!("{r}|{app}")),
            RedirectUsage::AllApplication => Some(app.to_string()),
            RedirectUsage::AllHost => self.host.clone(),
            RedirectUsage::AllUser => self.user.clone(),
        }
    }
}

/// The order in which cached redirections apply: the most specific first.
const LOOKUP_ORDER: [RedirectUsage; 6] = [
    RedirectUsage::AllSession,
    RedirectUsage::AllUser,
    RedirectUsage::AllHost,
    RedirectUsage::RealmAndApplication,
    RedirectUsage::AllRealm,
    RedirectUsage::AllApplication,
];

#[derive(Clone, Debug)]
struct Entry {
    host: String,
    expires: Instant,
}

/// Cached redirections, bounded by [`RedirectConfig::cache_entries`].
#[derive(Debug, Default)]
pub struct RedirectCache {
    entries: HashMap<(RedirectUsage, String), Entry>,
}

impl RedirectCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The host a request goes to under an unexpired cached redirection.
    pub fn lookup(&mut self, keys: &RequestKeys, now: Instant) -> Option<String> {
        for usage in LOOKUP_ORDER {
            let Some(k) = keys.key(usage) else { continue };
            let slot = (usage, k);
            match self.entries.get(&slot) {
                Some(e) if e.expires > now => return Some(e.host.clone()),
                Some(_) => {
                    self.entries.remove(&slot);
                }
                None => {}
            }
        }
        None
    }

    /// Remembers a redirection received for `keys`, unless DONT_CACHE or without
    /// Redirect-Max-Cache-Time (which RFC 6733 §6.13 requires for caching).
    pub fn insert(
        &mut self,
        keys: &RequestKeys,
        redirect: &Redirect,
        now: Instant,
        cfg: &RedirectConfig,
    ) {
        let (Some(key), Some(ttl)) = (keys.key(redirect.usage), redirect.max_cache_time) else {
            return;
        };
        if cfg.cache_entries == 0 || ttl.is_zero() {
            return;
        }
        let slot = (redirect.usage, key);
        if !self.entries.contains_key(&slot) && self.entries.len() >= cfg.cache_entries {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= cfg.cache_entries {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(
            slot,
            Entry {
                host: redirect.hosts[0].clone(),
                expires: now + ttl.min(cfg.max_cache_time),
            },
        );
    }

    /// Drops the cached redirections to `host` (it failed).
    pub fn forget_host(&mut self, host: &str) {
        self.entries
            .retain(|_, e| !e.host.eq_ignore_ascii_case(host));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter_core::fields::{str_avp, u32_avp};
    use diameter_core::Header;

    fn request(session: &str, realm: &str, user: &str) -> RawMessage {
        RawMessage::from_avps(
            Header::new(283, 6, 0xc0, 0, 0),
            &[
                str_avp(avp::SESSION_ID, session),
                str_avp(avp::DESTINATION_REALM, realm),
                str_avp(USER_NAME, user),
            ],
        )
    }

    fn answer(hosts: &[&str], usage: Option<u32>, ttl: Option<u32>) -> RawMessage {
        let mut avps = vec![u32_avp(avp::RESULT_CODE, DIAMETER_REDIRECT_INDICATION)];
        avps.extend(hosts.iter().map(|h| str_avp(avp::REDIRECT_HOST, h)));
        avps.extend(usage.map(|u| u32_avp(avp::REDIRECT_HOST_USAGE, u)));
        avps.extend(ttl.map(|t| u32_avp(avp::REDIRECT_MAX_CACHE_TIME, t)));
        RawMessage::from_avps(Header::new(283, 6, 0x60, 0, 0), &avps)
    }

    #[test]
    fn uri_hosts() {
        assert_eq!(
            uri_host("aaa://a.example:3868;transport=tcp").as_deref(),
            Some("a.example")
        );
        assert_eq!(uri_host("aaas://b.example").as_deref(), Some("b.example"));
        assert_eq!(uri_host("aaa://[::1]:3868").as_deref(), Some("::1"));
        assert_eq!(uri_host("sip:x"), None);
        assert_eq!(uri_host("aaa://"), None);
    }

    #[test]
    fn reads_a_3006_answer() {
        let r = Redirect::of(&answer(&["aaa://h1", "aaa://h2:3868"], Some(6), Some(60))).unwrap();
        assert_eq!(r.hosts, ["h1", "h2"]);
        assert_eq!(r.usage, RedirectUsage::AllUser);
        assert_eq!(r.max_cache_time, Some(Duration::from_secs(60)));
        assert_eq!(Redirect::of(&answer(&["nonsense"], None, None)), None);
        let ok = RawMessage::from_avps(
            Header::new(283, 6, 0x40, 0, 0),
            &[u32_avp(avp::RESULT_CODE, 2001)],
        );
        assert_eq!(Redirect::of(&ok), None);
        assert_eq!(RedirectUsage::from_value(99), RedirectUsage::DontCache);
    }

    #[test]
    fn destination_host_is_replaced() {
        let req = with_destination_host(&request("s", "r", "u"), "old");
        let req = with_destination_host(&req, "new");
        assert_eq!(destination_host(&req).as_deref(), Some("new"));
        assert_eq!(
            req.avps()
                .flatten()
                .filter(|a| a.code == avp::DESTINATION_HOST)
                .count(),
            1
        );
        assert_eq!(session_id(&req).as_deref(), Some("s"));
    }

    #[test]
    fn usage_decides_what_a_redirection_applies_to() {
        let cfg = RedirectConfig::default();
        let t0 = Instant::now();
        let alice = RequestKeys::of(&request("s1", "a.example", "alice"));
        let alice2 = RequestKeys::of(&request("s2", "a.example", "alice"));
        let bob = RequestKeys::of(&request("s3", "a.example", "bob"));
        let other_realm = RequestKeys::of(&request("s4", "b.example", "carol"));
        let cases = [
            (0, [false, false, false, false]),
            (1, [true, false, false, false]),
            (2, [true, true, true, false]),
            (3, [true, true, true, false]),
            (4, [true, true, true, true]),
            (6, [true, true, false, false]),
        ];
        for (usage, want) in cases {
            let mut c = RedirectCache::new();
            let r = Redirect::of(&answer(&["aaa://h1"], Some(usage), Some(60))).unwrap();
            c.insert(&alice, &r, t0, &cfg);
            let got = [&alice, &alice2, &bob, &other_realm].map(|k| c.lookup(k, t0).is_some());
            assert_eq!(got, want, "usage {usage}");
        }
        // ALL_HOST: requests naming the same Destination-Host.
        let mut c = RedirectCache::new();
        let to_old = RequestKeys::of(&with_destination_host(&request("s", "r", "u"), "old"));
        let r = Redirect::of(&answer(&["aaa://h1"], Some(5), Some(60))).unwrap();
        c.insert(&to_old, &r, t0, &cfg);
        assert_eq!(c.lookup(&to_old, t0).as_deref(), Some("h1"));
        assert_eq!(c.lookup(&alice, t0), None);
    }

    #[test]
    fn entries_expire_and_need_a_max_cache_time() {
        let cfg = RedirectConfig::default();
        let t0 = Instant::now();
        let k = RequestKeys::of(&request("s1", "a.example", "alice"));
        let mut c = RedirectCache::new();
        c.insert(
            &k,
            &Redirect::of(&answer(&["aaa://h"], Some(6), None)).unwrap(),
            t0,
            &cfg,
        );
        assert!(c.is_empty(), "no Redirect-Max-Cache-Time: not cached");
        c.insert(
            &k,
            &Redirect::of(&answer(&["aaa://h"], Some(6), Some(10))).unwrap(),
            t0,
            &cfg,
        );
        assert!(c.lookup(&k, t0 + Duration::from_secs(9)).is_some());
        assert!(c.lookup(&k, t0 + Duration::from_secs(10)).is_none());
        assert!(c.is_empty(), "expired entry dropped");
        // The configured bound caps a long Redirect-Max-Cache-Time.
        let short = RedirectConfig {
            max_cache_time: Duration::from_secs(5),
            ..cfg.clone()
        };
        c.insert(
            &k,
            &Redirect::of(&answer(&["aaa://h"], Some(6), Some(3600))).unwrap(),
            t0,
            &short,
        );
        assert!(c.lookup(&k, t0 + Duration::from_secs(6)).is_none());
        // forget_host drops routes to a failed host.
        c.insert(
            &k,
            &Redirect::of(&answer(&["aaa://h"], Some(6), Some(60))).unwrap(),
            t0,
            &cfg,
        );
        c.forget_host("H");
        assert!(c.is_empty());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cfg = RedirectConfig {
            cache_entries: 2,
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut c = RedirectCache::new();
        for (i, ttl) in [(0, 30), (1, 10), (2, 20)] {
            let k = RequestKeys::of(&request("s", "r", &format!("user{i}")));
            let r = Redirect::of(&answer(&["aaa://h"], Some(6), Some(ttl))).unwrap();
            c.insert(&k, &r, t0, &cfg);
            assert!(c.len() <= 2);
        }
        let has = |c: &mut RedirectCache, i: u32| {
            c.lookup(
                &RequestKeys::of(&request("s", "r", &format!("user{i}"))),
                t0,
            )
            .is_some()
        };
        assert!(
            has(&mut c, 0) && has(&mut c, 2),
            "the one nearest expiry went"
        );
        assert!(!has(&mut c, 1));
    }
}
