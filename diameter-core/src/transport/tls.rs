//! TLS over TCP (RFC 6733 §13) with rustls and the ring provider: TLS from the first
//! byte of the connection, certificates on both sides, and the peer's DiameterIdentity
//! (the Origin-Host of its CER or CEA) checked against its certificate's subject
//! alternative names.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::Arc;

/// Certificates and keys for TLS connections of a node or of one peer.
///
/// The node presents `cert_chain` (leaf first) with `key`, and accepts peers whose
/// certificate chains to one of `roots`. With `verify_identity` (the default of
/// [`TlsConfig::new`]), the Origin-Host a peer announces in its CER or CEA must be a DNS
/// name of its certificate (subject alternative name), else the connection is refused
/// (an incoming one with a CEA carrying 3010 DIAMETER_UNKNOWN_PEER). Outgoing
/// connections also verify the server certificate against the configured peer host.
#[derive(Debug)]
#[non_exhaustive]
pub struct TlsConfig {
    /// This node's certificate chain, leaf first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The private key of the leaf certificate.
    pub key: PrivateKeyDer<'static>,
    /// The certificate authorities peers' certificates must chain to.
    pub roots: Vec<CertificateDer<'static>>,
    /// Whether the peer's Origin-Host must match its certificate.
    pub verify_identity: bool,
}

impl Clone for TlsConfig {
    fn clone(&self) -> Self {
        TlsConfig {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            roots: self.roots.clone(),
            verify_identity: self.verify_identity,
        }
    }
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidInput, msg.to_string())
}

impl TlsConfig {
    /// A configuration that checks peer identities.
    pub fn new(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        roots: Vec<CertificateDer<'static>>,
    ) -> Self {
        TlsConfig {
            cert_chain,
            key,
            roots,
            verify_identity: true,
        }
    }

    /// Reads PEM text: the certificate chain, the private key (PKCS#8, PKCS#1 or SEC1)
    /// and the trusted CA certificates.
    pub fn from_pem(cert_chain: &[u8], key: &[u8], roots: &[u8]) -> std::io::Result<Self> {
        let certs = |mut pem: &[u8]| -> std::io::Result<Vec<CertificateDer<'static>>> {
            rustls_pemfile::certs(&mut pem).collect()
        };
        let chain = certs(cert_chain)?;
        if chain.is_empty() {
            return Err(invalid("no certificate in the certificate PEM"));
        }
        let key = rustls_pemfile::private_key(&mut &key[..])?
            .ok_or_else(|| invalid("no private key in the key PEM"))?;
        let roots = certs(roots)?;
        if roots.is_empty() {
            return Err(invalid("no certificate in the CA PEM"));
        }
        Ok(Self::new(chain, key, roots))
    }

    /// [`TlsConfig::from_pem`] from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
        roots: impl AsRef<Path>,
    ) -> std::io::Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::new(e.kind(), format!("{}: {e}", p.display())))
        };
        Self::from_pem(
            &read(cert_chain.as_ref())?,
            &read(key.as_ref())?,
            &read(roots.as_ref())?,
        )
    }

    fn root_store(&self) -> std::io::Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        for c in &self.roots {
            store.add(c.clone()).map_err(invalid)?;
        }
        Ok(store)
    }

    /// The rustls configuration for connections this node accepts (client certificate
    /// required).
    pub(crate) fn server_config(&self) -> std::io::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.root_store()?),
            provider.clone(),
        )
        .build()
        .map_err(invalid)?;
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(invalid)?;
        Ok(Arc::new(config))
    }

    /// The rustls configuration for connections this node opens.
    pub(crate) fn client_config(&self) -> std::io::Result<Arc<ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_root_certificates(self.root_store()?)
            .with_client_auth_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(invalid)?;
        Ok(Arc::new(config))
    }
}

/// Built rustls configurations of a node or a peer.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) verify_identity: bool,
}

impl TlsSetup {
    pub(crate) fn new(config: &TlsConfig) -> std::io::Result<Self> {
        Ok(TlsSetup {
            server: config.server_config()?,
            client: config.client_config()?,
            verify_identity: config.verify_identity,
        })
    }
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("verify_identity", &self.verify_identity)
            .finish_non_exhaustive()
    }
}

/// Whether `identity` (an Origin-Host) is a DNS name the end-entity certificate `cert`
/// was issued for. Anything that does not parse is a mismatch.
pub(crate) fn identity_matches(cert: &CertificateDer<'_>, identity: &str) -> bool {
    let Ok(name) = ServerName::try_from(identity.to_owned()) else {
        return false;
    };
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&name).is_ok()
}

/// The check the reader applies to a CEA on a connection with this peer certificate.
pub(crate) fn identity_check(cert: CertificateDer<'static>) -> super::IdentityCheck {
    Arc::new(move |host: &str| identity_matches(&cert, host))
}

/// Opens TLS over a connected TCP stream, verifying the server against `host`.
pub(crate) async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    stream: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let name = ServerName::try_from(host.to_owned()).map_err(invalid)?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
}

/// Accepts TLS over an accepted TCP stream (the client must present a certificate).
pub(crate) async fn accept(
    config: Arc<ServerConfig>,
    stream: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio_rustls::TlsAcceptor::from(config).accept(stream).await
}
