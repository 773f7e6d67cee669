//! Hostile peers against `diameter serve` and the servers behind it: made-up Origin-Hosts,
//! listed hosts from the wrong address, certificates for another host, and an outside
//! peer trying to reach a second OCS of the realm through the first. Loopback only;
//! every wait is bounded; server processes are killed by their own pid.

mod cli_support;
#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;

use diameter::dict::dcca_rfc4006::{Cca, RequestedAction};
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::store::{IdKind, SubscriberId};
use diameter_apps::ocs::{start, ServeOptions};
use diameter_core::fields::result_code;
use diameter_core::node::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use diameter_core::node::{Node, NodeEvent, PeerConfig, RequestError, TlsConfig};
use diameter_core::peer::{capabilities, Capabilities, DownReason, PeerSettings};
use diameter_core::RawMessage;
use ocs_common::ccr::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn fast() -> PeerSettings {
    PeerSettings {
        tw: Duration::from_millis(500),
        tc: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        cea_timeout: Duration::from_secs(3),
        ..Default::default()
    }
}

/// Sends a CER as `host` over plain TCP and returns the CEA's Result-Code (0: none) and
/// whether the server then closed the connection.
fn cer_as(host: &str, to: SocketAddr) -> (u32, bool, TcpStream) {
    let mut s = TcpStream::connect_timeout(&to, LIMIT).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let caps = Capabilities {
        origin_host: host.into(),
        origin_realm: "example.net".into(),
        host_ip_addresses: vec![[127, 0, 0, 1].into()],
        product_name: "hostile".into(),
        auth_applications: vec![4],
        ..Default::default()
    };
    s.write_all(&capabilities::cer(&caps, 1, 1).to_bytes())
        .unwrap();
    let mut head = [0u8; 4];
    if s.read_exact(&mut head).is_err() {
        return (0, true, s);
    }
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut buf = vec![0u8; len];
    buf[..4].copy_from_slice(&head);
    s.read_exact(&mut buf[4..]).unwrap();
    let cea = RawMessage::decode(buf.into(), &Default::default()).unwrap();
    let code = result_code(&cea).unwrap_or(0);
    let mut rest = [0u8; 16];
    let closed = matches!(s.read(&mut rest), Ok(0));
    (code, closed, s)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn serve_ocs_accepts_only_its_listed_peers() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "ocs.toml",
        &format!(
            r#"listen = "127.0.0.1:0"
origin_host = "ocs.example.net"
store = "sqlite://{}"
auto_provision = 100

[[peers]]
host = "pgw.example.net"            # accept only

[[peers]]
host = "dra.example.net"
source = "10.0.0.0/24"              # never loopback
"#,
            dir.path().join("ocs.db").display()
        ),
    );
    let (_server, addr) = cli_support::spawn_server(&["serve", "ocs", "--config", &config]);
    let addr: SocketAddr = addr.parse().unwrap();
    // A made-up Origin-Host: 3010, then closed.
    let (code, closed, _) = cer_as("made-up.example.net", addr);
    assert_eq!((code, closed), (3010, true));
    // A listed host from an address its entry does not allow.
    let (code, closed, _) = cer_as("dra.example.net", addr);
    assert_eq!((code, closed), (3010, true));
    // The accept-only entry is honoured (it used to be dropped).
    let (code, closed, _s) = cer_as("pgw.example.net", addr);
    assert_eq!((code, closed), (2001, false));
}

#[test]
fn accept_any_opens_the_server_and_warns() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "ocs.toml",
        "listen = \"127.0.0.1:0\"\n[[peers]]\nhost = \"pgw.example.net\"\n",
    );
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("diameter"))
        .args([
            "serve",
            "ocs",
            "--config",
            &config,
            "--store",
            &store,
            "--accept-any",
        ])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let guard = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx2.send(l);
        }
    });
    let (mut addr, mut warned) = (None, false);
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while (addr.is_none() || !warned) && std::time::Instant::now() < end {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if line.contains(" listening on ") {
            addr = line.rsplit(' ').next().map(str::to_owned);
        }
        warned |= line.contains("WARN") && line.contains("accept_any");
    }
    assert!(warned, "a warning at start");
    let addr: SocketAddr = addr.expect("address").parse().unwrap();
    let (code, _, _s) = cer_as("made-up.example.net", addr);
    assert_eq!(code, 2001);
    drop(guard);
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn check_shows_who_may_connect_and_bad_sources_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(
        dir.path(),
        "ok.toml",
        "[[peers]]\nhost = \"pgw.example.net\"\nsource = \"10.1.0.0/16\"\n",
    );
    let out = assert_cmd::Command::cargo_bin("diameter")
        .unwrap()
        .args(["serve", "sip", "--config", &ok, "--check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("the [[peers]] only"), "{text}");
    assert!(
        text.contains("pgw.example.net (accept only) from 10.1.0.0/16"),
        "{text}"
    );
    let out = assert_cmd::Command::cargo_bin("diameter")
        .unwrap()
        .args(["serve", "relay", "--config", &ok, "--check"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("the [[peers]] only"));
    let none = write(dir.path(), "none.toml", "\n");
    let out = assert_cmd::Command::cargo_bin("diameter")
        .unwrap()
        .args(["serve", "relay", "--config", &none, "--check"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("loopback peers only"),
        "relay: no peers means loopback only, not any peer"
    );

    let bad = write(
        dir.path(),
        "bad.toml",
        "[[peers]]\nhost = \"pgw.example.net\"\nsource = \"10.1.0.0/40\"\n",
    );
    let out = assert_cmd::Command::cargo_bin("diameter")
        .unwrap()
        .args(["serve", "ocs", "--config", &bad, "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an address or network"));
    let tls_peer = write(
        dir.path(),
        "tls.toml",
        "[[peers]]\nhost = \"pgw.example.net\"\ntls = true\n",
    );
    let out = assert_cmd::Command::cargo_bin("diameter")
        .unwrap()
        .args(["serve", "ocs", "--config", &tls_peer, "--check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "tls = true without certificates"
    );
    let junk = write(dir.path(), "junk.pem", "not a certificate\n");
    for args in [
        &["--tls-cert", &junk, "--tls-key", &junk, "--tls-ca", &junk][..],
        &["--tls-cert", &junk][..],
    ] {
        let out = assert_cmd::Command::cargo_bin("diameter")
            .unwrap()
            .args(["serve", "ocs", "--check"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("fix:"));
    }
}

/// A CA and leaf certificates, made for the test.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test CA");
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// (certificate, key) for `name`.
    fn issue(&self, name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert, key)
    }

    fn config(&self, name: &str) -> TlsConfig {
        let (cert, key) = self.issue(name);
        TlsConfig::new(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            vec![CertificateDer::from(self.cert.der().to_vec())],
        )
    }
}

async fn client(host: &str, addr: SocketAddr, tls: Option<TlsConfig>) -> Node {
    let mut peer = PeerConfig::new("ocs.example.net", addr).settings(fast());
    if let Some(tls) = tls {
        peer = peer.tls(tls);
    }
    Node::builder()
        .origin_host(host)
        .origin_realm("example.net")
        .auth_application(4)
        .peer(peer)
        .build()
        .await
        .unwrap()
}

async fn down_reason(node: &Node) -> DownReason {
    let mut events = node.subscribe();
    tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(NodeEvent::PeerDown { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .expect("the peer goes down")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_ocs_over_tls_binds_certificates_to_origin_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue("ocs.example.net");
    let cert = write(dir.path(), "ocs.pem", &cert.pem());
    let key = write(dir.path(), "ocs.key", &key.serialize_pem());
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let (_server, addr) = cli_support::spawn_server(&[
        "serve",
        "ocs",
        "--listen",
        "127.0.0.1:0",
        "--origin-host",
        "ocs.example.net",
        "--store",
        &store,
        "--auto-provision",
        "100",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-ca",
        &ca_pem,
    ]);
    let addr: SocketAddr = addr.parse().unwrap();

    // The right certificate for its Origin-Host: accepted and served.
    let good = client("pgw.example.net", addr, Some(ca.config("pgw.example.net"))).await;
    assert!(good.wait_peer("ocs.example.net", LIMIT).await);
    let ev = sms_event(
        &good.new_session_id(),
        "491700000001",
        RequestedAction::DirectDebiting,
    );
    let cca: Cca = good.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);

    // A CER whose Origin-Host is not the one its certificate names: 3010.
    let liar = client("sgw.example.net", addr, Some(ca.config("pgw.example.net"))).await;
    assert_eq!(
        down_reason(&liar).await,
        DownReason::CapabilitiesRejected(3010)
    );
    assert!(!liar.is_peer_available("ocs.example.net"));
    // Plain TCP gets no peer either.
    let plain = client("pgw2.example.net", addr, None).await;
    assert!(
        !plain
            .wait_peer("ocs.example.net", Duration::from_millis(1500))
            .await
    );
    // The honest client is still served.
    let ev = sms_event(
        &good.new_session_id(),
        "491700000001",
        RequestedAction::DirectDebiting,
    );
    let cca: Cca = good.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    for n in [good, liar, plain] {
        n.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocs_never_forwards_to_another_ocs_of_its_realm() {
    let dir = tempfile::tempdir().unwrap();
    let ocs = |host: &str, db: &str, peers: Vec<PeerConfig>| {
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = host.into();
        o.origin_realm = "example.net".into();
        o.store = format!("sqlite://{}", dir.path().join(db).display());
        o.tariffs = Tariffs::parse(TARIFFS).unwrap();
        o.auto_provision = Some(1000);
        o.peers = peers;
        o
    };
    let ocs2 = start(ocs("ocs2.example.net", "ocs2.db", vec![]))
        .await
        .unwrap();
    let to_ocs2 = PeerConfig::new("ocs2.example.net", ocs2.local_addrs()[0]).settings(fast());
    let ocs1 = start(ocs("ocs1.example.net", "ocs1.db", vec![to_ocs2]))
        .await
        .unwrap();
    assert!(ocs1.node.wait_peer("ocs2.example.net", LIMIT).await);

    // An outside peer, connected to ocs1 only, asks for ocs2 by Destination-Host.
    let outside = Node::builder()
        .origin_host("pgw.outside.net")
        .origin_realm("outside.net")
        .auth_application(4)
        .peer(PeerConfig::new("ocs1.example.net", ocs1.local_addrs()[0]).settings(fast()))
        .build()
        .await
        .unwrap();
    assert!(outside.wait_peer("ocs1.example.net", LIMIT).await);
    let mut ev = sms_event(
        &outside.new_session_id(),
        "491700000002",
        RequestedAction::DirectDebiting,
    );
    ev.origin_host = "pgw.outside.net".into();
    ev.origin_realm = "outside.net".into();
    ev.destination_host = Some("ocs2.example.net".into());
    match outside.send::<_, Cca>(&ev, 4).await {
        Err(RequestError::Protocol { result_code, .. }) => assert_eq!(result_code, 3002),
        other => panic!("expected 3002 with the E bit, got {other:?}"),
    }
    // ocs2 never saw it: the subscriber was never auto-provisioned there.
    let who = SubscriberId::new(IdKind::E164, "491700000002");
    assert!(ocs2.server.store().find_account(&who).unwrap().is_none());
    // ocs1 still serves what is meant for it.
    ev.destination_host = Some("ocs1.example.net".into());
    ev.session_id = outside.new_session_id().into();
    let cca: Cca = outside.send(&ev, 4).await.unwrap();
    assert_eq!(cca.result_code, 2001);
    outside.abort();
    ocs1.stop().await;
    ocs2.stop().await;
}
