use super::*;

fn alice() -> SipUser {
    let mut u = SipUser::with_password("alice@example.com", "example.com", "secret")
        .aor("sip:alice@example.com")
        .aor("tel:+15551234")
        .profile("application/xml", "<p/>");
    u.visited_networks = vec!["visited.example.net".into()];
    u.capabilities = Capabilities {
        mandatory: vec![1, 2],
        optional: vec![3],
        servers: vec!["sip:scscf1.example.com".into()],
    };
    u.accounting.accounting_servers = vec!["aaa://acct.example.com".into()];
    u.unregistered_services = true;
    u
}

/// The same checks for every backend.
pub(crate) fn exercise(store: &dyn SipStore) {
    let a = alice();
    store.put_user(&a).unwrap();
    assert_eq!(store.user("alice@example.com").unwrap().as_ref(), Some(&a));
    assert_eq!(
        store.user_by_aor("SIP:alice@EXAMPLE.com").unwrap().as_ref(),
        Some(&a)
    );
    assert!(store
        .user_by_aor("sip:Alice@example.com")
        .unwrap()
        .is_none());
    assert!(store.user("nobody").unwrap().is_none());

    let mut reg = store
        .registration("sip:alice@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(reg.state, RegState::NotRegistered);
    assert_eq!(reg.user_name, "alice@example.com");
    reg.state = RegState::Registered;
    reg.server_uri = Some("sip:scscf1.example.com".into());
    reg.diameter_host = Some("scscf1.example.com".into());
    reg.supported_types = vec!["application/xml".into()];
    store.set_registration(&reg).unwrap();
    assert_eq!(
        store.registration("sip:alice@example.com").unwrap(),
        Some(reg.clone())
    );

    // Re-provisioning keeps the registration of kept AORs and drops lost ones.
    let mut a2 = a.clone();
    a2.aors = vec!["sip:alice@example.com".into(), "sip:al@example.com".into()];
    a2.profile.clear();
    store.put_user(&a2).unwrap();
    assert_eq!(
        store.registration("sip:alice@example.com").unwrap(),
        Some(reg)
    );
    assert!(store.registration("tel:+15551234").unwrap().is_none());
    assert_eq!(
        store.registrations_of("alice@example.com").unwrap().len(),
        2
    );
    assert_eq!(store.user("alice@example.com").unwrap(), Some(a2.clone()));

    // An AOR belongs to one user.
    let bob = SipUser::with_password("bob", "example.com", "pw").aor("sip:al@example.com");
    assert!(matches!(
        store.put_user(&bob),
        Err(StoreError::AorTaken { .. })
    ));
    let bob = SipUser::with_password("bob", "example.com", "pw").aor("sip:bob@example.com");
    store.put_user(&bob).unwrap();
    assert_eq!(
        store.user_names().unwrap(),
        vec!["alice@example.com", "bob"]
    );

    let acct = AccountingInfo {
        accounting_servers: vec![],
        credit_control_servers: vec!["aaa://ocs.example.com".into()],
    };
    let prof = vec![UserData {
        data_type: "text/plain".into(),
        contents: vec![0, 1, 2],
    }];
    store.update_profile("bob", &prof, &acct).unwrap();
    let b = store.user("bob").unwrap().unwrap();
    assert_eq!((b.profile, b.accounting), (prof.clone(), acct.clone()));
    assert!(matches!(
        store.update_profile("carol", &prof, &acct),
        Err(StoreError::NoSuchUser(_))
    ));
    assert!(matches!(
        store.set_registration(&Registration {
            aor: "sip:x@y".into(),
            ..Default::default()
        }),
        Err(StoreError::NoSuchAor(_))
    ));

    assert!(store.remove_user("bob").unwrap());
    assert!(!store.remove_user("bob").unwrap());
    assert!(store.registration("sip:bob@example.com").unwrap().is_none());
}

#[test]
fn sqlite_memory() {
    exercise(open("sqlite::memory:").unwrap().as_ref());
}

#[test]
fn sqlite_file_created_on_first_start_and_reopened() {
    let dir = std::env::temp_dir().join(format!("sip-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("aaa.db");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}", path.display());
    {
        let s = open(&url).unwrap();
        s.put_user(&alice()).unwrap();
    }
    assert!(path.exists());
    let s = open(&url).unwrap();
    assert_eq!(s.user("alice@example.com").unwrap(), Some(alice()));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs against PostgreSQL when `DIAMETER_TEST_PG_URL` is set (the test creates its own tables).
#[test]
fn postgres_when_configured() {
    let Ok(url) = std::env::var("DIAMETER_TEST_PG_URL") else {
        return;
    };
    let s = open(&url).unwrap();
    for n in s.user_names().unwrap() {
        s.remove_user(&n).unwrap();
    }
    exercise(s.as_ref());
}

#[test]
fn users_file() {
    let text = r#"
realm = "example.com"

[[user]]
name = "alice@example.com"
password = "secret"
aors = ["sip:alice@example.com", "tel:+15551234"]
visited_networks = ["visited.example.net"]
unregistered_services = true
accounting_servers = ["aaa://acct.example.com"]
capabilities = { mandatory = [1, 2], optional = [3], servers = ["sip:scscf1.example.com"] }

[[user.profile]]
type = "application/xml"
contents = "<p/>"

[[user]]
name = "bob"
realm = "other.example.com"
ha1_md5 = "4DDB5E1C0F3AC0AE8ED7C4FC1A3F03C2"
aors = ["sip:bob@example.com"]
"#;
    let f = parse_users(text).unwrap();
    let users = f.to_users().unwrap();
    assert_eq!(users[0], alice());
    assert_eq!(users[1].realm, "other.example.com");
    assert_eq!(
        users[1].ha1_md5.as_deref(),
        Some("4ddb5e1c0f3ac0ae8ed7c4fc1a3f03c2")
    );
    assert_eq!(users[1].ha1_sha256, None);
    let store = open("sqlite::memory:").unwrap();
    assert_eq!(load_users(store.as_ref(), &f).unwrap(), 2);
    assert_eq!(load_users(store.as_ref(), &f).unwrap(), 2);
    assert_eq!(store.user_names().unwrap().len(), 2);

    for bad in [
        "[[user]]\nname = \"a\"\npassword = \"p\"\naors = [\"sip:a@x\"]\n",
        "realm = \"x\"\n[[user]]\nname = \"a\"\naors = [\"sip:a@x\"]\n",
        "realm = \"x\"\n[[user]]\nname = \"a\"\npassword = \"p\"\n",
        "realm = \"x\"\n[[user]]\nname = \"a\"\nha1_md5 = \"zz\"\naors = [\"sip:a@x\"]\n",
        "realm = \"x\"\n[[user]]\nname = \"a\"\npassword = \"p\"\naors = [\"sip:a@x\"]\n[[user]]\nname = \"b\"\npassword = \"p\"\naors = [\"SIP:a@X\"]\n",
        "realm = \"x\"\nbogus = 1\n",
    ] {
        let r = parse_users(bad).and_then(|f| f.to_users());
        assert!(r.is_err(), "accepted: {bad}");
    }
}

/// The example in the users file documentation parses and loads.
#[test]
fn documented_users_file_example() {
    let src = include_str!("users_file.rs");
    let doc: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = doc.iter().position(|l| *l == "```toml").unwrap() + 1;
    let len = doc[start..].iter().position(|l| *l == "```").unwrap();
    let text = doc[start..start + len].join("\n");
    let users = parse_users(&text).unwrap().to_users().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].profile.len(), 1);
    assert_eq!(users[1].realm, "other.example.com");
}
