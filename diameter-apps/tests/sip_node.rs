//! The RFC 4740 flow over loopback TCP: the SIP AAA server of `sip::start` (users from a
//! TOML file, SQLite file created on first start) and three SIP servers, each a
//! `diameter_core::node::Node` with a `SipClient`; then PPR and RTR from the AAA server.

use diameter::dict::base_rfc6733::AuthSessionState;
use diameter::dict::sip_rfc4740::{Maa, Mar, SipReasonCode, SipServerAssignmentType as T};
use diameter_apps::sip::client::{
    register_events, ClientConfig, Deregistration, MarParams, ProfilePush, SarParams, SipClient,
    SipResult, SipServerEvents,
};
use diameter_apps::sip::digest::{Challenge, DigestResponse};
use diameter_apps::sip::server::SipPeer;
use diameter_apps::sip::store::{AccountingInfo, RegState, UserData};
use diameter_apps::sip::{start, ServeOptions};
use diameter_core::node::{Node, PeerConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const AOR: &str = "sip:alice@example.com";
const SIP2: &str = "sip:sip2.example.com";
const AAA: &str = "sip-aaa.example.com";

const USERS: &str = r#"
realm = "example.com"

[[user]]
name = "alice@example.com"
password = "secret"
aors = ["sip:alice@example.com"]
capabilities = { mandatory = [1], servers = ["sip:sip2.example.com"] }
accounting_servers = ["aaa://acct.example.com:3868"]

[[user.profile]]
type = "application/xml"
contents = "<services/>"
"#;

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl SipServerEvents for Events {
    fn deregister(&self, r: &Deregistration) -> SipResult {
        self.0
            .lock()
            .unwrap()
            .push(format!("RTR {:?} {:?}", r.user_name, r.reason));
        SipResult::Success
    }
    fn push_profile(&self, p: &ProfilePush) -> SipResult {
        self.0
            .lock()
            .unwrap()
            .push(format!("PPR {} {:?}", p.user_name, p.accounting));
        SipResult::Success
    }
}

async fn sip_server(
    host: &str,
    aaa: SocketAddr,
    events: Option<Arc<Events>>,
) -> (Node, SipClient<Node>) {
    let mut b = Node::builder()
        .origin_host(host)
        .origin_realm("example.com")
        .auth_application(6)
        .peer(PeerConfig::new(AAA, aaa));
    if let Some(e) = events {
        b = register_events(b, host, "example.com", e);
    }
    let node = b.build().await.expect("client node");
    assert!(
        node.wait_peer(AAA, Duration::from_secs(10)).await,
        "{host} connects to the AAA server"
    );
    let client = SipClient::new(
        ClientConfig::new(host, "example.com", "example.com"),
        node.clone(),
    );
    (node, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_flow_over_loopback() {
    tokio::time::timeout(Duration::from_secs(60), flow())
        .await
        .expect("flow finishes in time");
}

async fn flow() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, USERS).unwrap();
    let db = dir.path().join("sip.db");
    let mut opts = ServeOptions::default();
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.origin_host = AAA.into();
    opts.origin_realm = "example.com".into();
    opts.store = format!("sqlite://{}", db.display());
    opts.users = Some(users);
    // Server 2 checks responses itself: it may receive Digest-HA1.
    opts.sip_servers = vec![
        SipPeer::new("sip1.example.com"),
        SipPeer::with_credentials("sip2.example.com"),
        SipPeer::new("sip3.example.com"),
    ];
    let handle = start(opts).await.expect("start");
    assert!(db.exists(), "store file created on first start");
    let aaa = handle.local_addrs()[0];

    let events = Arc::new(Events::default());
    let (n1, sip1) = sip_server("sip1.example.com", aaa, None).await;
    let (n2, sip2) = sip_server("sip2.example.com", aaa, Some(events.clone())).await;
    let (n3, sip3) = sip_server("sip3.example.com", aaa, None).await;

    // REGISTER at server 1: UAR, first registration, server 2 chosen by capabilities.
    let uaa = sip1.uar(AOR, None).await.unwrap();
    assert_eq!(uaa.result, SipResult::FirstRegistration);
    let chosen = uaa.capabilities.unwrap().servers[0].clone();
    assert_eq!(chosen, SIP2);

    // Server 2: MAR, challenge with H(A1).
    let maa = sip2
        .mar(&MarParams {
            aor: AOR.into(),
            method: "REGISTER".into(),
            server_uri: Some(SIP2.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(maa.result, SipResult::Success);
    let challenge = maa.challenge.clone().unwrap();
    let creds = challenge
        .answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
        .unwrap();

    // The next REGISTER at server 1 (stateless): UAR again finds server 2.
    let uaa = sip1.uar(AOR, Some(&creds.username)).await.unwrap();
    assert_eq!(
        (uaa.result, uaa.server_uri.as_deref()),
        (SipResult::SubsequentRegistration, Some(SIP2))
    );

    // Server 2 checks the response with H(A1), then SAR.
    assert!(maa.verify(&creds, "REGISTER"));
    let wrong: DigestResponse = challenge
        .answer("alice@example.com", "nope", "REGISTER", "sip:example.com")
        .unwrap();
    assert!(!maa.verify(&wrong, "REGISTER"));
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.user_name = Some("alice@example.com".into());
    sar.server_uri = Some(SIP2.into());
    let saa = sip2.sar(&sar).await.unwrap();
    assert_eq!(saa.result, SipResult::Success);
    assert_eq!(saa.profile[0].contents, b"<services/>");
    assert_eq!(
        saa.accounting.unwrap().accounting_servers,
        vec!["aaa://acct.example.com:3868"]
    );

    // A third party finds server 2.
    let lia = sip3.lir(AOR).await.unwrap();
    assert_eq!(
        (lia.result, lia.server_uri.as_deref()),
        (SipResult::Success, Some(SIP2))
    );
    assert_eq!(
        sip3.lir("sip:nobody@example.com").await.unwrap().result,
        SipResult::UserUnknown
    );

    // Operator: push a new profile, then deregister.
    let pushed = handle
        .push_profile(
            "alice@example.com",
            vec![UserData {
                data_type: "application/xml".into(),
                contents: b"<services><fwd/></services>".to_vec(),
            }],
            AccountingInfo {
                accounting_servers: vec![],
                credit_control_servers: vec!["aaa://ocs.example.com".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(pushed, vec![SipResult::Success]);
    let dereg = handle
        .deregister(
            "alice@example.com",
            &[],
            SipReasonCode::PermanentTermination,
            None,
        )
        .await
        .unwrap();
    assert_eq!(dereg, vec![SipResult::Success]);
    let seen = events.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("PPR alice@example.com") && seen[0].contains("ocs.example.com"));
    assert!(seen[1].contains("PermanentTermination"));
    let reg = handle.server.store().registration(AOR).unwrap().unwrap();
    assert_eq!(reg.state, RegState::NotRegistered);
    assert_eq!(
        sip3.lir(AOR).await.unwrap().result,
        SipResult::IdentityNotRegistered
    );

    for n in [n1, n2, n3] {
        n.stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
    }
    handle.stop().await;
}

/// The AAA server of `USERS` with SIP servers sip1 (no right to H(A1)) and sip2 (with it).
async fn aaa(dir: &std::path::Path) -> diameter_apps::sip::SipHandle {
    let users = dir.join("users.toml");
    std::fs::write(&users, USERS).unwrap();
    start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = AAA.into();
        o.origin_realm = "example.com".into();
        o.store = format!("sqlite://{}", dir.join("sip.db").display());
        o.users = Some(users);
        o.sip_servers = vec![
            SipPeer::new("sip1.example.com"),
            SipPeer::with_credentials("sip2.example.com"),
        ];
        o
    })
    .await
    .expect("start")
}

/// A MAR for alice's REGISTER asking for `items` SIP-Auth-Data-Items.
fn mar_for_items(node: &Node, host: &str, items: Option<u32>) -> Mar {
    Mar {
        session_id: node.new_session_id().into(),
        auth_application_id: 6,
        auth_session_state: AuthSessionState::NoStateMaintained,
        origin_host: host.into(),
        origin_realm: "example.com".into(),
        destination_realm: "example.com".into(),
        sip_aor: AOR.into(),
        sip_method: "REGISTER".into(),
        user_name: Some("alice@example.com".into()),
        sip_number_auth_items: items,
        ..Default::default()
    }
}

/// RFC 4740 §8.7, §9.6: a MAR with SIP-Number-Auth-Items 3 gets three challenges, each with
/// its own nonce and a SIP-Item-Number, and SIP-Number-Auth-Items 3; each nonce works once;
/// a request for more than the server's limit (5) gets the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mar_returns_as_many_challenges_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let handle = aaa(dir.path()).await;
    let addr = handle.local_addrs()[0];
    let (n1, sip1) = sip_server("sip1.example.com", addr, None).await;

    let maa: Maa = sip1
        .call(&mar_for_items(&n1, "sip1.example.com", Some(3)))
        .await
        .unwrap();
    assert_eq!(
        maa.result_code, 1001,
        "a challenge for the Diameter server to check"
    );
    assert_eq!(maa.sip_number_auth_items, Some(3));
    assert_eq!(maa.sip_auth_data_item.len(), 3);
    let mut nonces = Vec::new();
    let mut challenges = Vec::new();
    for (n, item) in maa.sip_auth_data_item.iter().enumerate() {
        assert_eq!(item.sip_item_number, Some(n as u32 + 1));
        let auth = item.sip_authenticate.as_ref().expect("SIP-Authenticate");
        assert!(auth.digest_ha1.is_none(), "no H(A1) without the right");
        let c = Challenge::from_avp(auth).unwrap();
        nonces.push(c.nonce.clone());
        challenges.push(c);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "each item has its own nonce");

    // Each challenge can be answered, once.
    for c in [&challenges[2], &challenges[0]] {
        let creds = c
            .answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
            .unwrap();
        let check = |creds: DigestResponse| MarParams {
            aor: AOR.into(),
            method: "REGISTER".into(),
            user_name: Some("alice@example.com".into()),
            credentials: Some(creds),
            ..Default::default()
        };
        let ok = sip1.mar(&check(creds.clone())).await.unwrap();
        assert_eq!(ok.result, SipResult::SuccessServerNameNotStored); // 2006: no SIP-Server-URI
                                                                      // The nonce is used: the same response gets a new, stale challenge.
        let again = sip1.mar(&check(creds)).await.unwrap();
        assert_eq!(
            again.result,
            SipResult::MultiRoundAuth,
            "a nonce is single use"
        );
    }

    // Without the AVP: one item, unnumbered (as before); above the limit: the limit.
    let maa: Maa = sip1
        .call(&mar_for_items(&n1, "sip1.example.com", None))
        .await
        .unwrap();
    assert_eq!(maa.sip_number_auth_items, Some(1));
    assert_eq!(maa.sip_auth_data_item.len(), 1);
    assert_eq!(maa.sip_auth_data_item[0].sip_item_number, None);
    let maa: Maa = sip1
        .call(&mar_for_items(&n1, "sip1.example.com", Some(1000)))
        .await
        .unwrap();
    assert_eq!(maa.sip_number_auth_items, Some(5));
    assert_eq!(maa.sip_auth_data_item.len(), 5);

    // A SIP server with the right gets H(A1) in every item.
    let (n2, sip2) = sip_server("sip2.example.com", addr, None).await;
    let maa: Maa = sip2
        .call(&mar_for_items(&n2, "sip2.example.com", Some(2)))
        .await
        .unwrap();
    assert_eq!(maa.sip_auth_data_item.len(), 2);
    assert!(maa.sip_auth_data_item.iter().all(|i| i
        .sip_authenticate
        .as_ref()
        .is_some_and(|a| a.digest_ha1.is_some())));

    n1.abort();
    n2.abort();
    handle.stop().await;
}

/// RFC 4740 §10.1.3: RE_REGISTRATION of an AOR that is not registered is 5038
/// DIAMETER_ERROR_IN_ASSIGNMENT_TYPE and changes nothing; after REGISTRATION it is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_registration_needs_a_registration() {
    let dir = tempfile::tempdir().unwrap();
    let handle = aaa(dir.path()).await;
    let addr = handle.local_addrs()[0];
    let (n2, sip2) = sip_server("sip2.example.com", addr, None).await;
    // Authenticate through sip2 (H(A1) handed over), so that only the state decides.
    let maa = sip2
        .mar(&MarParams {
            aor: AOR.into(),
            method: "REGISTER".into(),
            server_uri: Some(SIP2.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(maa.result, SipResult::Success);

    let mut re = SarParams::new(T::ReRegistration, AOR);
    re.user_name = Some("alice@example.com".into());
    re.server_uri = Some(SIP2.into());
    let saa = sip2.sar(&re).await.unwrap();
    assert_eq!(saa.raw.result_code, 5038);
    let reg = handle.server.store().registration(AOR).unwrap().unwrap();
    assert_eq!(reg.state, RegState::NotRegistered, "nothing changed");

    let mut first = SarParams::new(T::Registration, AOR);
    first.user_name = Some("alice@example.com".into());
    first.server_uri = Some(SIP2.into());
    assert_eq!(sip2.sar(&first).await.unwrap().result, SipResult::Success);
    assert_eq!(sip2.sar(&re).await.unwrap().result, SipResult::Success);
    let reg = handle.server.store().registration(AOR).unwrap().unwrap();
    assert_eq!(reg.state, RegState::Registered);

    n2.abort();
    handle.stop().await;
}
