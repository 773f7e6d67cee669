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

#[test]
fn a_panic_inside_an_operation_leaves_the_connection_usable() {
    use super::rules::Backend;
    let store = SqliteSipStore::in_memory().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.with(|r| -> Result<(), StoreError> {
            r.begin()?;
            r.upsert_user(&alice())?;
            panic!("inside a transaction");
        });
    }));
    assert!(r.is_err());
    // The half-done write was rolled back and new transactions can begin.
    assert!(store.user("alice@example.com").unwrap().is_none());
    store.put_user(&alice()).unwrap();
    assert!(store.user("alice@example.com").unwrap().is_some());
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

#[test]
fn an_aor_of_another_user_is_not_overwritten_by_the_write_itself() {
    use super::rules::{Backend, Records};
    let store = SqliteSipStore::in_memory().unwrap();
    store.put_user(&alice()).unwrap();
    let key = normalize_aor("sip:alice@example.com");
    let wrote = store
        .with(|r: &mut dyn Records| r.upsert_aor(&key, "sip:alice@example.com", "mallory", 0))
        .unwrap();
    assert!(!wrote);
    let reg = store
        .registration("sip:alice@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(reg.user_name, "alice@example.com");
}
