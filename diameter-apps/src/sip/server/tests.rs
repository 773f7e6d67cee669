use super::*;
use crate::sip::store::{open, RegState, Registration};
use diameter::dict::sip_rfc4740::{result_code as rc, SipUserAuthorizationType, Uar};

fn server() -> Server {
    let store = open("sqlite::memory:").unwrap();
    let mut u = SipUser::with_password("alice", "example.com", "pw")
        .aor("sip:alice@example.com")
        .aor("sip:alice2@example.com");
    u.visited_networks = vec!["home.example.com".into()];
    store.put_user(&u).unwrap();
    Server::new(ServerConfig::new("aaa.example.com", "example.com"), store)
}

fn from() -> Caller {
    Caller::new("sip1.example.com")
}

fn uar(aor: &str) -> Uar {
    Uar {
        session_id: "s;1;2".into(),
        sip_aor: aor.into(),
        ..Default::default()
    }
}

fn set(s: &Server, aor: &str, state: RegState, server: Option<&str>, pending: Option<&str>) {
    let mut r: Registration = s.store().registration(aor).unwrap().unwrap();
    r.state = state;
    r.server_uri = server.map(Into::into);
    r.pending_server_uri = pending.map(Into::into);
    s.store().set_registration(&r).unwrap();
}

#[test]
fn uar_codes_follow_the_assignment() {
    let s = server();
    let a = s.handle_uar(&from(), &uar("sip:alice@example.com"));
    assert_eq!(a.result_code, rc::DIAMETER_FIRST_REGISTRATION);
    assert!(a.sip_server_capabilities.is_some() && a.sip_server_uri.is_none());
    assert_eq!(a.session_id, "s;1;2");

    // Kept only by name: server selection, URI and capabilities.
    set(
        &s,
        "sip:alice2@example.com",
        RegState::NotRegistered,
        Some("sip:s1"),
        None,
    );
    let a = s.handle_uar(&from(), &uar("sip:alice@example.com"));
    assert_eq!(a.result_code, rc::DIAMETER_SERVER_SELECTION);
    assert_eq!(a.sip_server_uri.as_deref(), Some("sip:s1"));
    assert!(a.sip_server_capabilities.is_some());

    // Registered (another AOR of the same user): subsequent registration.
    set(
        &s,
        "sip:alice2@example.com",
        RegState::Registered,
        Some("sip:s1"),
        None,
    );
    let a = s.handle_uar(&from(), &uar("sip:alice@example.com"));
    assert_eq!(a.result_code, rc::DIAMETER_SUBSEQUENT_REGISTRATION);
    assert!(a.sip_server_capabilities.is_none());

    // Pending from a MAR wins for the AOR itself.
    set(
        &s,
        "sip:alice@example.com",
        RegState::NotRegistered,
        None,
        Some("sip:s2"),
    );
    let a = s.handle_uar(&from(), &uar("sip:alice@example.com"));
    assert_eq!(a.sip_server_uri.as_deref(), Some("sip:s2"));

    let mut r = uar("sip:alice@example.com");
    r.sip_user_authorization_type = Some(SipUserAuthorizationType::RegistrationAndCapabilities);
    let a = s.handle_uar(&from(), &r);
    assert_eq!(a.result_code, base::DIAMETER_SUCCESS);
    assert!(a.sip_server_uri.is_none() && a.sip_server_capabilities.is_some());

    r.sip_user_authorization_type = Some(SipUserAuthorizationType::Deregistration);
    assert_eq!(
        s.handle_uar(&from(), &r).result_code,
        rc::DIAMETER_ERROR_IDENTITY_NOT_REGISTERED
    );
    r.sip_aor = "sip:alice2@example.com".into();
    let a = s.handle_uar(&from(), &r);
    assert_eq!(
        (a.result_code, a.sip_server_uri.as_deref()),
        (base::DIAMETER_SUCCESS, Some("sip:s1"))
    );

    r.sip_user_authorization_type = Some(SipUserAuthorizationType::Unrecognized(9));
    assert_eq!(
        s.handle_uar(&from(), &r).result_code,
        base::DIAMETER_INVALID_AVP_VALUE
    );
}

use diameter::dict::base_rfc6733::result_code as base;

#[test]
fn uar_errors() {
    let s = server();
    assert_eq!(
        s.handle_uar(&from(), &uar("sip:bob@example.com"))
            .result_code,
        rc::DIAMETER_ERROR_USER_UNKNOWN
    );
    let mut r = uar("sip:bob@example.com");
    r.user_name = Some("alice".into());
    assert_eq!(
        s.handle_uar(&from(), &r).result_code,
        rc::DIAMETER_ERROR_IDENTITIES_DONT_MATCH
    );
    r.user_name = Some("mallory".into());
    assert_eq!(
        s.handle_uar(&from(), &r).result_code,
        rc::DIAMETER_ERROR_USER_UNKNOWN
    );
    let mut r = uar("sip:alice@example.com");
    r.sip_visited_network_id = Some("roam.example.net".into());
    assert_eq!(
        s.handle_uar(&from(), &r).result_code,
        rc::DIAMETER_ERROR_ROAMING_NOT_ALLOWED
    );
    r.sip_visited_network_id = Some("HOME.example.com".into());
    assert_eq!(
        s.handle_uar(&from(), &r).result_code,
        rc::DIAMETER_FIRST_REGISTRATION
    );

    let mut cfg = ServerConfig::new("aaa.example.com", "example.com");
    cfg.require_user_name = true;
    let s = Server::new(cfg, s.store().clone());
    assert_eq!(
        s.handle_uar(&from(), &uar("sip:alice@example.com"))
            .result_code,
        rc::DIAMETER_USER_NAME_REQUIRED
    );
}
