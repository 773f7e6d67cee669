//! STATE_MAINTAINED sessions over loopback TCP (RFC 4740 §6.7, RFC 6733 §8.9): the AAA
//! server answers with its configured Authorization-Lifetime and Auth-Grace-Period, the
//! SIP server's client re-authorizes in the same session when its timer says so; a
//! stateless client gets neither AVP. The server expires a session after lifetime +
//! grace, STR ends one (STA 2001, 5002 when unknown), ASR is answered and followed by STR.

use diameter::dict::base_rfc6733::AuthSessionState;
use diameter::dict::base_rfc6733::TerminationCause;
use diameter::dict::sip_rfc4740::SipServerAssignmentType as T;
use diameter_apps::sip::client::{
    register_abort, Authorization, ClientConfig, Deregistration, MarParams, ProfilePush, SarParams,
    SessionAbort, SipClient, SipResult, SipServerEvents,
};
use diameter_apps::sip::server::{ServerConfig, SipPeer};
use diameter_apps::sip::store::RegState;
use diameter_apps::sip::{start, ServeOptions};
use diameter_core::node::{Node, PeerConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AAA: &str = "sip-aaa.example.com";
const SIP1: &str = "sip1.example.com";
const USER: &str = "alice@example.com";
const AOR: &str = "sip:alice@example.com";

const USERS: &str = r#"
realm = "example.com"

[[user]]
name = "alice@example.com"
password = "secret"
aors = ["sip:alice@example.com"]
"#;

async fn authenticate(c: &SipClient<Node>) {
    let mut p = MarParams {
        aor: AOR.into(),
        method: "REGISTER".into(),
        user_name: Some(USER.into()),
        server_uri: Some("sip:sip1.example.com".into()),
        ..Default::default()
    };
    let ch = c.mar(&p).await.unwrap().challenge.expect("challenge");
    p.credentials = Some(
        ch.answer(USER, "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    assert_eq!(c.mar(&p).await.unwrap().result, SipResult::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetime_and_grace_are_set_and_honoured() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        std::fs::write(&users, USERS).unwrap();
        let mut server = ServerConfig::new(AAA, "example.com");
        server.authorization_lifetime = Some(Duration::from_secs(2));
        server.auth_grace_period = Duration::from_secs(1);
        let aaa = start({
            let mut o = ServeOptions::default();
            o.listen = "127.0.0.1:0".parse().unwrap();
            o.origin_host = AAA.into();
            o.origin_realm = "example.com".into();
            o.store = format!("sqlite://{}", dir.path().join("sip.db").display());
            o.users = Some(users);
            o.sip_servers = vec![SipPeer::new(SIP1)];
            o.server = Some(server);
            o
        })
        .await
        .expect("AAA server");
        let node = Node::builder()
            .origin_host(SIP1)
            .origin_realm("example.com")
            .auth_application(6)
            .peer(PeerConfig::new(AAA, aaa.local_addrs()[0]))
            .build()
            .await
            .unwrap();
        assert!(node.wait_peer(AAA, Duration::from_secs(10)).await);
        let mut cfg = ClientConfig::new(SIP1, "example.com", "example.com");
        cfg.auth_session_state = AuthSessionState::StateMaintained;
        cfg.reauth_margin = Duration::from_secs(1);
        let stateful = SipClient::new(cfg, node.clone());
        let stateless = SipClient::new(
            ClientConfig::new(SIP1, "example.com", "example.com"),
            node.clone(),
        );

        authenticate(&stateful).await;
        let mut sar = SarParams::new(T::Registration, AOR);
        sar.user_name = Some(USER.into());
        sar.server_uri = Some("sip:sip1.example.com".into());
        let saa = stateful.sar(&sar).await.unwrap();
        assert_eq!(saa.result, SipResult::Success);
        assert_eq!(
            saa.raw.auth_session_state,
            AuthSessionState::StateMaintained
        );
        assert_eq!(
            (saa.raw.authorization_lifetime, saa.raw.auth_grace_period),
            (Some(2), Some(1))
        );
        let first = saa.authorization;
        assert_eq!(first.state(Instant::now()), Authorization::Valid);

        // Re-authorize when the timer says so (1 s before the lifetime ends), in the
        // same session.
        let due = first.next_deadline(Instant::now()).expect("a deadline");
        tokio::time::sleep_until(due.into()).await;
        assert_eq!(first.state(Instant::now()), Authorization::Reauthorize);
        let mut again = SarParams::new(T::ReRegistration, AOR);
        again.user_name = Some(USER.into());
        again.server_uri = Some("sip:sip1.example.com".into());
        again.session_id = Some(saa.raw.session_id.as_str().to_string());
        let renewed = stateful.sar(&again).await.unwrap();
        assert_eq!(renewed.result, SipResult::Success);
        assert_eq!(renewed.raw.session_id, saa.raw.session_id);
        // Past the first lifetime + grace: the old authorization has ended, the renewed
        // one still holds.
        let later = Instant::now() + Duration::from_millis(2100);
        assert_eq!(first.state(later), Authorization::Ended);
        assert_ne!(renewed.authorization.state(later), Authorization::Ended);

        // Stateless: no lifetime, the timer never fires.
        let saa = stateless.sar(&again).await.unwrap();
        assert_eq!(saa.result, SipResult::Success);
        assert_eq!(
            (saa.raw.authorization_lifetime, saa.raw.auth_grace_period),
            (None, None)
        );
        assert_eq!(saa.authorization.next_deadline(Instant::now()), None);

        node.stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
        aaa.stop().await;
    })
    .await
    .expect("in time");
}

/// The AAA server of these tests, with the given lifetime and grace (seconds), sweeping
/// every 100 ms.
async fn aaa(dir: &std::path::Path, lifetime: u64, grace: u64) -> diameter_apps::sip::SipHandle {
    let users = dir.join("users.toml");
    std::fs::write(&users, USERS).unwrap();
    let mut server = ServerConfig::new(AAA, "example.com");
    server.authorization_lifetime = Some(Duration::from_secs(lifetime));
    server.auth_grace_period = Duration::from_secs(grace);
    server.session_sweep = Duration::from_millis(100);
    start({
        let mut o = ServeOptions::default();
        o.listen = "127.0.0.1:0".parse().unwrap();
        o.origin_host = AAA.into();
        o.origin_realm = "example.com".into();
        o.store = format!("sqlite://{}", dir.join("sip.db").display());
        o.users = Some(users);
        o.sip_servers = vec![SipPeer::new(SIP1)];
        o.server = Some(server);
        o
    })
    .await
    .expect("AAA server")
}

/// The SIP server's node (ASR handled by `events`) and a STATE_MAINTAINED client.
async fn sip_node(
    aaa: &diameter_apps::sip::SipHandle,
    events: Arc<dyn SipServerEvents>,
) -> (Node, SipClient<Node>) {
    let slot = Arc::new(std::sync::OnceLock::new());
    let builder = Node::builder()
        .origin_host(SIP1)
        .origin_realm("example.com")
        .auth_application(6)
        .peer(PeerConfig::new(AAA, aaa.local_addrs()[0]));
    let node = register_abort(builder, SIP1, "example.com", events, slot.clone())
        .build()
        .await
        .unwrap();
    let _ = slot.set(node.clone());
    assert!(node.wait_peer(AAA, Duration::from_secs(10)).await);
    let mut cfg = ClientConfig::new(SIP1, "example.com", "example.com");
    cfg.auth_session_state = AuthSessionState::StateMaintained;
    (node.clone(), SipClient::new(cfg, node))
}

/// Authenticates and registers `AOR` in a new STATE_MAINTAINED session; its Session-Id.
async fn register(c: &SipClient<Node>) -> String {
    authenticate(c).await;
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.user_name = Some(USER.into());
    sar.server_uri = Some("sip:sip1.example.com".into());
    let saa = c.sar(&sar).await.unwrap();
    assert_eq!(saa.result, SipResult::Success);
    saa.raw.session_id.as_str().to_string()
}

fn registered(aaa: &diameter_apps::sip::SipHandle) -> bool {
    let reg = aaa.server.store().registration(AOR).unwrap().unwrap();
    reg.state == RegState::Registered
}

async fn until(what: impl Fn() -> bool) -> bool {
    for _ in 0..200 {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Answers every ASR with success, and counts them.
struct Aborts(std::sync::atomic::AtomicUsize);

impl SipServerEvents for Aborts {
    fn deregister(&self, _: &Deregistration) -> SipResult {
        SipResult::Success
    }
    fn push_profile(&self, _: &ProfilePush) -> SipResult {
        SipResult::Success
    }
    fn abort_session(&self, _: &SessionAbort) -> SipResult {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        SipResult::Success
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_expires_a_session_after_lifetime_and_grace() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let aaa = aaa(dir.path(), 1, 1).await;
        let (node, client) = sip_node(&aaa, Arc::new(Aborts(Default::default()))).await;
        let started = Instant::now();
        register(&client).await;
        assert!(registered(&aaa));
        assert_eq!(aaa.server.kept_sessions(), 1);
        // Not before lifetime + grace (2 s) ...
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if started.elapsed() < Duration::from_millis(1900) {
            assert!(registered(&aaa), "released during the grace period");
        }
        // ... but soon after.
        assert!(until(|| !registered(&aaa)).await, "released at expiry");
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert_eq!(aaa.server.kept_sessions(), 0);
        node.stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
        aaa.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn str_ends_the_session_sta_2001_and_5002_for_an_unknown_one() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let aaa = aaa(dir.path(), 3600, 60).await;
        let (node, client) = sip_node(&aaa, Arc::new(Aborts(Default::default()))).await;
        let sid = register(&client).await;
        assert_eq!(aaa.server.kept_sessions(), 1);
        // A deregistration in the session: the client follows it with the STR.
        let mut dereg = SarParams::new(T::UserDeregistration, AOR);
        dereg.user_name = Some(USER.into());
        dereg.server_uri = Some("sip:sip1.example.com".into());
        dereg.session_id = Some(sid.clone());
        assert_eq!(client.sar(&dereg).await.unwrap().result, SipResult::Success);
        assert_eq!(aaa.server.kept_sessions(), 0);
        assert!(!registered(&aaa));
        // The session is gone: 5002.
        let again = client
            .terminate(&sid, TerminationCause::DiameterLogout)
            .await
            .unwrap();
        assert_eq!(again.code(), 5002);
        // An STR straight after a registration (AuthTimer ended) frees it: 2001.
        let sid = register(&client).await;
        let sta = client
            .terminate(&sid, TerminationCause::DiameterAuthExpired)
            .await
            .unwrap();
        assert_eq!(sta, SipResult::Success);
        assert!(!registered(&aaa));
        node.stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
        aaa.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asr_is_answered_and_followed_by_str() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let aaa = aaa(dir.path(), 3600, 60).await;
        let events = Arc::new(Aborts(Default::default()));
        let (node, client) = sip_node(&aaa, events.clone()).await;
        let sid = register(&client).await;
        assert!(matches!(
            aaa.abort_session("no-such-session").await,
            Err(diameter_apps::sip::Error::UnknownSession(_))
        ));
        assert_eq!(aaa.abort_session(&sid).await.unwrap(), SipResult::Success);
        assert_eq!(events.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The STR that follows ends the session and releases the registration.
        // (The server drops the session, then releases its registration: wait for both.)
        assert!(
            until(|| aaa.server.kept_sessions() == 0 && !registered(&aaa)).await,
            "STR after ASA ends the session and releases the registration"
        );
        node.stop(diameter_core::base::DisconnectCause::Rebooting)
            .await;
        aaa.stop().await;
    })
    .await
    .expect("in time");
}
