//! TLS to PostgreSQL with rustls (ring provider), configured like libpq: `sslmode` and
//! `sslrootcert` in the store URL.
//!
//! - no `sslmode`, `disable`: plain connections (a Unix socket never uses TLS);
//! - `prefer`, `require`: encrypted, the server's certificate not checked (libpq's
//!   meaning), unless `sslrootcert` is given: then checked as for `verify-ca`;
//! - `verify-ca`: the certificate must chain to a root of `sslrootcert` (default
//!   `~/.postgresql/root.crt`), any name;
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! `prefer` falls back to a plain connection when the server has no TLS; the others fail.

use super::super::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS parameters of a store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TlsParams {
    /// `None` when the URL names no `sslmode`.
    pub mode: Option<SslMode>,
    pub root_cert: Option<PathBuf>,
}

impl TlsParams {
    /// Whether connections use TLS.
    pub fn wanted(&self) -> bool {
        !matches!(self.mode, None | Some(SslMode::Disable))
    }
}

fn parse_mode(v: &str) -> Result<SslMode, StoreError> {
    Ok(match v {
        "disable" | "allow" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        _ => {
            return Err(StoreError::Config(format!(
                "bad sslmode `{v}` (disable, prefer, require, verify-ca or verify-full)"
            )))
        }
    })
}

/// What tokio-postgres is told: it knows `sslmode` up to `require` and no `sslrootcert`.
fn driver_mode(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        _ => "require",
    }
}

/// Decodes `%XX` escapes of a URL query value.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes `sslmode` and `sslrootcert` out of a libpq URL or key-value string: returns the
/// string for tokio-postgres (with an `sslmode` it understands) and the TLS parameters.
pub(super) fn split_url(url: &str) -> Result<(String, TlsParams), StoreError> {
    let mut params = TlsParams {
        mode: None,
        root_cert: None,
    };
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (head, rest, sep) = if is_url {
        match url.split_once('?') {
            Some((h, q)) => (h.to_string(), q.to_string(), '&'),
            None => (url.to_string(), String::new(), '&'),
        }
    } else {
        (String::new(), url.to_string(), ' ')
    };
    let mut kept = Vec::new();
    for part in rest.split(sep).filter(|p| !p.trim().is_empty()) {
        match part.trim().split_once('=') {
            Some(("sslmode", v)) => params.mode = Some(parse_mode(&percent_decode(v))?),
            Some(("sslrootcert", v)) => params.root_cert = Some(percent_decode(v).into()),
            _ => kept.push(part.trim().to_string()),
        }
    }
    if let Some(m) = params.mode {
        kept.push(format!("sslmode={}", driver_mode(m)));
    }
    let joined = kept.join(&sep.to_string());
    let out = match (is_url, joined.is_empty()) {
        (true, true) => head,
        (true, false) => format!("{head}?{joined}"),
        (false, _) => joined,
    };
    Ok((out, params))
}

/// Connections of the blocking `postgres` client (the SIP and accounting stores) with the
/// TLS settings of a store URL, the same as the OCS store's.
pub(crate) struct SyncConnector {
    config: ::postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl SyncConnector {
    /// Parses `url` (libpq URL or key-value string, `sslmode` and `sslrootcert` included).
    pub(crate) fn new(url: &str) -> Result<SyncConnector, String> {
        let (url, tls) = split_url(url).map_err(|e| e.to_string())?;
        let config = <::postgres::Config as std::str::FromStr>::from_str(&url)
            .map_err(|e| format!("bad postgres url: {e}"))?;
        let tls = client_config(&tls)
            .map_err(|e| e.to_string())?
            .map(tokio_postgres_rustls::MakeRustlsConnect::new);
        Ok(SyncConnector { config, tls })
    }

    /// A new connection.
    pub(crate) fn connect(&self) -> Result<::postgres::Client, ::postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(::postgres::NoTls),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(path: Option<&PathBuf>, required: bool) -> Result<Option<RootCertStore>, StoreError> {
    let default = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
        .filter(|p| p.exists());
    let Some(path) = path.cloned().or(default) else {
        if required {
            return Err(StoreError::Config(
                "sslmode verify-ca/verify-full needs sslrootcert=FILE (PEM) or ~/.postgresql/root.crt"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let bad = |e: String| StoreError::Config(format!("sslrootcert {}: {e}", path.display()));
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).map_err(|e| bad(e.to_string()))? {
        store
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("no certificate".into()));
    }
    Ok(Some(store))
}

/// The rustls configuration of the parameters (`None`: no TLS).
pub(super) fn client_config(p: &TlsParams) -> Result<Option<ClientConfig>, StoreError> {
    let Some(mode) = p.mode.filter(|_| p.wanted()) else {
        return Ok(None);
    };
    let verify = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
    let roots = roots(p.root_cert.as_ref(), verify)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("tls: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(AnyCertificate(provider())),
        Some(roots) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| StoreError::Config(format!("tls: {e}")))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    Ok(Some(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// `require` without roots: encrypted, any certificate (the handshake signatures are still
/// checked).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_urls() {
        let (u, p) = split_url(
            "postgresql://ocs@db.example.net/ocs?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            u,
            "postgresql://ocs@db.example.net/ocs?application_name=x&sslmode=require"
        );
        assert_eq!(p.mode, Some(SslMode::VerifyFull));
        assert_eq!(p.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let (u, p) = split_url("host=/tmp port=5432 sslmode=prefer user=postgres").unwrap();
        assert_eq!(u, "host=/tmp port=5432 user=postgres sslmode=prefer");
        assert!(p.wanted());
        let (u, p) = split_url("postgres://localhost/db").unwrap();
        assert_eq!(u, "postgres://localhost/db");
        assert!(!p.wanted());
        assert!(client_config(&p).unwrap().is_none());
        assert!(split_url("postgres://h/d?sslmode=sometimes").is_err());
    }

    #[test]
    fn verification_needs_roots_and_require_needs_none() {
        let none = TlsParams {
            mode: Some(SslMode::Require),
            root_cert: None,
        };
        assert!(client_config(&none).unwrap().is_some());
        let missing = TlsParams {
            mode: Some(SslMode::VerifyFull),
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        assert!(matches!(
            client_config(&missing),
            Err(StoreError::Config(_))
        ));
    }
}
