//! Stateless nonces: the issue time and a keyed hash of it, so any node that shares the
//! process's secret can check freshness without storing nonces.

use crate::sip::digest::Algorithm;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Not issued by this server.
    #[error("nonce was not issued by this server")]
    Invalid,
    /// Issued by this server but too old (answer with a new challenge, `stale=true`).
    #[error("nonce is stale")]
    Stale,
}

pub(crate) struct Nonces {
    secret: String,
    lifetime: Duration,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Nonces {
    pub(crate) fn new(lifetime: Duration) -> Self {
        Nonces {
            secret: crate::sip::digest::new_nonce() + &crate::sip::digest::new_nonce(),
            lifetime,
        }
    }

    fn mac(&self, ts: u64, realm: &str) -> String {
        let full =
            Algorithm::Sha256.hash_hex(format!("{}:{ts:016x}:{realm}", self.secret).as_bytes());
        full[..32].to_string()
    }

    /// A new nonce for `realm`.
    pub(crate) fn issue(&self, realm: &str) -> String {
        let ts = now_secs();
        format!("{ts:016x}{}", self.mac(ts, realm))
    }

    /// Checks a nonce of `realm`.
    pub(crate) fn check(&self, nonce: &str, realm: &str) -> Result<(), NonceError> {
        if nonce.len() != 48 || !nonce.is_ascii() {
            return Err(NonceError::Invalid);
        }
        let ts = u64::from_str_radix(&nonce[..16], 16).map_err(|_| NonceError::Invalid)?;
        if self.mac(ts, realm) != nonce[16..] {
            return Err(NonceError::Invalid);
        }
        if now_secs().saturating_sub(ts) > self.lifetime.as_secs() {
            return Err(NonceError::Stale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_check() {
        let n = Nonces::new(Duration::from_secs(60));
        let x = n.issue("example.com");
        assert_eq!(n.check(&x, "example.com"), Ok(()));
        assert_eq!(n.check(&x, "other.com"), Err(NonceError::Invalid));
        assert_eq!(n.check("abc", "example.com"), Err(NonceError::Invalid));
        let old = format!("{:016x}{}", 1u64, n.mac(1, "example.com"));
        assert_eq!(n.check(&old, "example.com"), Err(NonceError::Stale));
        assert_eq!(
            Nonces::new(Duration::from_secs(60)).check(&x, "example.com"),
            Err(NonceError::Invalid)
        );
    }
}
