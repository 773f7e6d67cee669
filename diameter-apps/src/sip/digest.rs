//! HTTP Digest for SIP (RFC 2617, RFC 7616) with MD5 and SHA-256.
//!
//! The Diameter server keeps only H(A1) per user ([`ha1`]); a SIP server that received it in a
//! MAA (Digest-HA1 in SIP-Authenticate, RFC 4740 §9.5.6.1) checks the user's response with
//! [`DigestResponse::verify`], after [`DigestResponse::check_challenge`] (the response answers
//! the challenge as issued: no qop downgrade, same algorithm). [`Challenge`] builds the
//! WWW-Authenticate material.
//!
//! ```
//! use diameter_apps::sip::digest::{ha1, Algorithm, DigestResponse};
//!
//! let h = ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
//! let header = r#"Digest username="Mufasa", realm="testrealm@host.com",
//!     nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
//!     nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1""#;
//! let resp = DigestResponse::parse_header(header).unwrap();
//! assert!(resp.verify(&h, "GET").is_ok());
//! ```

use diameter::dict::sip_rfc4740::{SipAuthenticate, SipAuthorization};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt;

/// A Digest algorithm (RFC 7616 §3.3, RFC 2617 §3.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `MD5` (the default when the `algorithm` directive is absent).
    #[default]
    Md5,
    /// `MD5-sess`: H(A1) also covers the nonce and cnonce.
    Md5Sess,
    /// `SHA-256` (RFC 7616).
    Sha256,
    /// `SHA-256-sess` (RFC 7616).
    Sha256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` directive (case-insensitive); `None` for unsupported ones.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_matches('"');
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The directive value, as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The same hash without `-sess` (the algorithm stored H(A1) values are made with).
    pub fn base(self) -> Self {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    /// Lowercase hex of the hash of `data`.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self.base() {
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
            _ => hex(&Md5::digest(data)),
        }
    }

    /// Length of a hex hash of this algorithm (32 for MD5, 64 for SHA-256).
    pub fn hex_len(self) -> usize {
        match self.base() {
            Algorithm::Sha256 => 64,
            _ => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

fn h(alg: Algorithm, parts: &[&str]) -> String {
    alg.hash_hex(parts.join(":").as_bytes())
}

/// H(A1) = H(username ":" realm ":" password) (RFC 2617 §3.2.2.2), in lowercase hex.
///
/// For a `-sess` algorithm this is the stored part; [`ha1_sess`] adds nonce and cnonce.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    h(alg.base(), &[username, realm, password])
}

/// H(A1) of a `-sess` algorithm: H(H(user:realm:password) ":" nonce ":" cnonce).
pub fn ha1_sess(alg: Algorithm, ha1: &str, nonce: &str, cnonce: &str) -> String {
    h(alg.base(), &[ha1, nonce, cnonce])
}

/// Errors of Digest checking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The `algorithm` directive names an algorithm we do not implement.
    #[error("unsupported digest algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The `qop` value is not `auth` or `auth-int`.
    #[error("unsupported qop `{0}`")]
    UnsupportedQop(String),
    /// qop is present but `nc` or `cnonce` is missing (RFC 2617 §3.2.2).
    #[error("qop `{0}` requires nc and cnonce")]
    MissingQopParams(String),
    /// `auth-int` without the entity body hash.
    #[error("qop auth-int requires the entity body hash")]
    MissingBodyHash,
    /// A `-sess` algorithm without cnonce.
    #[error("algorithm `{0}` requires a cnonce")]
    MissingCnonce(Algorithm),
    /// The response does not match the expected one.
    #[error("digest response does not match")]
    Mismatch,
    /// The Authorization header could not be parsed.
    #[error("malformed digest header: {0}")]
    Malformed(String),
    /// The header's scheme is not Digest.
    #[error("authentication scheme `{0}` is not Digest")]
    NotDigest(String),
    /// The challenge offered `qop` but the response has none (the RFC 2069 form, which does
    /// not protect against chosen plaintext and replays): a downgrade.
    #[error("the challenge offered qop but the response has none")]
    QopDowngrade,
    /// `nc` is not 8 hex digits, or is zero (RFC 2617 §3.2.2).
    #[error("bad nonce count `{0}`")]
    BadNonceCount(String),
    /// A directive differs from the challenge the response claims to answer.
    #[error("the response does not answer the challenge: {0} differs")]
    NotForChallenge(&'static str),
}

/// The directives of a Digest Authorization / Proxy-Authorization header (RFC 2617 §3.2.2),
/// as carried in SIP-Authorization (RFC 4740 §9.5.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (digest-uri).
    pub uri: String,
    /// `response` (hex).
    pub response: String,
    /// `algorithm`, if given.
    pub algorithm: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
    /// `qop` (`auth` or `auth-int`).
    pub qop: Option<String>,
    /// `nc` (nonce count, 8 hex digits).
    pub nc: Option<String>,
    /// The request method, when known from the message (Digest-Method).
    pub method: Option<String>,
    /// H(entity-body), for `auth-int` (Digest-Entity-Body-Hash).
    pub entity_body_hash: Option<String>,
}

impl DigestResponse {
    /// The algorithm of this response (MD5 when absent).
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match &self.algorithm {
            None => Ok(Algorithm::Md5),
            Some(a) => {
                Algorithm::parse(a).ok_or_else(|| DigestError::UnsupportedAlgorithm(a.clone()))
            }
        }
    }

    /// The response the user agent should have sent, given the stored H(A1) of `username:realm:password`
    /// and the request method (the `method` field wins when set).
    pub fn expected(&self, ha1: &str, method: &str) -> Result<String, DigestError> {
        let alg = self.algorithm()?;
        let method = self.method.as_deref().unwrap_or(method);
        let ha1 = if alg.is_session() {
            let cnonce = self
                .cnonce
                .as_deref()
                .ok_or(DigestError::MissingCnonce(alg))?;
            ha1_sess(alg, ha1, &self.nonce, cnonce)
        } else {
            ha1.to_ascii_lowercase()
        };
        let qop = self.qop.as_deref().map(str::trim);
        let ha2 = match qop {
            None | Some("auth") => h(alg, &[method, &self.uri]),
            Some("auth-int") => {
                let body = self
                    .entity_body_hash
                    .as_deref()
                    .ok_or(DigestError::MissingBodyHash)?;
                h(alg, &[method, &self.uri, body])
            }
            Some(other) => return Err(DigestError::UnsupportedQop(other.to_string())),
        };
        match qop {
            None => Ok(h(alg, &[&ha1, &self.nonce, &ha2])),
            Some(q) => {
                let (nc, cnonce) = match (&self.nc, &self.cnonce) {
                    (Some(nc), Some(c)) => (nc, c),
                    _ => return Err(DigestError::MissingQopParams(q.to_string())),
                };
                Ok(h(alg, &[&ha1, &self.nonce, nc, cnonce, q, &ha2]))
            }
        }
    }

    /// Checks that the response answers challenge `c`: the same realm, algorithm and opaque,
    /// a `qop` that `c` offered (none only when `c` offered none: no downgrade to the RFC 2069
    /// form), and with a qop an `nc` of 8 hex digits above zero and a cnonce. The response
    /// itself is checked by [`DigestResponse::verify`].
    pub fn check_challenge(&self, c: &Challenge) -> Result<(), DigestError> {
        if self.realm != c.realm {
            return Err(DigestError::NotForChallenge("realm"));
        }
        if self.algorithm()? != c.algorithm {
            return Err(DigestError::NotForChallenge("algorithm"));
        }
        if c.opaque.is_some() && self.opaque != c.opaque {
            return Err(DigestError::NotForChallenge("opaque"));
        }
        let offered: Vec<&str> = c
            .qop
            .as_deref()
            .map(|q| {
                q.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        match self.qop.as_deref().map(str::trim) {
            None if offered.is_empty() => Ok(()),
            None => Err(DigestError::QopDowngrade),
            Some(q) if !offered.contains(&q) => Err(DigestError::NotForChallenge("qop")),
            Some(q) => {
                let nc = self.nc.as_deref().unwrap_or("");
                let valid = nc.len() == 8
                    && nc.bytes().all(|b| b.is_ascii_hexdigit())
                    && u32::from_str_radix(nc, 16).is_ok_and(|n| n > 0);
                if !valid {
                    return Err(DigestError::BadNonceCount(nc.to_string()));
                }
                if self.cnonce.as_deref().is_none_or(str::is_empty) {
                    return Err(DigestError::MissingQopParams(q.to_string()));
                }
                Ok(())
            }
        }
    }

    /// Checks the response against H(A1) in constant time.
    pub fn verify(&self, ha1: &str, method: &str) -> Result<(), DigestError> {
        let expected = self.expected(ha1, method)?;
        if constant_time_eq(
            expected.as_bytes(),
            self.response.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(DigestError::Mismatch)
        }
    }

    /// The `rspauth` of an Authentication-Info header (RFC 2617 §3.2.3): like the response,
    /// with an empty method.
    pub fn response_auth(&self, ha1: &str) -> Result<String, DigestError> {
        let mut r = self.clone();
        r.method = Some(String::new());
        r.expected(ha1, "")
    }

    /// Reads the Digest-* AVPs of a SIP-Authorization AVP.
    pub fn from_avp(a: &SipAuthorization) -> Self {
        let s = |v: &Option<diameter_core::Utf8String>| v.as_ref().map(|x| x.as_str().to_string());
        DigestResponse {
            username: a.digest_username.as_str().to_string(),
            realm: a.digest_realm.as_str().to_string(),
            nonce: a.digest_nonce.as_str().to_string(),
            uri: a.digest_uri.as_str().to_string(),
            response: a.digest_response.as_str().to_string(),
            algorithm: s(&a.digest_algorithm),
            cnonce: s(&a.digest_cnonce),
            opaque: s(&a.digest_opaque),
            qop: s(&a.digest_qop),
            nc: s(&a.digest_nonce_count),
            method: s(&a.digest_method),
            entity_body_hash: s(&a.digest_entity_body_hash),
        }
    }

    /// Builds the SIP-Authorization AVP (quotes removed, as RFC 4740 §9.5.1 asks).
    pub fn to_avp(&self) -> SipAuthorization {
        let o = |v: &Option<String>| v.as_deref().map(Into::into);
        SipAuthorization {
            digest_username: self.username.as_str().into(),
            digest_realm: self.realm.as_str().into(),
            digest_nonce: self.nonce.as_str().into(),
            digest_uri: self.uri.as_str().into(),
            digest_response: self.response.as_str().into(),
            digest_algorithm: o(&self.algorithm),
            digest_cnonce: o(&self.cnonce),
            digest_opaque: o(&self.opaque),
            digest_qop: o(&self.qop),
            digest_nonce_count: o(&self.nc),
            digest_method: o(&self.method),
            digest_entity_body_hash: o(&self.entity_body_hash),
            ..Default::default()
        }
    }

    /// Parses the value of an Authorization / Proxy-Authorization header
    /// (`Digest username="…", realm="…", …`).
    pub fn parse_header(value: &str) -> Result<Self, DigestError> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest(scheme.to_string()));
        }
        let mut r = DigestResponse::default();
        for (name, val) in parse_params(rest)? {
            match name.to_ascii_lowercase().as_str() {
                "username" => r.username = val,
                "realm" => r.realm = val,
                "nonce" => r.nonce = val,
                "uri" => r.uri = val,
                "response" => r.response = val,
                "algorithm" => r.algorithm = Some(val),
                "cnonce" => r.cnonce = Some(val),
                "opaque" => r.opaque = Some(val),
                "qop" => r.qop = Some(val),
                "nc" => r.nc = Some(val),
                _ => {}
            }
        }
        if r.username.is_empty() || r.nonce.is_empty() || r.response.is_empty() {
            return Err(DigestError::Malformed(
                "username, nonce and response are required".into(),
            ));
        }
        Ok(r)
    }

    /// Computes the response a user agent with this password would send, filling `response`
    /// (for clients and tests).
    pub fn sign(mut self, password: &str, method: &str) -> Result<Self, DigestError> {
        let alg = self.algorithm()?;
        let ha1 = ha1(alg, &self.username, &self.realm, password);
        self.response = self.expected(&ha1, method)?;
        Ok(self)
    }
}

/// Splits `name=value, name="quoted, value"` pairs.
fn parse_params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(DigestError::Malformed(format!("`{name}` has no value")));
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                return Err(DigestError::Malformed(format!("unterminated `{name}`")));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((name, val));
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random nonce: 16 random bytes in hex (32 characters).
pub fn new_nonce() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to the clock and a counter, still unique per process.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let c = COUNTER.fetch_add(1, Ordering::Relaxed);
        return Algorithm::Md5.hash_hex(format!("{t}:{c}").as_bytes());
    }
    hex(&b)
}

/// A Digest challenge (WWW-Authenticate / Proxy-Authenticate, RFC 2617 §3.2.1), as carried
/// in SIP-Authenticate (RFC 4740 §9.5.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `algorithm`.
    pub algorithm: Algorithm,
    /// `qop` options offered (`auth`), or `None` for the RFC 2069 compatible form.
    pub qop: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
    /// `stale=true`: the previous nonce expired but the credentials were right.
    pub stale: bool,
    /// `domain`.
    pub domain: Option<String>,
}

impl Challenge {
    /// A challenge for `realm` with a fresh nonce and `qop="auth"`.
    pub fn new(realm: &str, algorithm: Algorithm) -> Self {
        Challenge {
            realm: realm.to_string(),
            nonce: new_nonce(),
            algorithm,
            qop: Some("auth".into()),
            ..Default::default()
        }
    }

    /// The SIP-Authenticate AVP, with Digest-HA1 when the SIP server is to check the response.
    pub fn to_avp(&self, ha1: Option<&str>) -> SipAuthenticate {
        SipAuthenticate {
            digest_realm: self.realm.as_str().into(),
            digest_nonce: self.nonce.as_str().into(),
            digest_domain: self.domain.as_deref().map(Into::into),
            digest_opaque: self.opaque.as_deref().map(Into::into),
            digest_stale: self.stale.then(|| "true".into()),
            digest_algorithm: Some(self.algorithm.as_str().into()),
            digest_qop: self.qop.as_deref().map(Into::into),
            digest_ha1: ha1.map(Into::into),
            ..Default::default()
        }
    }

    /// Reads a SIP-Authenticate AVP; unknown algorithms are an error.
    pub fn from_avp(a: &SipAuthenticate) -> Result<Self, DigestError> {
        let algorithm = match &a.digest_algorithm {
            None => Algorithm::Md5,
            Some(s) => Algorithm::parse(s.as_str())
                .ok_or_else(|| DigestError::UnsupportedAlgorithm(s.as_str().to_string()))?,
        };
        Ok(Challenge {
            realm: a.digest_realm.as_str().to_string(),
            nonce: a.digest_nonce.as_str().to_string(),
            algorithm,
            qop: a.digest_qop.as_ref().map(|s| s.as_str().to_string()),
            opaque: a.digest_opaque.as_ref().map(|s| s.as_str().to_string()),
            stale: a
                .digest_stale
                .as_ref()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("true")),
            domain: a.digest_domain.as_ref().map(|s| s.as_str().to_string()),
        })
    }

    /// The header value: `Digest realm="…", nonce="…", algorithm=…, qop="auth"`.
    pub fn header_value(&self) -> String {
        let mut s = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            quote_escape(&self.realm),
            quote_escape(&self.nonce),
            self.algorithm
        );
        if let Some(q) = &self.qop {
            s.push_str(&format!(", qop=\"{}\"", quote_escape(q)));
        }
        if let Some(o) = &self.opaque {
            s.push_str(&format!(", opaque=\"{}\"", quote_escape(o)));
        }
        if let Some(d) = &self.domain {
            s.push_str(&format!(", domain=\"{}\"", quote_escape(d)));
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }

    /// The response a user agent answers this challenge with (for clients and tests):
    /// qop `auth` when offered, nc `00000001` and a fresh cnonce.
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> Result<DigestResponse, DigestError> {
        let auth = self
            .qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|o| o.trim() == "auth"));
        let r = DigestResponse {
            username: username.to_string(),
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: uri.to_string(),
            algorithm: Some(self.algorithm.as_str().to_string()),
            opaque: self.opaque.clone(),
            qop: auth.then(|| "auth".to_string()),
            nc: auth.then(|| "00000001".to_string()),
            cnonce: (auth || self.algorithm.is_session()).then(new_nonce),
            ..Default::default()
        };
        r.sign(password, method)
    }
}

fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5.
    fn rfc2617() -> DigestResponse {
        DigestResponse {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: "6629fae49393a05397450978507c4ef1".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            ..Default::default()
        }
    }

    #[test]
    fn rfc2617_vector() {
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(h, "939e7578ed9e3c518a452acee763bce9");
        let r = rfc2617();
        assert_eq!(r.expected(&h, "GET").unwrap(), r.response);
        assert!(r.verify(&h, "GET").is_ok());
        assert_eq!(r.verify(&h, "POST"), Err(DigestError::Mismatch));
    }

    /// RFC 7616 §3.9.1, MD5 and SHA-256.
    #[test]
    fn rfc7616_vectors() {
        let base = DigestResponse {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into()),
            ..Default::default()
        };
        let md5 = DigestResponse {
            algorithm: Some("MD5".into()),
            response: "8ca523f5e9506fed4657c9700eebdbec".into(),
            ..base.clone()
        };
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert!(md5.verify(&h, "GET").is_ok());
        let sha = DigestResponse {
            algorithm: Some("SHA-256".into()),
            response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1".into(),
            ..base
        };
        let h = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(h.len(), 64);
        assert!(sha.verify(&h, "GET").is_ok());
    }

    #[test]
    fn no_qop_rfc2069_form() {
        let h = ha1(Algorithm::Md5, "bob", "example.com", "secret");
        let r = DigestResponse {
            username: "bob".into(),
            realm: "example.com".into(),
            nonce: "abc".into(),
            uri: "sip:example.com".into(),
            ..Default::default()
        }
        .sign("secret", "REGISTER")
        .unwrap();
        // H(HA1:nonce:HA2)
        let ha2 = Algorithm::Md5.hash_hex(b"REGISTER:sip:example.com");
        let want = Algorithm::Md5.hash_hex(format!("{h}:abc:{ha2}").as_bytes());
        assert_eq!(r.response, want);
        assert!(r.verify(&h, "REGISTER").is_ok());
    }

    #[test]
    fn qop_needs_nc_and_cnonce() {
        let mut r = rfc2617();
        r.cnonce = None;
        assert_eq!(
            r.expected("x", "GET"),
            Err(DigestError::MissingQopParams("auth".into()))
        );
        r.qop = Some("auth-conf".into());
        assert!(matches!(
            r.expected("x", "GET"),
            Err(DigestError::UnsupportedQop(_))
        ));
        r.qop = None;
        r.algorithm = Some("SHA-512-256".into());
        assert!(matches!(
            r.verify("x", "GET"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn sess_and_auth_int() {
        let c = Challenge {
            algorithm: Algorithm::Sha256Sess,
            ..Challenge::new("example.com", Algorithm::Sha256Sess)
        };
        let r = c
            .answer("alice", "pw", "REGISTER", "sip:example.com")
            .unwrap();
        let h = ha1(Algorithm::Sha256, "alice", "example.com", "pw");
        assert!(r.verify(&h, "REGISTER").is_ok());
        let mut r = r;
        r.qop = Some("auth-int".into());
        assert_eq!(
            r.expected(&h, "REGISTER"),
            Err(DigestError::MissingBodyHash)
        );
        r.entity_body_hash = Some(Algorithm::Sha256.hash_hex(b""));
        let r = r.sign("pw", "REGISTER").unwrap();
        assert!(r.verify(&h, "REGISTER").is_ok());
    }

    #[test]
    fn header_roundtrip_and_avps() {
        let c = Challenge::new("example.com", Algorithm::Sha256);
        assert_eq!(c.nonce.len(), 32);
        assert_ne!(c.nonce, new_nonce());
        let v = c.header_value();
        assert!(v.starts_with("Digest realm=\"example.com\""));
        assert!(v.contains("algorithm=SHA-256"));
        assert_eq!(Challenge::from_avp(&c.to_avp(None)).unwrap(), c);
        let avp = c.to_avp(Some("00ff"));
        assert_eq!(avp.digest_ha1.as_ref().map(|s| s.as_str()), Some("00ff"));

        let r = c
            .answer("alice", "pw", "REGISTER", "sip:example.com")
            .unwrap();
        assert_eq!(DigestResponse::from_avp(&r.to_avp()), r);
        let header = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", \
             algorithm={}, qop=auth, nc={}, cnonce=\"{}\"",
            r.username,
            r.realm,
            r.nonce,
            r.uri,
            r.response,
            c.algorithm,
            r.nc.as_deref().unwrap_or(""),
            r.cnonce.as_deref().unwrap_or("")
        );
        let parsed = DigestResponse::parse_header(&header).unwrap();
        assert_eq!(parsed, r);
        let h = ha1(Algorithm::Sha256, "alice", "example.com", "pw");
        assert!(parsed.verify(&h, "REGISTER").is_ok());
        assert!(parsed.response_auth(&h).is_ok());
    }

    #[test]
    fn responses_must_answer_the_challenge() {
        let c = Challenge {
            opaque: Some("op".into()),
            ..Challenge::new("example.com", Algorithm::Md5)
        };
        let ok = c
            .answer("alice", "pw", "REGISTER", "sip:example.com")
            .unwrap();
        assert_eq!(ok.check_challenge(&c), Ok(()));
        let mut r = ok.clone();
        (r.qop, r.nc, r.cnonce) = (None, None, None);
        assert_eq!(r.check_challenge(&c), Err(DigestError::QopDowngrade));
        let rfc2069 = Challenge {
            qop: None,
            ..c.clone()
        };
        assert_eq!(r.check_challenge(&rfc2069), Ok(()));
        assert_eq!(
            ok.check_challenge(&rfc2069),
            Err(DigestError::NotForChallenge("qop"))
        );
        let mut r = ok.clone();
        r.algorithm = Some("SHA-256".into());
        assert_eq!(
            r.check_challenge(&c),
            Err(DigestError::NotForChallenge("algorithm"))
        );
        let mut r = ok.clone();
        r.opaque = None;
        assert_eq!(
            r.check_challenge(&c),
            Err(DigestError::NotForChallenge("opaque"))
        );
        let mut r = ok.clone();
        r.realm = "other".into();
        assert_eq!(
            r.check_challenge(&c),
            Err(DigestError::NotForChallenge("realm"))
        );
        for nc in ["00000000", "", "1", "ffffffff0", "0000000x"] {
            let mut r = ok.clone();
            r.nc = Some(nc.into());
            assert_eq!(
                r.check_challenge(&c),
                Err(DigestError::BadNonceCount(nc.into()))
            );
        }
        let mut r = ok.clone();
        r.nc = Some("0000000A".into());
        assert_eq!(r.check_challenge(&c), Ok(()));
        r.cnonce = None;
        assert_eq!(
            r.check_challenge(&c),
            Err(DigestError::MissingQopParams("auth".into()))
        );
    }

    #[test]
    fn bad_headers() {
        assert!(matches!(
            DigestResponse::parse_header("Basic dXNlcjpwdw=="),
            Err(DigestError::NotDigest(_))
        ));
        assert!(matches!(
            DigestResponse::parse_header("Digest username=\"a"),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            DigestResponse::parse_header("Digest realm=x"),
            Err(DigestError::Malformed(_))
        ));
        assert!(DigestResponse::parse_header("Digest username").is_err());
    }
}
