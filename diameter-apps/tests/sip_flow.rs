//! The RFC 4740 registration flow with two SIP servers, end to end through the wire
//! encoding (in-process transport), and the error paths.

use diameter::dict::sip_rfc4740::{
    Maa, Mar, Ppr, Rtr, SipAuthDataItem, SipAuthenticate, SipAuthenticationScheme, SipReasonCode,
    SipServerAssignmentType as T, SipUserAuthorizationType,
};
use diameter_apps::sip::client::{
    answer_ppr, answer_rtr, ClientConfig, Deregistration, MarParams, ProfilePush, SarParams,
    SipClient, SipResult, SipServerEvents,
};
use diameter_apps::sip::digest::{Algorithm, DigestResponse};
use diameter_apps::sip::server::{AuthMode, Local, Server, ServerConfig, SipPeer};
use diameter_apps::sip::store::{open, AccountingInfo, RegState, SipStore, SipUser, UserData};
use diameter_core::{Command, RawMessage};
use std::sync::{Arc, Mutex};

const AOR: &str = "sip:alice@example.com";
const SIP2: &str = "sip:sip2.example.com";

fn store() -> Arc<dyn SipStore> {
    let store = open("sqlite::memory:").unwrap();
    let mut alice = SipUser::with_password("alice@example.com", "example.com", "secret")
        .aor(AOR)
        .aor("sip:+15551234@example.com")
        .profile("application/xml", "<services><voicemail/></services>")
        .profile("text/plain", "voicemail");
    alice.capabilities.mandatory = vec![1];
    alice.capabilities.servers = vec![SIP2.into()];
    alice.accounting.accounting_servers = vec!["aaa://acct.example.com:3868".into()];
    alice.visited_networks = vec!["example.com".into()];
    store.put_user(&alice).unwrap();
    let mut bob = SipUser::with_password("bob@example.com", "example.com", "hunter2")
        .aor("sip:bob@example.com");
    bob.unregistered_services = true;
    store.put_user(&bob).unwrap();
    store
}

/// SIP servers 1 to 4 are listed; server 2 may receive Digest-HA1.
fn server_with(mode: AuthMode, store: Arc<dyn SipStore>) -> Arc<Server> {
    let mut cfg = ServerConfig::new("aaa.example.com", "example.com");
    cfg.auth_mode = mode;
    cfg.peers = vec![
        SipPeer::new("sip1.example.com"),
        SipPeer::with_credentials("sip2.example.com"),
        SipPeer::new("sip3.example.com"),
        SipPeer::new("sip4.example.com"),
    ];
    Arc::new(Server::new(cfg, store))
}

fn client(server: &Arc<Server>, host: &str) -> SipClient<Local> {
    SipClient::new(
        ClientConfig::new(host, "example.com", "example.com"),
        Local::new(server.clone(), host),
    )
}

/// A REGISTER of `user` authenticated through `c`: a MAR for the challenge, and (when the
/// SIP server got no Digest-HA1 to check it itself) a MAR with the user agent's response.
async fn authenticate(c: &SipClient<Local>, aor: &str, user: &str, password: &str) -> SipResult {
    let mut p = MarParams {
        aor: aor.into(),
        method: "REGISTER".into(),
        user_name: Some(user.into()),
        ..Default::default()
    };
    let maa = c.mar(&p).await.unwrap();
    if maa.ha1.is_some() {
        return maa.result;
    }
    let ch = maa.challenge.expect("challenge");
    p.credentials = Some(
        ch.answer(user, password, "REGISTER", "sip:example.com")
            .unwrap(),
    );
    c.mar(&p).await.unwrap().result
}

/// What SIP server 2 does with RTR and PPR: records them.
#[derive(Default)]
struct Sip2Events {
    seen: Mutex<Vec<String>>,
    answer: Mutex<Option<SipResult>>,
}

impl SipServerEvents for Sip2Events {
    fn deregister(&self, r: &Deregistration) -> SipResult {
        self.seen
            .lock()
            .unwrap()
            .push(format!("RTR {:?} {:?} {:?}", r.user_name, r.aors, r.reason));
        SipResult::Success
    }
    fn push_profile(&self, p: &ProfilePush) -> SipResult {
        self.seen
            .lock()
            .unwrap()
            .push(format!("PPR {} {}", p.user_name, p.profile.len()));
        self.answer.lock().unwrap().unwrap_or(SipResult::Success)
    }
}

/// Through the bytes, as a peer would receive it.
fn over_wire<C: Command>(c: &C) -> C {
    let bytes = c.encode(7, 9).freeze();
    let msg = RawMessage::decode(bytes, &Default::default()).unwrap();
    C::decode(&msg).unwrap()
}

fn header_of(r: &DigestResponse) -> String {
    format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}, qop={}, nc={}, cnonce=\"{}\"",
        r.username,
        r.realm,
        r.nonce,
        r.uri,
        r.response,
        r.algorithm.as_deref().unwrap_or("MD5"),
        r.qop.as_deref().unwrap_or(""),
        r.nc.as_deref().unwrap_or(""),
        r.cnonce.as_deref().unwrap_or("")
    )
}

#[tokio::test]
async fn registration_flow_two_sip_servers() {
    let store = store();
    let server = server_with(AuthMode::Delegated, store.clone());
    let sip1 = client(&server, "sip1.example.com");
    let sip2 = client(&server, "sip2.example.com");
    let sip3 = client(&server, "sip3.example.com");

    // 1-3. REGISTER without credentials at SIP server 1: UAR, first registration.
    let uaa = sip1.uar(AOR, None).await.unwrap();
    assert_eq!(uaa.result, SipResult::FirstRegistration);
    assert!(uaa.server_uri.is_none());
    let caps = uaa.capabilities.expect("capabilities");
    assert_eq!(caps.mandatory, vec![1]);
    let chosen = caps.servers[0].clone();
    assert_eq!(chosen, SIP2);

    // 4-6. SIP server 2 gets the REGISTER, asks for authentication material.
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
    let challenge = maa.challenge.clone().expect("challenge");
    assert_eq!(challenge.realm, "example.com");
    assert_eq!(challenge.algorithm, Algorithm::Md5);
    assert_eq!(challenge.qop.as_deref(), Some("auth"));
    assert!(maa.ha1.is_some(), "delegated check carries Digest-HA1");
    // 7-8. 401 with this header.
    let www_authenticate = challenge.header_value();
    assert!(www_authenticate.contains("nonce="));

    // 9. The UA answers the challenge.
    let authorization = header_of(
        &challenge
            .answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );

    // 10-11. SIP server 1 is stateless: UAR again, now with User-Name; learns server 2.
    let creds = DigestResponse::parse_header(&authorization).unwrap();
    let uaa = sip1.uar(AOR, Some(&creds.username)).await.unwrap();
    assert_eq!(uaa.result, SipResult::SubsequentRegistration);
    assert_eq!(uaa.server_uri.as_deref(), Some(SIP2));

    // 12. SIP server 2 checks the response with H(A1) from the MAA.
    assert!(maa.verify(&creds, "REGISTER"));
    let wrong = challenge
        .answer("alice@example.com", "wrong", "REGISTER", "sip:example.com")
        .unwrap();
    assert!(!maa.verify(&wrong, "REGISTER"), "wrong password");

    // 13-14. SAR: server 2 is assigned, the profile comes back.
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.user_name = Some(creds.username.clone());
    sar.server_uri = Some(SIP2.into());
    sar.supported_types = vec!["application/xml".into()];
    let saa = sip2.sar(&sar).await.unwrap();
    assert_eq!(saa.result, SipResult::Success);
    assert_eq!(
        saa.profile,
        vec![UserData {
            data_type: "application/xml".into(),
            contents: b"<services><voicemail/></services>".to_vec()
        }]
    );
    let acct = saa.accounting.expect("accounting");
    assert_eq!(acct.accounting_servers, vec!["aaa://acct.example.com:3868"]);
    let reg = store.registration(AOR).unwrap().unwrap();
    assert_eq!(reg.state, RegState::Registered);
    assert_eq!(reg.diameter_host.as_deref(), Some("sip2.example.com"));
    assert_eq!(reg.pending_server_uri, None);

    // A re-registration at server 1 now gets server 2 directly.
    let uaa = sip1.uar(AOR, Some("alice@example.com")).await.unwrap();
    assert_eq!(
        (uaa.result, uaa.server_uri.as_deref()),
        (SipResult::SubsequentRegistration, Some(SIP2))
    );

    // A third party's LIR finds server 2.
    let lia = sip3.lir(AOR).await.unwrap();
    assert_eq!(lia.result, SipResult::Success);
    assert_eq!(lia.server_uri.as_deref(), Some(SIP2));

    // Operator: new profile and accounting servers, pushed to server 2.
    let events = Sip2Events::default();
    let new_profile = vec![UserData {
        data_type: "application/xml".into(),
        contents: b"<services/>".to_vec(),
    }];
    let new_acct = AccountingInfo {
        accounting_servers: vec!["aaa://acct2.example.com".into()],
        credit_control_servers: vec!["aaa://ocs.example.com".into()],
    };
    let pprs = server
        .push_profile("alice@example.com", &new_profile, &new_acct)
        .unwrap();
    assert_eq!(pprs.len(), 1);
    let ppr: Ppr = over_wire(&pprs[0]);
    assert_eq!(
        ppr.destination_host.as_ref().map(|h| h.as_str()),
        Some("sip2.example.com")
    );
    let push = ProfilePush::from_ppr(&ppr);
    assert_eq!(push.profile, new_profile);
    assert_eq!(push.accounting, Some(new_acct.clone()));
    let ppa = over_wire(&answer_ppr(
        &ppr,
        "sip2.example.com",
        "example.com",
        &events,
    ));
    assert_eq!(ppa.session_id, ppr.session_id);
    assert_eq!(server.on_ppa(&ppr, &ppa).unwrap(), None);

    // A SIP server that cannot take the profile: the Diameter server asks for another one.
    *events.answer.lock().unwrap() = Some(SipResult::TooMuchData);
    let ppr: Ppr = over_wire(&server.build_ppr("alice@example.com").unwrap()[0]);
    let ppa = answer_ppr(&ppr, "sip2.example.com", "example.com", &events);
    let rtr = server
        .on_ppa(&ppr, &ppa)
        .unwrap()
        .expect("RTR after TOO_MUCH_DATA");
    assert_eq!(
        rtr.sip_deregistration_reason.sip_reason_code,
        SipReasonCode::SipServerChange
    );

    // Operator: deregister alice. RTR to server 2, RTA, then nobody serves her.
    let rtrs = server
        .build_rtr(
            "alice@example.com",
            &[],
            SipReasonCode::PermanentTermination,
            Some("account closed"),
        )
        .unwrap();
    assert_eq!(rtrs.len(), 1);
    let rtr: Rtr = over_wire(&rtrs[0]);
    assert_eq!(rtr.destination_host.as_str(), "sip2.example.com");
    assert_eq!(
        rtr.sip_aor.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        vec![AOR],
        "only the registered AOR is listed"
    );
    let rta = over_wire(&answer_rtr(
        &rtr,
        "sip2.example.com",
        "example.com",
        &events,
    ));
    assert_eq!(server.on_rta(&rtr, &rta).unwrap(), 2001);
    let seen = events.seen.lock().unwrap().clone();
    assert_eq!(seen[0], "PPR alice@example.com 1");
    assert!(seen
        .iter()
        .any(|s| s.contains("RTR") && s.contains("PermanentTermination")));
    assert_eq!(
        sip3.lir(AOR).await.unwrap().result,
        SipResult::IdentityNotRegistered
    );
    assert_eq!(
        sip1.uar(AOR, None).await.unwrap().result,
        SipResult::FirstRegistration
    );
}

/// RFC 4740 §6.2: the Diameter server checks the credentials itself.
#[tokio::test]
async fn authentication_in_the_diameter_server() {
    let server = server_with(AuthMode::InServer, store());
    let sip2 = client(&server, "sip2.example.com");
    let mut p = MarParams {
        aor: AOR.into(),
        method: "REGISTER".into(),
        server_uri: Some(SIP2.into()),
        algorithm: Some(Algorithm::Sha256),
        ..Default::default()
    };
    let maa = sip2.mar(&p).await.unwrap();
    assert_eq!(maa.result, SipResult::MultiRoundAuth);
    assert!(maa.ha1.is_none(), "no Digest-HA1 when the server checks");
    let c = maa.challenge.unwrap();
    assert_eq!(c.algorithm, Algorithm::Sha256);

    p.algorithm = None;
    p.user_name = Some("alice@example.com".into());
    p.credentials = Some(
        c.answer("alice@example.com", "wrong", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    let maa = sip2.mar(&p).await.unwrap();
    assert_eq!(
        maa.result,
        SipResult::AuthenticationRejected,
        "wrong password"
    );

    // The wrong attempt spent the nonce: a right response to it gets a new challenge.
    p.credentials = Some(
        c.answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    let maa = sip2.mar(&p).await.unwrap();
    assert_eq!(maa.result, SipResult::MultiRoundAuth);
    let c = maa.challenge.unwrap();
    assert!(c.stale);
    p.credentials = Some(
        c.answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    let maa = sip2.mar(&p).await.unwrap();
    assert_eq!(maa.result, SipResult::Success);
    assert!(
        maa.response_auth.is_some(),
        "rspauth for Authentication-Info"
    );

    // The nonce is spent: the same response again gets a new challenge (stale).
    let again = sip2.mar(&p).await.unwrap();
    assert_eq!(again.result, SipResult::MultiRoundAuth);
    let c = again.challenge.unwrap();
    assert!(c.stale, "a right response to a used nonce: stale=true");

    // Without SIP-Server-URI the name is not stored.
    p.server_uri = None;
    p.credentials = Some(
        c.answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    assert_eq!(
        sip2.mar(&p).await.unwrap().result,
        SipResult::SuccessServerNameNotStored
    );

    // A nonce this server never issued.
    let mut forged = c.clone();
    forged.nonce = "00".repeat(24);
    p.credentials = Some(
        forged
            .answer("alice@example.com", "secret", "REGISTER", "sip:example.com")
            .unwrap(),
    );
    assert_eq!(
        sip2.mar(&p).await.unwrap().result,
        SipResult::AuthenticationRejected
    );
}

#[tokio::test]
async fn error_unknown_user() {
    let server = server_with(AuthMode::Delegated, store());
    let c = client(&server, "sip1.example.com");
    let nobody = "sip:nobody@example.com";
    assert_eq!(
        c.uar(nobody, None).await.unwrap().result,
        SipResult::UserUnknown
    );
    assert_eq!(
        c.uar(AOR, Some("nobody")).await.unwrap().result,
        SipResult::UserUnknown
    );
    let mar = MarParams {
        aor: nobody.into(),
        method: "REGISTER".into(),
        ..Default::default()
    };
    assert_eq!(c.mar(&mar).await.unwrap().result, SipResult::UserUnknown);
    assert_eq!(
        c.sar(&SarParams::new(T::Registration, nobody))
            .await
            .unwrap()
            .result,
        SipResult::UserUnknown
    );
    assert_eq!(c.lir(nobody).await.unwrap().result, SipResult::UserUnknown);
}

#[tokio::test]
async fn error_wrong_password_delegated() {
    let server = server_with(AuthMode::Delegated, store());
    let c = client(&server, "sip2.example.com");
    let maa = c
        .mar(&MarParams {
            aor: AOR.into(),
            method: "REGISTER".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(maa.result, SipResult::SuccessAuthSentServerNotStored);
    let ch = maa.challenge.clone().unwrap();
    let bad = ch
        .answer("alice@example.com", "Secret", "REGISTER", AOR)
        .unwrap();
    assert!(!maa.verify(&bad, "REGISTER"));
    // The SIP server reports the failure; the AOR stays unregistered.
    let saa = c
        .sar(&SarParams::new(T::AuthenticationFailure, AOR))
        .await
        .unwrap();
    assert_eq!(saa.result, SipResult::Success);
    assert_eq!(
        c.lir(AOR).await.unwrap().result,
        SipResult::IdentityNotRegistered
    );
}

#[tokio::test]
async fn error_identities_dont_match() {
    let server = server_with(AuthMode::Delegated, store());
    let c = client(&server, "sip1.example.com");
    let bob = Some("bob@example.com");
    assert_eq!(
        c.uar(AOR, bob).await.unwrap().result,
        SipResult::IdentitiesDontMatch
    );
    let mut mar = MarParams {
        aor: AOR.into(),
        method: "REGISTER".into(),
        user_name: bob.map(Into::into),
        ..Default::default()
    };
    assert_eq!(
        c.mar(&mar).await.unwrap().result,
        SipResult::IdentitiesDontMatch
    );
    // For other methods the AOR is the target, not the caller: allowed (a challenge; this
    // SIP server has no right to Digest-HA1).
    mar.method = "INVITE".into();
    assert_eq!(c.mar(&mar).await.unwrap().result, SipResult::MultiRoundAuth);
    let mut sar = SarParams::new(T::Registration, AOR);
    sar.user_name = bob.map(Into::into);
    assert_eq!(
        c.sar(&sar).await.unwrap().result,
        SipResult::IdentitiesDontMatch
    );
}

#[tokio::test]
#[allow(clippy::useless_conversion)] // generated members may be boxed
async fn error_unsupported_auth_scheme() {
    let server = server_with(AuthMode::Delegated, store());
    let c = client(&server, "sip2.example.com");
    let base = |item: SipAuthDataItem| Mar {
        session_id: "sip2.example.com;1;1".into(),
        auth_application_id: 6,
        origin_host: "sip2.example.com".into(),
        origin_realm: "example.com".into(),
        destination_realm: "example.com".into(),
        sip_aor: AOR.into(),
        sip_method: "REGISTER".into(),
        sip_auth_data_item: Some(item.into()),
        ..Default::default()
    };
    // Digest AKA is a Digest derivative we do not implement.
    let aka = base(SipAuthDataItem {
        sip_authentication_scheme: SipAuthenticationScheme::Digest,
        sip_authenticate: Some(
            SipAuthenticate {
                digest_algorithm: Some("AKAv1-MD5".into()),
                ..Default::default()
            }
            .into(),
        ),
        ..Default::default()
    });
    let maa: Maa = c.call(&aka).await.unwrap();
    assert_eq!(
        SipResult::from(maa.result_code),
        SipResult::AuthSchemeNotSupported
    );
    // A scheme that is not Digest at all.
    let other = base(SipAuthDataItem {
        sip_authentication_scheme: SipAuthenticationScheme::Unrecognized(7),
        ..Default::default()
    });
    let maa: Maa = c.call(&other).await.unwrap();
    assert_eq!(maa.result_code, 5037);
}

#[tokio::test]
async fn roaming_and_authorization_types() {
    let server = server_with(AuthMode::Delegated, store());
    let c = client(&server, "sip1.example.com");
    let roam = c
        .uar_with(
            AOR,
            None,
            SipUserAuthorizationType::Registration,
            Some("visited.example.net"),
        )
        .await
        .unwrap();
    assert_eq!(roam.result, SipResult::RoamingNotAllowed);
    let home = c
        .uar_with(
            AOR,
            None,
            SipUserAuthorizationType::RegistrationAndCapabilities,
            Some("example.com"),
        )
        .await
        .unwrap();
    assert_eq!(home.result, SipResult::Success);
    assert!(home.server_uri.is_none() && home.capabilities.is_some());
    let dereg = c
        .uar_with(AOR, None, SipUserAuthorizationType::Deregistration, None)
        .await
        .unwrap();
    assert_eq!(dereg.result, SipResult::IdentityNotRegistered);
}

#[tokio::test]
async fn server_assignment_types() {
    let store = store();
    let server = server_with(AuthMode::Delegated, store.clone());
    let s2 = client(&server, "sip2.example.com");
    let s4 = client(&server, "sip4.example.com");
    let reg = |kind, uri: &str| {
        let mut p = SarParams::new(kind, AOR);
        p.server_uri = Some(uri.into());
        p
    };
    // Alice authenticates through server 2 (Digest-HA1) and server 4 (checked here).
    let (user, pw) = ("alice@example.com", "secret");
    assert_eq!(
        authenticate(&s2, AOR, user, pw).await,
        SipResult::SuccessAuthSentServerNotStored
    );
    assert_eq!(
        authenticate(&s4, AOR, user, pw).await,
        SipResult::SuccessServerNameNotStored
    );
    assert_eq!(
        s2.sar(&reg(T::Registration, SIP2)).await.unwrap().result,
        SipResult::Success
    );
    // Another server may not take over without a MAR naming it.
    assert_eq!(
        s4.sar(&reg(T::Registration, "sip:sip4.example.com"))
            .await
            .unwrap()
            .result,
        SipResult::IdentityAlreadyRegistered
    );
    let rr = s2.sar(&reg(T::ReRegistration, SIP2)).await.unwrap();
    assert_eq!(rr.result, SipResult::Success);
    assert_eq!(rr.profile.len(), 2, "no supported types named: every type");
    let mut no_types = reg(T::NoAssignment, SIP2);
    no_types.supported_types = vec!["application/json".into()];
    let na = s2.sar(&no_types).await.unwrap();
    assert_eq!(na.result, SipResult::Success);
    assert!(na.profile.is_empty());
    assert_eq!(na.raw.sip_supported_user_data_type.len(), 2);
    assert_eq!(
        s4.sar(&reg(T::NoAssignment, "sip:sip4.example.com"))
            .await
            .unwrap()
            .result,
        SipResult::UnableToComply
    );
    let mut two = reg(T::Registration, SIP2);
    two.aors.push("sip:+15551234@example.com".into());
    assert_eq!(s2.sar(&two).await.unwrap().result, SipResult::Other(5009));

    // Deregistration that keeps the server name: UAR then offers server selection.
    let keep = s2
        .sar(&reg(T::UserDeregistrationStoreServerName, SIP2))
        .await
        .unwrap();
    assert_eq!(keep.result, SipResult::Success);
    let uaa = s2.uar(AOR, None).await.unwrap();
    assert_eq!(uaa.result, SipResult::ServerSelection);
    assert_eq!(uaa.server_uri.as_deref(), Some(SIP2));

    // Timeout deregistration of every AOR (none listed) clears it.
    let mut all = reg(T::TimeoutDeregistration, SIP2);
    all.aors.clear();
    all.user_name = Some("alice@example.com".into());
    assert_eq!(s2.sar(&all).await.unwrap().result, SipResult::Success);
    assert_eq!(
        s2.uar(AOR, None).await.unwrap().result,
        SipResult::FirstRegistration
    );

    // Unregistered user: a server for services while not registered.
    let bob = "sip:bob@example.com";
    assert_eq!(
        s2.lir(bob).await.unwrap().result,
        SipResult::UnregisteredService
    );
    let mut unreg = SarParams::new(T::UnregisteredUser, bob);
    unreg.server_uri = Some(SIP2.into());
    assert_eq!(s2.sar(&unreg).await.unwrap().result, SipResult::Success);
    let lia = s2.lir(bob).await.unwrap();
    assert_eq!(
        (lia.result, lia.server_uri.as_deref()),
        (SipResult::Success, Some(SIP2))
    );
    assert_eq!(
        store.registration(bob).unwrap().unwrap().state,
        RegState::Unregistered
    );
    for kind in [
        T::AdministrativeDeregistration,
        T::DeregistrationTooMuchData,
        T::TimeoutDeregistrationStoreServerName,
        T::AuthenticationTimeout,
    ] {
        assert_eq!(
            s2.sar(&SarParams::new(kind, bob)).await.unwrap().result,
            SipResult::Success,
            "{kind:?}"
        );
    }
}
