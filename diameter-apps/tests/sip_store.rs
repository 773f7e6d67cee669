//! The SIP store on every backend: the same behaviour checks on SQLite (memory and file) and
//! on PostgreSQL (a private cluster from Debian's binaries; skipped when they are absent
//! unless REQUIRE_INTEROP=1), and the PostgreSQL schema migrations.

mod ocs_common;

use diameter_apps::sip::store::{
    open, AccountingInfo, Capabilities, RegState, Registration, SipStore, SipUser, StoreError,
    UserData,
};

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
fn exercise(store: &dyn SipStore) {
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
    // All or nothing: the free AOR of a refused user is not kept either.
    let bob = SipUser::with_password("bob", "example.com", "pw")
        .aor("sip:bob@example.com")
        .aor("sip:al@example.com");
    assert!(matches!(
        store.put_user(&bob),
        Err(StoreError::AorTaken { .. })
    ));
    assert!(store.user("bob").unwrap().is_none());
    assert!(store.user_by_aor("sip:bob@example.com").unwrap().is_none());
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

/// Two nodes provision two users claiming one AOR at the same time, `rounds` times: each
/// time exactly one wins, and the AOR belongs to the winner.
fn claim_race(url: &str, rounds: usize) {
    let (a, b) = (open(url).unwrap(), open(url).unwrap());
    for round in 0..rounds {
        let aor = format!("sip:shared{round}@example.com");
        let users = [format!("x{round}"), format!("y{round}")];
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|sc| {
            let hs: Vec<_> = [&a, &b]
                .into_iter()
                .zip(&users)
                .map(|(store, name)| {
                    let user = SipUser::with_password(name, "example.com", "pw").aor(&aor);
                    sc.spawn(move || store.put_user(&user))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        let lost = 1 - won[0];
        assert!(
            matches!(results[lost], Err(StoreError::AorTaken { .. })),
            "{results:?}"
        );
        let owner = a.user_by_aor(&aor).unwrap().unwrap();
        assert_eq!(owner.name, users[won[0]]);
        assert_eq!(owner.aors, vec![aor.clone()]);
        assert!(a.user(&users[lost]).unwrap().is_none());
    }
}

/// One node re-provisions a user back and forth between two versions while another reads
/// it: every read is one of the two versions, never a mix.
fn torn_read_check(url: &str, rounds: usize) {
    let (w, r) = (open(url).unwrap(), open(url).unwrap());
    let v1 = SipUser::with_password("flip", "example.com", "pw")
        .aor("sip:flip1@example.com")
        .profile("text/plain", "one");
    let mut v2 = SipUser::with_password("flip", "example.com", "pw")
        .aor("sip:flip2@example.com")
        .aor("sip:flip3@example.com")
        .profile("text/plain", "two");
    v2.accounting.accounting_servers = vec!["aaa://two.example.com".into()];
    w.put_user(&v1).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            for i in 0..rounds {
                w.put_user(if i % 2 == 0 { &v2 } else { &v1 }).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
            let u = r.user("flip").unwrap().unwrap();
            assert!(u == v1 || u == v2, "a mixed read: {u:?}");
            reads += 1;
        }
    });
}

#[test]
fn sqlite_memory() {
    exercise(open("sqlite::memory:").unwrap().as_ref());
}

#[test]
fn sqlite_file_created_on_first_start_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aaa.db");
    let url = format!("sqlite://{}", path.display());
    exercise(open(&url).unwrap().as_ref());
    let s = open(&url).unwrap();
    s.put_user(&alice()).unwrap();
    drop(s);
    let s = open(&url).unwrap();
    assert_eq!(s.user("alice@example.com").unwrap(), Some(alice()));
    drop(s);
    claim_race(&url, 20);
    torn_read_check(&url, 100);
}

/// The SIP schema before migrations, as PostgreSQL got it (`BLOB` replaced by `BYTEA`).
const PG_UNVERSIONED_DDL: &str = "
CREATE TABLE sip_users (user_name TEXT PRIMARY KEY, realm TEXT NOT NULL, ha1_md5 TEXT,
    ha1_sha256 TEXT, visited_networks TEXT NOT NULL DEFAULT '', cap_mandatory TEXT NOT NULL DEFAULT '',
    cap_optional TEXT NOT NULL DEFAULT '', cap_servers TEXT NOT NULL DEFAULT '',
    unregistered_services BIGINT NOT NULL DEFAULT 0, acct_servers TEXT NOT NULL DEFAULT '',
    cc_servers TEXT NOT NULL DEFAULT '');
CREATE TABLE sip_user_data (user_name TEXT NOT NULL, position BIGINT NOT NULL,
    data_type TEXT NOT NULL, contents BYTEA NOT NULL, PRIMARY KEY (user_name, position));
CREATE TABLE sip_aors (aor_key TEXT PRIMARY KEY, aor TEXT NOT NULL, user_name TEXT NOT NULL,
    position BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'not_registered', server_uri TEXT,
    pending_server_uri TEXT, diameter_host TEXT, diameter_realm TEXT,
    supported_types TEXT NOT NULL DEFAULT '');
CREATE INDEX sip_aors_user ON sip_aors(user_name);
INSERT INTO sip_users (user_name, realm, ha1_md5) VALUES ('bob', 'example.com', 'abc');
INSERT INTO sip_aors (aor_key, aor, user_name, position, state, server_uri)
    VALUES ('sip:bob@example.com', 'sip:bob@example.com', 'bob', 0, 'registered', 'sip:s1');
";

/// The rows of the SIP migration history: (version, name, applied_on).
fn pg_history(url: &str) -> Vec<(i32, String, String)> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query(
        "SELECT version, name, applied_on FROM sip_schema_history ORDER BY version",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// A new database in the cluster; returns its URL.
fn pg_database(cluster_url: &str, name: &str) -> String {
    let mut c = postgres::Client::connect(cluster_url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    cluster_url.replace("dbname=postgres", &format!("dbname={name}"))
}

/// One private cluster for all the PostgreSQL checks (starting one takes seconds).
#[test]
fn postgres_backend() {
    let Some(pg) = ocs_common::PgCluster::start() else {
        return;
    };

    // The behaviour, on a new database; its history is recorded once.
    let url = pg_database(&pg.url, "sip_new");
    exercise(open(&format!("postgres:{url}")).unwrap().as_ref());
    let history = pg_history(&url);
    assert_eq!(
        history.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![1],
        "{history:?}"
    );
    assert_eq!(history[0].1, "users_aors");
    let s = open(&format!("postgres:{url}")).unwrap();
    assert!(s.user("alice@example.com").unwrap().is_some());
    drop(s);
    assert_eq!(
        pg_history(&url),
        history,
        "a second open changed the history"
    );

    // A database made before migrations keeps its users and registrations.
    let url = pg_database(&pg.url, "sip_old");
    postgres::Client::connect(&url, postgres::NoTls)
        .unwrap()
        .batch_execute(PG_UNVERSIONED_DDL)
        .unwrap();
    let s = open(&format!("postgres:{url}")).unwrap();
    let reg = s.registration("sip:bob@example.com").unwrap().unwrap();
    assert_eq!(
        (reg.state, reg.server_uri.as_deref()),
        (RegState::Registered, Some("sip:s1"))
    );
    assert_eq!(
        s.user("bob").unwrap().unwrap().ha1_md5.as_deref(),
        Some("abc")
    );
    drop(s);
    assert_eq!(pg_history(&url).len(), 1);

    // Nodes starting together: each open migrates or waits, none fails.
    let url = pg_database(&pg.url, "sip_race");
    let opened: Vec<bool> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..4)
            .map(|_| sc.spawn(|| open(&format!("postgres:{url}")).map(|_| ()).is_ok()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(opened, vec![true; 4]);
    assert_eq!(pg_history(&url).len(), 1);

    claim_race(&format!("postgres:{url}"), 50);
    torn_read_check(&format!("postgres:{url}"), 300);
}
