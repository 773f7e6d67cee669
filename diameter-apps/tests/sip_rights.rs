//! Hostile peers against the SIP AAA server (issue 12): who gets Digest-HA1, Digest
//! responses checked by the server, nonce replay / expiry / downgrade, SAR without an
//! authentication, deregistration by another SIP server, unlisted peers. In process, through
//! the wire encoding, with a clock the tests move; the last test runs over loopback TCP to
//! show that the peer is the one the node admitted, not the request's Origin-Host AVP.

use diameter::dict::sip_rfc4740::{SipServerAssignmentType as T, SipUserAuthorizationType};
use diameter_apps::sip::client::{
    ClientConfig, ClientError, MarParams, SarParams, SipClient, SipResult, Transport,
    TransportFuture,
};
use diameter_apps::sip::digest::{Algorithm, Challenge, DigestResponse};
use diameter_apps::sip::server::{Caller, Server, ServerConfig, SipPeer};
use diameter_apps::sip::store::{open, RegState, SipStore, SipUser};
use diameter_apps::sip::{start, ServeOptions};
use diameter_core::node::{Node, PeerConfig};
use diameter_core::RawMessage;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const AOR: &str = "sip:alice@example.com";
const USER: &str = "alice@example.com";
const PW: &str = "secret";
const SIP2: &str = "sip:sip2.example.com";

/// The server's clock in these tests: the real time plus an offset the test moves.
#[derive(Clone, Default)]
struct Clock(Arc<Mutex<Duration>>);

impl Clock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + *self.0.lock().unwrap()
    }
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

/// An in-process transport from the admitted peer `peer` (whatever the requests'
/// Origin-Host says), at the time of `clock`.
struct As {
    server: Arc<Server>,
    peer: Option<String>,
    clock: Clock,
    sessions: Mutex<u32>,
}

impl Transport for As {
    fn request(&self, msg: RawMessage) -> TransportFuture<'_> {
        let caller = Caller {
            peer: self.peer.as_deref().map(Into::into),
            now: self.clock.now(),
        };
        let result = RawMessage::decode(msg.to_bytes(), &Default::default())
            .map_err(ClientError::Decode)
            .and_then(|m| {
                self.server
                    .dispatch(&caller, &m)
                    .map_err(ClientError::Decode)
            })
            .and_then(|a| a.ok_or_else(|| ClientError::Transport("unsupported".into())))
            .and_then(|a| {
                RawMessage::decode(a.to_bytes(), &Default::default()).map_err(ClientError::Decode)
            });
        Box::pin(async move { result })
    }

    fn new_session_id(&self) -> String {
        let mut n = self.sessions.lock().unwrap();
        *n += 1;
        format!("{};1;{n}", self.peer.as_deref().unwrap_or("none"))
    }
}

struct World {
    server: Arc<Server>,
    store: Arc<dyn SipStore>,
    clock: Clock,
}

/// Alice and bob; SIP servers 1 (no right), 2 (may receive Digest-HA1) and 4 (no right)
/// are listed.
fn world() -> World {
    world_with(vec![
        SipPeer::new("sip1.example.com"),
        SipPeer::with_credentials("sip2.example.com"),
        SipPeer::new("sip4.example.com"),
    ])
}

fn world_with(peers: Vec<SipPeer>) -> World {
    let store = open("sqlite::memory:").unwrap();
    store
        .put_user(&SipUser::with_password(USER, "example.com", PW).aor(AOR))
        .unwrap();
    store
        .put_user(
            &SipUser::with_password("bob@example.com", "example.com", "hunter2")
                .aor("sip:bob@example.com"),
        )
        .unwrap();
    let mut cfg = ServerConfig::new("aaa.example.com", "example.com");
    cfg.peers = peers;
    World {
        server: Arc::new(Server::new(cfg, store.clone())),
        store,
        clock: Clock::default(),
    }
}

impl World {
    /// A SIP client whose requests arrive from the admitted peer `peer` (`None`: unknown)
    /// and carry Origin-Host `claimed`.
    fn client_claiming(&self, peer: Option<&str>, claimed: &str) -> SipClient<As> {
        SipClient::new(
            ClientConfig::new(claimed, "example.com", "example.com"),
            As {
                server: self.server.clone(),
                peer: peer.map(str::to_string),
                clock: self.clock.clone(),
                sessions: Mutex::new(0),
            },
        )
    }

    fn client(&self, peer: &str) -> SipClient<As> {
        self.client_claiming(Some(peer), peer)
    }

    fn registration(&self) -> diameter_apps::sip::store::Registration {
        self.store.registration(AOR).unwrap().unwrap()
    }
}

fn mar() -> MarParams {
    MarParams {
        aor: AOR.into(),
        method: "REGISTER".into(),
        user_name: Some(USER.into()),
        server_uri: Some(SIP2.into()),
        ..Default::default()
    }
}

fn with_credentials(r: DigestResponse) -> MarParams {
    MarParams {
        credentials: Some(r),
        ..mar()
    }
}

fn answer(c: &Challenge, password: &str) -> DigestResponse {
    c.answer(USER, password, "REGISTER", "sip:example.com")
        .unwrap()
}

/// A MAR for a challenge from `c` (no Digest-HA1 expected), and the challenge.
async fn challenge(c: &SipClient<As>) -> Challenge {
    let maa = c.mar(&mar()).await.unwrap();
    assert_eq!(maa.result, SipResult::MultiRoundAuth);
    assert!(maa.ha1.is_none());
    maa.challenge.expect("challenge")
}

fn has_ha1(maa: &diameter_apps::sip::client::MarAnswer) -> bool {
    maa.raw.sip_auth_data_item.iter().any(|i| {
        i.sip_authenticate
            .as_ref()
            .is_some_and(|a| a.digest_ha1.is_some())
    })
}

#[tokio::test]
async fn ha1_is_not_given_to_a_sip_server_without_the_right() {
    let w = world();
    let sip1 = w.client("sip1.example.com");
    // A MAR naming only the AOR, as the attacker did.
    let maa = sip1
        .mar(&MarParams {
            aor: AOR.into(),
            method: "REGISTER".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(maa.result, SipResult::MultiRoundAuth);
    assert!(!has_ha1(&maa), "no Digest-HA1 without the right");
    assert!(maa.challenge.is_some(), "a challenge instead");
    // Claiming the Origin-Host of the SIP server with the right does not help.
    let liar = w.client_claiming(Some("sip1.example.com"), "sip2.example.com");
    let maa = liar.mar(&mar()).await.unwrap();
    assert!(!has_ha1(&maa));
    // Nor asking for another algorithm, or a non-REGISTER request.
    let maa = sip1
        .mar(&MarParams {
            algorithm: Some(Algorithm::Sha256),
            ..mar()
        })
        .await
        .unwrap();
    assert!(!has_ha1(&maa));
    let maa = sip1
        .mar(&MarParams {
            method: "INVITE".into(),
            ..mar()
        })
        .await
        .unwrap();
    assert!(!has_ha1(&maa));

    // With no SIP server listed at all (the default), nobody gets it.
    let open = world_with(Vec::new());
    let maa = open.client("sip2.example.com").mar(&mar()).await.unwrap();
    assert_eq!(maa.result, SipResult::MultiRoundAuth);
    assert!(!has_ha1(&maa));
}

#[tokio::test]
async fn ha1_is_given_to_a_sip_server_with_the_right() {
    let w = world();
    let sip2 = w.client("sip2.example.com");
    let maa = sip2.mar(&mar()).await.unwrap();
    assert_eq!(maa.result, SipResult::Success);
    assert!(has_ha1(&maa));
    let c = maa.challenge.clone().unwrap();
    assert!(maa.verify(&answer(&c, PW), "REGISTER"));
    assert!(!maa.verify(&answer(&c, "nope"), "REGISTER"));
    // The delegated check refuses a downgraded response too.
    let mut downgraded = answer(&c, PW);
    downgraded.qop = None;
    downgraded.nc = None;
    downgraded.cnonce = None;
    let downgraded = downgraded.sign(PW, "REGISTER").unwrap();
    assert!(!maa.verify(&downgraded, "REGISTER"));
    // And it may register alice.
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.server_uri = Some(SIP2.into());
    assert_eq!(sip2.sar(&sar).await.unwrap().result, SipResult::Success);
}

#[tokio::test]
async fn digest_response_is_checked_by_the_server() {
    let w = world();
    let sip1 = w.client("sip1.example.com");
    let c = challenge(&sip1).await;
    let maa = sip1
        .mar(&with_credentials(answer(&c, "wrong")))
        .await
        .unwrap();
    assert_eq!(maa.result, SipResult::AuthenticationRejected, "4001");
    assert!(maa.response_auth.is_none());

    let c = challenge(&sip1).await;
    let maa = sip1.mar(&with_credentials(answer(&c, PW))).await.unwrap();
    assert_eq!(maa.result, SipResult::Success);
    assert!(maa.response_auth.is_some(), "rspauth");
    assert!(!has_ha1(&maa));

    // A nonce issued for alice does not authenticate bob.
    let c = challenge(&sip1).await;
    let bob = c
        .answer("bob@example.com", "hunter2", "REGISTER", "sip:example.com")
        .unwrap();
    let maa = sip1
        .mar(&MarParams {
            aor: "sip:bob@example.com".into(),
            user_name: Some("bob@example.com".into()),
            credentials: Some(bob),
            ..mar()
        })
        .await
        .unwrap();
    assert_eq!(maa.result, SipResult::AuthenticationRejected);
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let w = world();
    let sip1 = w.client("sip1.example.com");
    let c = challenge(&sip1).await;
    let creds = answer(&c, PW);
    assert_eq!(
        sip1.mar(&with_credentials(creds.clone()))
            .await
            .unwrap()
            .result,
        SipResult::Success
    );
    // The same response again (a captured REGISTER): no success, a fresh challenge.
    let again = sip1.mar(&with_credentials(creds.clone())).await.unwrap();
    assert_eq!(again.result, SipResult::MultiRoundAuth);
    assert!(again.challenge.unwrap().stale);
    // With a higher nc it is still the spent nonce.
    let mut nc2 = creds.clone();
    nc2.nc = Some("00000002".into());
    let nc2 = nc2.sign(PW, "REGISTER").unwrap();
    assert_ne!(
        sip1.mar(&with_credentials(nc2)).await.unwrap().result,
        SipResult::Success
    );
    // Replayed through another SIP server: that server was never given the nonce.
    let sip4 = w.client("sip4.example.com");
    assert_eq!(
        sip4.mar(&with_credentials(creds)).await.unwrap().result,
        SipResult::AuthenticationRejected
    );
    // A nonce the server never issued.
    let mut forged = challenge(&sip1).await;
    forged.nonce = "0123456789abcdef0123456789abcdef".into();
    assert_eq!(
        sip1.mar(&with_credentials(answer(&forged, PW)))
            .await
            .unwrap()
            .result,
        SipResult::AuthenticationRejected
    );
}

#[tokio::test]
async fn expired_nonce_is_refused() {
    let w = world();
    let sip1 = w.client("sip1.example.com");
    let c = challenge(&sip1).await;
    w.clock.advance(Duration::from_secs(301)); // default lifetime: 300 s
    let maa = sip1.mar(&with_credentials(answer(&c, PW))).await.unwrap();
    assert_eq!(maa.result, SipResult::MultiRoundAuth, "no success");
    let fresh = maa.challenge.unwrap();
    assert!(fresh.stale && fresh.nonce != c.nonce);
    // A wrong response to an expired nonce is simply rejected.
    let c = challenge(&sip1).await;
    w.clock.advance(Duration::from_secs(301));
    assert_eq!(
        sip1.mar(&with_credentials(answer(&c, "wrong")))
            .await
            .unwrap()
            .result,
        SipResult::AuthenticationRejected
    );
    // The stale challenge works while fresh.
    let c = challenge(&sip1).await;
    w.clock.advance(Duration::from_secs(299));
    assert_eq!(
        sip1.mar(&with_credentials(answer(&c, PW)))
            .await
            .unwrap()
            .result,
        SipResult::Success
    );
}

#[tokio::test]
async fn qop_downgrade_and_other_mismatches_are_refused() {
    let w = world();
    let sip1 = w.client("sip1.example.com");
    let refused = |r: DigestResponse| {
        let sip1 = &sip1;
        async move {
            sip1.mar(&with_credentials(r.sign(PW, "REGISTER").unwrap()))
                .await
                .unwrap()
                .result
        }
    };
    // The challenge offered qop=auth; an RFC 2069 response (no qop) is a downgrade.
    let c = challenge(&sip1).await;
    assert_eq!(c.qop.as_deref(), Some("auth"));
    let mut r = answer(&c, PW);
    (r.qop, r.nc, r.cnonce) = (None, None, None);
    assert_eq!(refused(r).await, SipResult::AuthenticationRejected);
    // Another algorithm than the challenge's.
    let c = challenge(&sip1).await;
    let mut r = answer(&c, PW);
    r.algorithm = Some("SHA-256".into());
    assert_eq!(refused(r).await, SipResult::AuthenticationRejected);
    // A qop that was not offered.
    let c = challenge(&sip1).await;
    let mut r = answer(&c, PW);
    r.qop = Some("auth-int".into());
    r.entity_body_hash = Some(Algorithm::Md5.hash_hex(b""));
    assert_eq!(refused(r).await, SipResult::AuthenticationRejected);
    // nc zero, or not 8 hex digits.
    for nc in ["00000000", "1", "0000000g"] {
        let c = challenge(&sip1).await;
        let mut r = answer(&c, PW);
        r.nc = Some(nc.into());
        assert_eq!(refused(r).await, SipResult::AuthenticationRejected, "{nc}");
    }
    // None of these authenticated alice: sip1 may not register her.
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.server_uri = Some("sip:sip1.example.com".into());
    assert_eq!(
        sip1.sar(&sar).await.unwrap().result,
        SipResult::InAssignmentType
    );
}

#[tokio::test]
async fn sar_without_authentication_is_refused() {
    let w = world();
    // Alice registers at SIP server 2 (Digest-HA1, checked there).
    let sip2 = w.client("sip2.example.com");
    assert_eq!(sip2.mar(&mar()).await.unwrap().result, SipResult::Success);
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.server_uri = Some(SIP2.into());
    assert_eq!(sip2.sar(&sar).await.unwrap().result, SipResult::Success);
    let before = w.registration();
    assert_eq!(before.server_uri.as_deref(), Some(SIP2));

    // SIP server 4 (listed, no authentication of alice) re-points her.
    let sip4 = w.client("sip4.example.com");
    for kind in [T::ReRegistration, T::Registration] {
        let mut evil = SarParams::new(kind, AOR);
        evil.server_uri = Some("sip:evil.example.net".into());
        evil.user_name = Some(USER.into());
        let saa = sip4.sar(&evil).await.unwrap();
        assert_eq!(
            saa.result,
            SipResult::InAssignmentType,
            "{kind:?}: DIAMETER_ERROR_IN_ASSIGNMENT_TYPE"
        );
        assert!(saa.profile.is_empty());
        assert_eq!(w.registration(), before, "{kind:?} changed nothing");
    }
    // Claiming SIP server 2's Origin-Host does not help.
    let liar = w.client_claiming(Some("sip4.example.com"), "sip2.example.com");
    let mut evil = SarParams::new(T::ReRegistration, AOR);
    evil.server_uri = Some("sip:evil.example.net".into());
    assert_eq!(
        liar.sar(&evil).await.unwrap().result,
        SipResult::InAssignmentType
    );
    assert_eq!(w.registration(), before);

    // A failed authentication through SIP server 4 does not help either.
    let c = challenge(&sip4).await;
    assert_eq!(
        sip4.mar(&with_credentials(answer(&c, "guess")))
            .await
            .unwrap()
            .result,
        SipResult::AuthenticationRejected
    );
    assert_eq!(
        sip4.sar(&evil).await.unwrap().result,
        SipResult::InAssignmentType
    );

    // Past the window (default 600 s), SIP server 2 must authenticate alice again.
    w.clock.advance(Duration::from_secs(601));
    let mut rereg = SarParams::new(T::ReRegistration, AOR);
    rereg.server_uri = Some(SIP2.into());
    assert_eq!(
        sip2.sar(&rereg).await.unwrap().result,
        SipResult::InAssignmentType
    );
    assert_eq!(sip2.mar(&mar()).await.unwrap().result, SipResult::Success);
    assert_eq!(sip2.sar(&rereg).await.unwrap().result, SipResult::Success);
}

#[tokio::test]
async fn deregistration_by_another_sip_server_is_refused() {
    let w = world();
    let sip2 = w.client("sip2.example.com");
    sip2.mar(&mar()).await.unwrap();
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.server_uri = Some(SIP2.into());
    assert_eq!(sip2.sar(&sar).await.unwrap().result, SipResult::Success);
    let before = w.registration();

    let sip4 = w.client("sip4.example.com");
    for kind in [
        T::UserDeregistration,
        T::TimeoutDeregistration,
        T::AdministrativeDeregistration,
        T::DeregistrationTooMuchData,
        T::UserDeregistrationStoreServerName,
        T::TimeoutDeregistrationStoreServerName,
    ] {
        let saa = sip4.sar(&SarParams::new(kind, AOR)).await.unwrap();
        assert_eq!(
            saa.result,
            SipResult::AuthorizationRejected,
            "{kind:?}: DIAMETER_AUTHORIZATION_REJECTED"
        );
        assert_eq!(w.registration(), before, "{kind:?}");
    }
    // No AOR listed means all of alice's: refused the same.
    let mut all = SarParams::new(T::UserDeregistration, AOR);
    all.aors.clear();
    all.user_name = Some(USER.into());
    assert_eq!(
        sip4.sar(&all).await.unwrap().result,
        SipResult::AuthorizationRejected
    );
    // An authentication failure reported elsewhere leaves the registration.
    for kind in [T::AuthenticationFailure, T::AuthenticationTimeout] {
        assert_eq!(
            sip4.sar(&SarParams::new(kind, AOR)).await.unwrap().result,
            SipResult::Success
        );
        assert_eq!(w.registration(), before, "{kind:?}");
    }
    // Services for an unregistered user do not take the registered AOR.
    let mut unreg = SarParams::new(T::UnregisteredUser, AOR);
    unreg.server_uri = Some("sip:sip4.example.com".into());
    assert_eq!(
        sip4.sar(&unreg).await.unwrap().result,
        SipResult::IdentityAlreadyRegistered
    );
    // Nor does sip4 get her profile by naming her server.
    let mut na = SarParams::new(T::NoAssignment, AOR);
    na.server_uri = Some(SIP2.into());
    let saa = sip4.sar(&na).await.unwrap();
    assert_eq!(saa.result, SipResult::AuthorizationRejected);
    assert!(saa.profile.is_empty());
    assert_eq!(w.registration(), before);
    assert_eq!(before.state, RegState::Registered);

    // Her own server deregisters her.
    assert_eq!(
        sip2.sar(&SarParams::new(T::UserDeregistration, AOR))
            .await
            .unwrap()
            .result,
        SipResult::Success
    );
    assert_eq!(w.registration().state, RegState::NotRegistered);
}

#[tokio::test]
async fn unlisted_peer_is_refused_and_learns_nothing() {
    let w = world();
    let evil = w.client("evil.example.net");
    let nobody = "sip:nobody@example.com";
    for aor in [AOR, nobody] {
        let uaa = evil.uar(aor, None).await.unwrap();
        assert_eq!(uaa.result, SipResult::AuthorizationRejected, "UAR {aor}");
        assert!(uaa.server_uri.is_none() && uaa.capabilities.is_none());
        let maa = evil
            .mar(&MarParams {
                aor: aor.into(),
                method: "REGISTER".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(maa.result, SipResult::AuthorizationRejected, "MAR {aor}");
        assert!(maa.raw.sip_auth_data_item.is_empty() && maa.raw.user_name.is_none());
        let saa = evil
            .sar(&SarParams::new(T::UserDeregistration, aor))
            .await
            .unwrap();
        assert_eq!(saa.result, SipResult::AuthorizationRejected, "SAR {aor}");
        let lia = evil.lir(aor).await.unwrap();
        assert_eq!(lia.result, SipResult::AuthorizationRejected, "LIR {aor}");
        let uaa = evil
            .uar_with(aor, None, SipUserAuthorizationType::Deregistration, None)
            .await
            .unwrap();
        assert_eq!(uaa.result, SipResult::AuthorizationRejected);
    }
    // Claiming a listed SIP server's Origin-Host does not help.
    let liar = w.client_claiming(Some("evil.example.net"), "sip2.example.com");
    assert_eq!(
        liar.mar(&mar()).await.unwrap().result,
        SipResult::AuthorizationRejected
    );
    // A request whose peer is unknown is refused too.
    let ghost = w.client_claiming(None, "sip2.example.com");
    assert_eq!(
        ghost.lir(AOR).await.unwrap().result,
        SipResult::AuthorizationRejected
    );
}

/// Over loopback TCP: the AAA server of `sip::start` knows each request's peer from the
/// capabilities exchange. A peer that says it is SIP server 2 in its requests gets nothing
/// that SIP server 2 would get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_follow_the_admitted_peer_over_loopback() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        std::fs::write(
            &users,
            "realm = \"example.com\"\n\n[[user]]\nname = \"alice@example.com\"\npassword = \"secret\"\naors = [\"sip:alice@example.com\"]\n",
        )
        .unwrap();
        let aaa = start({ let mut o = ServeOptions::default(); o.listen = "127.0.0.1:0".parse().unwrap(); o.origin_host = "sip-aaa.example.com".into(); o.origin_realm = "example.com".into(); o.store = format!("sqlite://{}", dir.path().join("sip.db").display()); o.users = Some(users); o.sip_servers = vec![
                SipPeer::new("sip1.example.com"),
                SipPeer::with_credentials("sip2.example.com"),
            ]; o })
        .await
        .unwrap();
        let addr = aaa.local_addrs()[0];
        // Each node's CER names who it is; its requests all claim SIP server 2.
        let node = |host: &'static str| async move {
            let n = Node::builder()
                .origin_host(host)
                .origin_realm("example.com")
                .auth_application(6)
                .peer(PeerConfig::new("sip-aaa.example.com", addr))
                .build()
                .await
                .unwrap();
            assert!(
                n.wait_peer("sip-aaa.example.com", Duration::from_secs(10))
                    .await
            );
            let c = SipClient::new(
                ClientConfig::new("sip2.example.com", "example.com", "example.com"),
                n.clone(),
            );
            (n, c)
        };
        let (n_evil, evil) = node("evil.example.net").await;
        let maa = evil.mar(&mar()).await.unwrap();
        assert_eq!(maa.result, SipResult::AuthorizationRejected, "unlisted");
        assert!(maa.ha1.is_none());

        let (n1, sip1) = node("sip1.example.com").await;
        let maa = sip1.mar(&mar()).await.unwrap();
        assert_eq!(maa.result, SipResult::MultiRoundAuth, "listed, no right");
        assert!(maa.ha1.is_none());
        let mut sar = SarParams::new(T::Registration, AOR);
        sar.server_uri = Some(SIP2.into());
        assert_eq!(sip1.sar(&sar).await.unwrap().result, SipResult::InAssignmentType);
        assert_eq!(
            aaa.server.store().registration(AOR).unwrap().unwrap().state,
            RegState::NotRegistered
        );
        // The response to that challenge, checked by the AAA server: then sip1 registers.
        let c = maa.challenge.unwrap();
        let ok = sip1.mar(&with_credentials(answer(&c, PW))).await.unwrap();
        assert_eq!(ok.result, SipResult::Success);
        assert_eq!(sip1.sar(&sar).await.unwrap().result, SipResult::Success);

        let (n2, sip2) = node("sip2.example.com").await;
        let maa = sip2.mar(&mar()).await.unwrap();
        assert_eq!(maa.result, SipResult::Success, "the right");
        assert!(maa.ha1.is_some());

        for n in [n_evil, n1, n2] {
            n.stop(diameter_core::base::DisconnectCause::Rebooting)
                .await;
        }
        aaa.stop().await;
    })
    .await
    .expect("in time");
}
