//! The admin endpoint of `diameter serve ocs|sip --admin` and the commands that call it
//! (`diameter ocs reauth|abort`, `diameter sip deregister|push-profile`), with the real
//! binary on loopback and diameter-core nodes as the OCS client and the serving SIP server.

#[path = "../../diameter-apps/tests/ocs_common/mod.rs"]
mod ocs_common;
#[path = "cli_support/process.rs"]
mod process;

use assert_cmd::Command;
use diameter::dict::base_rfc6733::{result_code as base_rc, Asa, Asr, Raa, Rar, ReAuthRequestType};
use diameter::dict::dcca_rfc4006::{CcRequestType, Cca};
use diameter::dict::sip_rfc4740::SipServerAssignmentType as T;
use diameter_apps::sip::client::{
    register_events, ClientConfig, Deregistration, MarParams, ProfilePush, SarParams, SipClient,
    SipResult, SipServerEvents,
};
use diameter_core::node::{typed, Node, PeerConfig};
use ocs_common::ccr::*;
use process::ServerProcess as Server;
use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Starts `diameter ARGS` and returns the addresses of its first two output lines
/// (`... listening on ADDR`, then `admin listening on ADDR`); the third line names the
/// token file.
fn spawn(args: &[&str]) -> (Server, String, String) {
    let (server, mut lines) = Server::start_lines(args, 3);
    let token_line = lines.pop().expect("token line");
    assert!(token_line.contains("admin token in "), "{token_line:?}");
    let mut addrs = Vec::new();
    for (line, want) in lines.iter().zip(["", "admin "]) {
        assert!(
            line.starts_with(want) && line.contains(" listening on "),
            "{line:?}"
        );
        addrs.push(line.trim().rsplit(' ').next().expect("address").to_owned());
    }
    let admin = addrs.pop().expect("admin");
    let diameter = addrs.pop().expect("diameter");
    (server, diameter, admin)
}

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c.timeout(Duration::from_secs(60));
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One raw HTTP exchange with the admin endpoint: the whole response.
fn http_raw(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// One raw HTTP exchange with the admin endpoint: (status, body).
fn http(addr: &str, request: &str) -> (u16, String) {
    let out = http_raw(addr, request);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[test]
fn ocs_reauth_and_abort_through_the_admin_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tariffs = dir.path().join("tariffs.toml");
    std::fs::write(&tariffs, TARIFFS).expect("tariffs");
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let (_ocs, addr, admin) = spawn(&[
        "serve",
        "ocs",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--origin-host",
        "ocs.example.net",
        "--origin-realm",
        "example.net",
        "--store",
        &store,
        "--auto-provision",
        "100000",
        "--tariffs",
        tariffs.to_str().expect("path"),
    ]);
    // The server created its token next to its store.
    let tok = dir.path().join("admin.token").display().to_string();
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        std::fs::read_to_string(&tok).expect("token").trim()
    );

    let rt = runtime();
    let (rar_tx, rar_rx) = mpsc::channel::<(String, ReAuthRequestType, Option<u32>, Option<u32>)>();
    let (asr_tx, asr_rx) = mpsc::channel::<String>();
    let rar_tx = Mutex::new(rar_tx);
    let asr_tx = Mutex::new(asr_tx);
    let client = rt.block_on(async {
        let node = Node::builder()
            .origin_host("pgw.example.net")
            .origin_realm("example.net")
            .auth_application(4)
            .peer(PeerConfig::new(
                "ocs.example.net",
                addr.parse().expect("addr"),
            ))
            .handler(
                4,
                <Rar as diameter_core::Command>::CODE,
                typed(move |rar: Rar| {
                    if let Ok(t) = rar_tx.lock() {
                        let _ = t.send((
                            rar.session_id.as_str().to_owned(),
                            rar.re_auth_request_type,
                            rar.rating_group,
                            rar.service_identifier,
                        ));
                    }
                    async move {
                        Raa {
                            session_id: rar.session_id,
                            result_code: base_rc::DIAMETER_LIMITED_SUCCESS,
                            origin_host: "pgw.example.net".into(),
                            origin_realm: "example.net".into(),
                            ..Default::default()
                        }
                    }
                }),
            )
            .handler(
                4,
                <Asr as diameter_core::Command>::CODE,
                typed(move |asr: Asr| {
                    let _ = asr_tx
                        .lock()
                        .map(|t| t.send(asr.session_id.as_str().to_owned()));
                    async move {
                        Asa {
                            session_id: asr.session_id,
                            result_code: base_rc::DIAMETER_SUCCESS,
                            origin_host: "pgw.example.net".into(),
                            origin_realm: "example.net".into(),
                            ..Default::default()
                        }
                    }
                }),
            )
            .build()
            .await
            .expect("client node");
        assert!(
            node.wait_peer("ocs.example.net", Duration::from_secs(10))
                .await
        );
        node
    });

    // CCR-I opens the session.
    let sid = client.new_session_id();
    assert!(sid.contains(';'), "{sid}");
    let mut i = base(&sid, CcRequestType::InitialRequest, 0, GY);
    i.subscription_id = vec![msisdn("491700000001")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = rt.block_on(client.send(&i, 4)).expect("CCA-I");
    assert_eq!(cca.result_code, 2001);

    // Operator: RAR through the admin endpoint; the client answers 2002.
    let out = diameter()
        .args([
            "ocs",
            "reauth",
            &sid,
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("RAA Result-Code 2002 DIAMETER_LIMITED_SUCCESS"),
        "{stdout}"
    );
    let rar = rar_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the client got the RAR");
    assert_eq!(
        rar,
        (sid.clone(), ReAuthRequestType::AuthorizeOnly, None, None)
    );

    // Then the client asks again with CCR-U.
    let mut u = base(&sid, CcRequestType::UpdateRequest, 1, GY);
    u.multiple_services_credit_control = vec![data_mscc(100, Some(0), Some(1_000_000))].into();
    let cca: Cca = rt.block_on(client.send(&u, 4)).expect("CCA-U");
    assert_eq!(cca.result_code, 2001);

    // The same as JSON, for one rating group and service (RFC 8506 §5.5).
    let out = diameter()
        .args([
            "ocs",
            "reauth",
            &sid,
            "--rating-group",
            "100",
            "--service-id",
            "3",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
            "--json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["result_code"], 2002);
    assert_eq!(v["answer"], "RAA");
    assert_eq!(v["session_id"], sid.as_str());
    assert_eq!(v["scope"]["rating_group"], 100);
    assert_eq!(v["scope"]["service_identifier"], 3);
    let rar = rar_rx.recv_timeout(Duration::from_secs(5)).expect("RAR");
    assert_eq!((rar.2, rar.3), (Some(100), Some(3)));

    // ASR: the client answers ASA and ends the session with CCR-T.
    diameter()
        .args([
            "ocs",
            "abort",
            &sid,
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "ASA Result-Code 2001 DIAMETER_SUCCESS",
        ));
    assert_eq!(
        asr_rx.recv_timeout(Duration::from_secs(5)).expect("ASR"),
        sid
    );
    let mut t = base(&sid, CcRequestType::TerminationRequest, 2, GY);
    t.multiple_services_credit_control = vec![data_mscc(100, None, Some(1))].into();
    let cca: Cca = rt.block_on(client.send(&t, 4)).expect("CCA-T");
    assert_eq!(cca.result_code, 2001);

    // Unknown session: exit 1 and a clear message.
    diameter()
        .args([
            "ocs",
            "reauth",
            "nobody.example.net;1;1",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "unknown session nobody.example.net;1;1",
        ));

    // The raw endpoint: statuses and JSON errors.
    let post = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    let (status, body) = http(&admin, &post("/ocs/sessions/x%3B1%3B1/reauth"));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("unknown session x;1;1"), "{body}");
    assert_eq!(http(&admin, &post("/ocs/sessions/x%zz/reauth")).0, 400);
    assert_eq!(http(&admin, &post("/ocs/sessions//reauth")).0, 400);
    assert_eq!(http(&admin, &post("/nothing")).0, 404);
    assert_eq!(http(&admin, &post("/sip/users/alice/deregister")).0, 404);
    assert_eq!(
        http(
            &admin,
            &format!("GET /ocs/sessions/x/reauth HTTP/1.1\r\n{auth}\r\n")
        )
        .0,
        405
    );
    assert_eq!(http(&admin, "GARBAGE\r\n\r\n").0, 400);
    let (status, body) = http(&admin, &format!("GET / HTTP/1.1\r\n{auth}\r\n"));
    assert_eq!((status, body.contains("\"ocs\"")), (200, true), "{body}");
    let big = format!(
        "POST /ocs/sessions/x/reauth HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        10 << 20
    );
    assert_eq!(http(&admin, &big).0, 413);

    // A session whose client is gone: no answer, exit 3.
    let sid2 = client.new_session_id();
    let mut i = base(&sid2, CcRequestType::InitialRequest, 0, GY);
    i.subscription_id = vec![msisdn("491700000001")].into();
    i.multiple_services_credit_control = vec![data_mscc(100, Some(0), None)].into();
    let cca: Cca = rt.block_on(client.send(&i, 4)).expect("CCA-I");
    assert_eq!(cca.result_code, 2001);
    client.abort();
    std::thread::sleep(Duration::from_millis(500));
    diameter()
        .args([
            "ocs",
            "reauth",
            &sid2,
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("did not answer the RAR"));
}

const USERS: &str = r#"
realm = "example.com"

[[user]]
name = "alice@example.com"
password = "secret"
aors = ["sip:alice@example.com"]
accounting_servers = ["aaa://acct.example.com:3868"]

[[user.profile]]
type = "application/xml"
contents = "<services/>"

[[user]]
name = "bob@example.com"
password = "secret"
aors = ["sip:bob@example.com"]
"#;

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl SipServerEvents for Events {
    fn deregister(&self, r: &Deregistration) -> SipResult {
        if let Ok(mut v) = self.0.lock() {
            v.push(format!("RTR {:?} {:?} {:?}", r.user_name, r.reason, r.info));
        }
        SipResult::Success
    }
    fn push_profile(&self, p: &ProfilePush) -> SipResult {
        let profile: Vec<String> = p
            .profile
            .iter()
            .map(|d| String::from_utf8_lossy(&d.contents).into_owned())
            .collect();
        if let Ok(mut v) = self.0.lock() {
            v.push(format!(
                "PPR {} {profile:?} {:?}",
                p.user_name, p.accounting
            ));
        }
        SipResult::Success
    }
}

#[test]
fn sip_deregister_and_push_profile_through_the_admin_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    std::fs::write(&users, USERS).expect("users");
    let store = format!("sqlite://{}", dir.path().join("sip.db").display());
    let (_aaa, addr, admin) = spawn(&[
        "serve",
        "sip",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--origin-host",
        "sip-aaa.example.com",
        "--origin-realm",
        "example.com",
        "--store",
        &store,
        "--users",
        users.to_str().expect("path"),
    ]);
    let tok = dir.path().join("admin.token").display().to_string();
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        std::fs::read_to_string(&tok).expect("token").trim()
    );

    // The serving SIP server registers alice with SAR.
    let rt = runtime();
    let events = Arc::new(Events::default());
    let (node, saa) = rt.block_on(async {
        let b = Node::builder()
            .origin_host("sip2.example.com")
            .origin_realm("example.com")
            .auth_application(6)
            .peer(PeerConfig::new(
                "sip-aaa.example.com",
                addr.parse().expect("addr"),
            ));
        let b = register_events(b, "sip2.example.com", "example.com", events.clone());
        let node = b.build().await.expect("SIP server node");
        assert!(
            node.wait_peer("sip-aaa.example.com", Duration::from_secs(10))
                .await
        );
        let client = SipClient::new(
            ClientConfig::new("sip2.example.com", "example.com", "example.com"),
            node.clone(),
        );
        // Alice's REGISTER, authenticated by the AAA server (no Digest-HA1 for this SIP
        // server), then SAR.
        let mut mar = MarParams {
            aor: "sip:alice@example.com".into(),
            method: "REGISTER".into(),
            user_name: Some("alice@example.com".into()),
            server_uri: Some("sip:sip2.example.com".into()),
            ..Default::default()
        };
        let challenge = client.mar(&mar).await.expect("MAA").challenge;
        mar.credentials = challenge.and_then(|c| {
            c.answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
                .ok()
        });
        let maa = client.mar(&mar).await.expect("MAA");
        assert_eq!(maa.result, SipResult::Success);
        let mut sar = SarParams::new(T::Registration, "sip:alice@example.com");
        sar.user_name = Some("alice@example.com".into());
        sar.server_uri = Some("sip:sip2.example.com".into());
        let saa = client.sar(&sar).await.expect("SAA");
        (node, saa)
    });
    assert_eq!(saa.result, SipResult::Success);

    // PPR: a new profile from a TOML file, accounting addresses from a flag.
    let profile = dir.path().join("alice.toml");
    std::fs::write(
        &profile,
        "[[profile]]\ntype = \"application/xml\"\ncontents = \"<services><fwd/></services>\"\n",
    )
    .expect("profile");
    diameter()
        .args([
            "sip",
            "push-profile",
            "alice@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .args(["--profile", profile.to_str().expect("path")])
        .args(["--credit-control-server", "aaa://ocs.example.com"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "PPA Result-Code 2001 DIAMETER_SUCCESS",
        ));
    // RTR with a reason and text.
    let out = diameter()
        .args([
            "sip",
            "deregister",
            "alice@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .args([
            "--reason",
            "new-sip-server-assigned",
            "--text",
            "moved",
            "--json",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (v["answer"].as_str(), v["result_code"].as_u64()),
        (Some("RTA"), Some(2001))
    );
    assert_eq!(v["answers"].as_array().map(Vec::len), Some(1));

    let seen = events.0.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with("PPR alice@example.com")
            && seen[0].contains("<services><fwd/></services>")
            && seen[0].contains("aaa://ocs.example.com")
            && seen[0].contains("aaa://acct.example.com:3868"),
        "the profile and the new address, the stored accounting server kept: {seen:?}"
    );
    assert!(
        seen[1].contains("NewSipServerAssigned") && seen[1].contains("moved"),
        "{seen:?}"
    );

    // Now nobody serves alice; bob was never registered; carol does not exist.
    diameter()
        .args([
            "sip",
            "deregister",
            "alice@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "not registered at any SIP server",
        ));
    diameter()
        .args([
            "sip",
            "deregister",
            "carol@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown user carol@example.com"));
    diameter()
        .args([
            "sip",
            "push-profile",
            "carol@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .args(["--accounting-server", "aaa://x.example.com"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown user carol@example.com"));
    // Usage errors never reach the server.
    diameter()
        .args(["sip", "deregister", "bob@example.com", "--reason", "later"])
        .assert()
        .code(2);
    diameter()
        .args([
            "sip",
            "push-profile",
            "bob@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nothing to push"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[profile]]\ntype = \"x\"\n").expect("bad profile");
    diameter()
        .args([
            "sip",
            "push-profile",
            "bob@example.com",
            "--admin",
            &admin,
            "--admin-token-file",
            &tok,
        ])
        .args(["--profile", bad.to_str().expect("path")])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bad.toml"));
    // A bad JSON body at the endpoint.
    let body = "{\"reason\": \"soon\"}";
    let (status, text) = http(
        &admin,
        &format!(
            "POST /sip/users/alice%40example.com/deregister HTTP/1.1\r\n{auth}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 400, "{text}");

    node.abort();
}

#[test]
fn unreachable_admin_endpoint_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    diameter()
        .args(["ocs", "reauth", "a;1;1", "--admin", &port.to_string()])
        .args(["--admin-token", "0123456789abcdef"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("cannot reach the admin endpoint"));
    diameter()
        .args(["sip", "deregister", "alice@example.com", "--admin"])
        .arg(format!("127.0.0.1:{port}"))
        .env("DIAMETER_ADMIN_TOKEN", "0123456789abcdef")
        .assert()
        .code(3);
}

#[test]
fn admin_address_in_the_configuration_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for server in ["ocs", "sip"] {
        let cfg = dir.path().join(format!("{server}.toml"));
        std::fs::write(&cfg, "admin = \"127.0.0.1:8080\"\n").expect("config");
        diameter()
            .args([
                "serve",
                server,
                "--config",
                cfg.to_str().expect("path"),
                "--check",
            ])
            .assert()
            .code(0)
            .stdout(predicates::str::contains("admin         127.0.0.1:8080"));
        diameter()
            .args([
                "serve",
                server,
                "--config",
                cfg.to_str().expect("path"),
                "--check",
            ])
            .args(["--admin", "9090"])
            .assert()
            .code(0)
            .stdout(predicates::str::contains("admin         127.0.0.1:9090"));
        std::fs::write(&cfg, "\nadmin = \"anywhere\"\n").expect("config");
        diameter()
            .args([
                "serve",
                server,
                "--config",
                cfg.to_str().expect("path"),
                "--check",
            ])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(":2:9: admin = \"anywhere\""));
    }
}

#[test]
fn help_shows_examples() {
    for args in [
        &["ocs", "reauth", "--help"][..],
        &["ocs", "abort", "--help"],
        &["sip", "deregister", "--help"],
        &["sip", "push-profile", "--help"],
    ] {
        diameter()
            .args(args)
            .assert()
            .code(0)
            .stdout(predicates::str::contains("Examples:"))
            .stdout(predicates::str::contains("--admin"));
    }
}

/// The endpoint's trust boundary: a bearer token generated at first start (mode 0600,
/// reused), and nothing a browser could send on behalf of a web page.
#[test]
fn admin_endpoint_requires_its_token_and_refuses_browsers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("ocs.db").display());
    let args = [
        "serve",
        "ocs",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--store",
        &store,
    ];
    let (ocs, lines) = Server::start_lines(&args, 3);
    let tok_path = dir.path().join("admin.token");
    assert_eq!(
        lines[2].trim(),
        format!("new admin token in {}", tok_path.display())
    );
    let admin = lines[1].trim().rsplit(' ').next().expect("addr").to_owned();
    let token = std::fs::read_to_string(&tok_path).expect("token");
    let token = token.trim();
    assert_eq!(token.len(), 64, "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tok_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let req = |method: &str, headers: &str, body: &str| {
        http_raw(
            &admin,
            &format!(
                "{method} /ocs/sessions/nobody%3B1%3B1/reauth HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let status = |resp: &str| -> u16 {
        resp.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status")
    };
    let json = "Content-Type: application/json\r\n";
    let good = format!("Authorization: Bearer {token}\r\n");
    let wrong = format!("Authorization: Bearer {}\r\n", "f".repeat(64));
    // No token, a wrong one, a shorter prefix of the right one, another scheme: 401.
    let none = req("POST", json, "");
    assert_eq!(status(&none), 401, "{none}");
    assert!(none.contains("WWW-Authenticate: Bearer"), "{none}");
    assert_eq!(status(&req("POST", &format!("{wrong}{json}"), "")), 401);
    let prefix = format!("Authorization: Bearer {}\r\n", &token[..63]);
    assert_eq!(status(&req("POST", &format!("{prefix}{json}"), "")), 401);
    let basic = format!("Authorization: Basic {token}\r\n");
    assert_eq!(status(&req("POST", &format!("{basic}{json}"), "")), 401);
    // The right token: the action runs (an unknown session is 404).
    let ok = req("POST", &format!("{good}{json}"), "");
    assert_eq!(status(&ok), 404, "{ok}");
    assert!(ok.contains("unknown session nobody;1;1"), "{ok}");
    // A body a form could post: 415, whatever the token.
    let plain = req("POST", &format!("{good}Content-Type: text/plain\r\n"), "{}");
    assert_eq!(status(&plain), 415, "{plain}");
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    assert_eq!(status(&req("POST", &format!("{good}{form}"), "a=b")), 415);
    assert_eq!(status(&req("POST", &good, "")), 415, "no Content-Type");
    // A browser's request: Origin (even with the token), fetch metadata, preflight.
    let origin = req(
        "POST",
        &format!("{good}{json}Origin: https://evil.example\r\n"),
        "",
    );
    assert_eq!(status(&origin), 403, "{origin}");
    assert_eq!(
        status(&req("POST", &format!("{good}{json}Origin: null\r\n"), "")),
        403
    );
    assert_eq!(
        status(&req(
            "POST",
            &format!("{good}{json}Sec-Fetch-Site: cross-site\r\n"),
            ""
        )),
        403
    );
    let preflight = req(
        "OPTIONS",
        "Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n",
        "",
    );
    assert_eq!(status(&preflight), 405, "{preflight}");
    for resp in [&none, &ok, &plain, &origin, &preflight] {
        assert!(
            !resp.to_ascii_lowercase().contains("access-control-"),
            "no CORS header ever: {resp}"
        );
    }

    // The CLI: the token file by default in the working directory, a flag, or the
    // environment; a wrong token is refused with a fix.
    let cli = |cwd: &std::path::Path| {
        let mut c = diameter();
        c.current_dir(cwd)
            .args(["ocs", "reauth", "nobody;1;1", "--admin", &admin])
            .env_remove("DIAMETER_ADMIN_TOKEN");
        c
    };
    cli(dir.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown session nobody;1;1"));
    let elsewhere = tempfile::tempdir().expect("tempdir");
    cli(elsewhere.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no admin token"));
    cli(elsewhere.path())
        .env("DIAMETER_ADMIN_TOKEN", token)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown session"));
    let bad = elsewhere.path().join("bad.token");
    std::fs::write(&bad, "f".repeat(64)).expect("bad token");
    cli(elsewhere.path())
        .arg("--admin-token-file")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("refused the token"));

    // A restart keeps the token.
    drop(ocs);
    let (_ocs, lines) = Server::start_lines(&args, 3);
    assert_eq!(
        lines[2].trim(),
        format!("admin token in {}", tok_path.display())
    );
    assert_eq!(
        std::fs::read_to_string(&tok_path).expect("token").trim(),
        token
    );
}

#[test]
fn admin_token_file_and_non_loopback_bind_are_explicit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A given token file is used as it is.
    let given = dir.path().join("given.token");
    std::fs::write(&given, "operator-chosen-token-0001\n").expect("token");
    let store = format!("sqlite://{}", dir.path().join("sip.db").display());
    let (_sip, lines) = Server::start_lines(
        &[
            "serve",
            "sip",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--store",
            &store,
            "--admin-token-file",
            given.to_str().expect("path"),
        ],
        3,
    );
    assert_eq!(
        lines[2].trim(),
        format!("admin token in {}", given.display())
    );
    assert!(!dir.path().join("admin.token").exists());
    let admin = lines[1].trim().rsplit(' ').next().expect("addr").to_owned();
    let (status, _) = http(
        &admin,
        "GET / HTTP/1.1\r\nAuthorization: Bearer operator-chosen-token-0001\r\n\r\n",
    );
    assert_eq!(status, 200);
    let (status, _) = http(&admin, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, 401);

    // A non-loopback address is refused unless forced.
    for server in ["ocs", "sip"] {
        diameter()
            .args(["serve", server, "--admin", "0.0.0.0:8080", "--check"])
            .assert()
            .code(2)
            .stderr(predicates::str::contains("not a loopback address"))
            .stderr(predicates::str::contains("--admin-allow-remote"));
        diameter()
            .args(["serve", server, "--admin", "0.0.0.0:8080", "--check"])
            .arg("--admin-allow-remote")
            .assert()
            .code(0)
            .stdout(predicates::str::contains("admin         0.0.0.0:8080"));
        let cfg = dir.path().join(format!("{server}.toml"));
        std::fs::write(
            &cfg,
            "admin = \"[::]:8080\"\nadmin_allow_remote = true\nadmin_token_file = \"/etc/t\"\n",
        )
        .expect("config");
        diameter()
            .args(["serve", server, "--check", "--config"])
            .arg(&cfg)
            .assert()
            .code(0)
            .stdout(predicates::str::contains("admin_token   /etc/t"));
    }
}
