//! STATE_MAINTAINED sessions over loopback TCP (RFC 4740 §6.7, RFC 6733 §8.9): the AAA
//! server answers with its configured Authorization-Lifetime and Auth-Grace-Period, the
//! SIP server's client re-authorizes in the same session when its timer says so; a
//! stateless client gets neither AVP.

use diameter::dict::base_rfc6733::AuthSessionState;
use diameter::dict::sip_rfc4740::SipServerAssignmentType as T;
use diameter_apps::sip::client::{
    Authorization, ClientConfig, MarParams, SarParams, SipClient, SipResult,
};
use diameter_apps::sip::server::{ServerConfig, SipPeer};
use diameter_apps::sip::{start, ServeOptions};
use diameter_core::node::{Node, PeerConfig};
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
        let aaa = start(ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            origin_host: AAA.into(),
            origin_realm: "example.com".into(),
            store: format!("sqlite://{}", dir.path().join("sip.db").display()),
            users: Some(users),
            sip_servers: vec![SipPeer::new(SIP1)],
            server: Some(server),
            ..Default::default()
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
