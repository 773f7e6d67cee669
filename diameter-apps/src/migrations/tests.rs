use super::*;
use crate::ocs::store::{IdKind, NewAccount, SqliteStore, Store, SubscriberId};
use crate::sip::store as sip;

/// The OCS schema of the first release (no `peer`, no `debits`, the old expiry index).
const OCS_FIRST_DDL: &str = "
CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL DEFAULT '',
    currency INTEGER NOT NULL, balance BIGINT NOT NULL, reserved BIGINT NOT NULL DEFAULT 0,
    CHECK (reserved >= 0 AND balance >= reserved));
CREATE TABLE subscription_ids (id_type INTEGER NOT NULL, id_data TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id), PRIMARY KEY (id_type, id_data));
CREATE INDEX subscription_ids_account ON subscription_ids(account_id);
CREATE TABLE sessions (session_id TEXT PRIMARY KEY, account_id BIGINT NOT NULL REFERENCES accounts(id),
    expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE TABLE reservations (session_id TEXT NOT NULL, rating_group BIGINT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id), amount BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (session_id, rating_group));
CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id BIGINT NOT NULL REFERENCES accounts(id),
    session_id TEXT, rating_group BIGINT, kind TEXT NOT NULL, amount BIGINT NOT NULL,
    request_key TEXT, at BIGINT NOT NULL);
CREATE INDEX ledger_account ON ledger(account_id);
CREATE TABLE requests (request_key TEXT PRIMARY KEY, account_id BIGINT NOT NULL,
    outcome TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX requests_at ON requests(at);
";

/// What the last version before migrations added on top of [`OCS_FIRST_DDL`].
const OCS_LAST_UNVERSIONED_DDL: &str = "
ALTER TABLE sessions ADD COLUMN peer TEXT;
CREATE TABLE debits (reference TEXT PRIMARY KEY, account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount BIGINT NOT NULL CHECK (amount > 0), refunded BIGINT NOT NULL DEFAULT 0,
    at BIGINT NOT NULL, CHECK (refunded >= 0 AND refunded <= amount));
DROP INDEX sessions_expiry;
CREATE INDEX sessions_deadline ON sessions(expires_at, session_id);
";

/// One account (balance 500, MSISDN 4670) with an open session `s1` and a ledger line.
const OCS_ROWS: &str = "
INSERT INTO accounts (id, name, currency, balance, reserved) VALUES (7, 'alice', 978, 500, 100);
INSERT INTO subscription_ids VALUES (0, '4670', 7);
INSERT INTO sessions (session_id, account_id, expires_at, created_at) VALUES ('s1', 7, 10, 1);
INSERT INTO reservations VALUES ('s1', 1, 7, 100);
INSERT INTO ledger (account_id, kind, amount, at) VALUES (7, 'adjust', 500, 1);
INSERT INTO requests (request_key, account_id, outcome, at) VALUES ('s1;1;0', 7, '0;100;0', 1);
";

fn temp_db(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

fn history(conn: &Connection, table: &str) -> Vec<(u32, String, String)> {
    conn.prepare(&format!(
        "SELECT version, name, applied_on FROM {table} ORDER BY version"
    ))
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn has(conn: &Connection, kind: &str, name: &str) -> bool {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
        [kind, name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

fn assert_ocs_latest(conn: &Connection) {
    assert!(sqlite_has_column(conn, "sessions", "peer").unwrap());
    assert!(has(conn, "table", "debits"));
    assert!(has(conn, "index", "sessions_deadline"));
    assert!(!has(conn, "index", "sessions_expiry"));
    assert!(has(conn, "index", "ledger_account"));
    let ledger: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!ledger.contains("AUTOINCREMENT"), "{ledger}");
    // Saved outcomes: an integer index on the key's hash, no unique index on its text.
    assert!(has(conn, "index", "requests_key_hash"));
    assert!(!has(conn, "index", "sqlite_autoindex_requests_1"));
    let versions: Vec<u32> = history(conn, OCS_SQLITE.history)
        .into_iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(versions, (1..=OCS_SQLITE.latest()).collect::<Vec<_>>());
}

fn msisdn(data: &str) -> SubscriberId {
    SubscriberId {
        kind: IdKind::E164,
        data: data.into(),
    }
}

#[test]
fn new_ocs_database_records_its_history_and_a_second_open_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "ocs.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .add_account(&NewAccount {
            name: "a".into(),
            currency: 978,
            balance: 10,
            ids: vec![msisdn("1")],
        })
        .unwrap();
    drop(store);
    let mut conn = Connection::open(&path).unwrap();
    assert_ocs_latest(&conn);
    let before = history(&conn, OCS_SQLITE.history);
    assert_eq!(before[0].1, "accounts_sessions_ledger");

    assert_eq!(
        sqlite(&mut conn, &OCS_SQLITE, ocs_baseline).unwrap(),
        Vec::<u32>::new()
    );
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.find_account(&msisdn("1")).unwrap().unwrap().balance,
        10
    );
    assert_eq!(history(&conn, OCS_SQLITE.history), before);
}

#[test]
fn ocs_database_of_the_first_schema_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "ocs.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.execute_batch(OCS_FIRST_DDL).unwrap();
    conn.execute_batch(OCS_ROWS).unwrap();

    // V1 is recorded as there already; the later ones run.
    assert_eq!(
        sqlite(&mut conn, &OCS_SQLITE, ocs_baseline).unwrap(),
        (2..=OCS_SQLITE.latest()).collect::<Vec<_>>()
    );
    assert_ocs_latest(&conn);
    // The ledger kept its line and id; a new line's id comes after it.
    conn.execute(
        "INSERT INTO ledger (account_id, kind, amount, at) VALUES (7, 'adjust', 1, 2)",
        [],
    )
    .unwrap();
    let ids: Vec<(i64, i64)> = conn
        .prepare("SELECT id, amount FROM ledger ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, [(1, 500), (2, 1)]);
    conn.execute("DELETE FROM ledger WHERE id = 2", []).unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    let a = store.find_account(&msisdn("4670")).unwrap().unwrap();
    assert_eq!((a.id, a.balance, a.reserved), (7, 500, 100));
    assert_eq!(store.session_account("s1").unwrap(), Some(7));
    assert_eq!(store.ledger_totals(7).unwrap().adjustments, 500);
    // The saved outcome written before version 6 is found by its key's hash.
    assert_eq!(store.request_account("s1;1;0").unwrap(), Some(7));
    assert_eq!(store.request_account("s1;1;1").unwrap(), None);
    drop(store);
    // The embedded store adds the lines from before version 7 to the account row's sums
    // once, and reads them from there.
    let engine = crate::ocs::store::Engine::open(&path, Default::default()).unwrap();
    assert_eq!(engine.ledger_totals(7).unwrap().adjustments, 500);
    drop(engine);
    let conn = Connection::open(&path).unwrap();
    let (adjusted, last): (i64, i64) = conn
        .query_row(
            "SELECT adjusted, (SELECT last_line FROM ledger_folded) FROM accounts WHERE id = 7",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((adjusted, last), (500, 1));
}

#[test]
fn ocs_database_made_just_before_migrations_is_adopted_without_rerunning_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "ocs.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(OCS_FIRST_DDL).unwrap();
    conn.execute_batch(OCS_LAST_UNVERSIONED_DDL).unwrap();
    conn.execute_batch(OCS_ROWS).unwrap();
    conn.execute_batch("UPDATE sessions SET peer = 'pgw.example.net'")
        .unwrap();
    drop(conn);

    // Through the store's own open: `ALTER TABLE … ADD COLUMN peer` would fail if it ran.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.session_account("s1").unwrap(), Some(7));
    drop(store);
    let conn = Connection::open(&path).unwrap();
    assert_ocs_latest(&conn);
    let peer: String = conn
        .query_row(
            "SELECT peer FROM sessions WHERE session_id = 's1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(peer, "pgw.example.net");
}

#[test]
fn in_memory_ocs_store_is_migrated_too() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .add_account(&NewAccount {
            name: "a".into(),
            currency: 978,
            balance: 1,
            ids: vec![msisdn("2")],
        })
        .unwrap();
}

#[test]
fn database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "ocs.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        &format!(
            "INSERT INTO {} (version, name, applied_on, checksum)
             SELECT 999, 'from_the_future', applied_on, '1' FROM {0} WHERE version = 1",
            OCS_SQLITE.history
        ),
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStore::open(&path)
        .err()
        .expect("a newer database opened");
    assert!(e.to_string().contains("schema migration"), "{e}");
}

#[test]
fn database_whose_applied_migration_was_edited_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "ocs.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute(
            &format!(
                "UPDATE {} SET checksum = '1' WHERE version = 2",
                OCS_SQLITE.history
            ),
            [],
        )
        .unwrap();
    let e = SqliteStore::open(&path)
        .err()
        .expect("an edited history opened");
    assert!(e.to_string().contains("is different than"), "{e}");
}

#[test]
fn sip_and_ocs_share_one_file_with_separate_histories() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "shared.db");
    drop(SqliteStore::open(&path).unwrap());
    let s = sip::open(&format!("sqlite://{path}")).unwrap();
    s.put_user(&sip::SipUser::with_password("a", "r", "p").aor("sip:a@r"))
        .unwrap();
    drop(s);
    let conn = Connection::open(&path).unwrap();
    assert_ocs_latest(&conn);
    let sip_versions: Vec<u32> = history(&conn, SIP_SQLITE.history)
        .into_iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(sip_versions, (1..=SIP_SQLITE.latest()).collect::<Vec<_>>());
}

/// The SIP schema before migrations (the one the first release created).
const SIP_UNVERSIONED_DDL: &str = "
CREATE TABLE sip_users (user_name TEXT PRIMARY KEY, realm TEXT NOT NULL, ha1_md5 TEXT,
    ha1_sha256 TEXT, visited_networks TEXT NOT NULL DEFAULT '', cap_mandatory TEXT NOT NULL DEFAULT '',
    cap_optional TEXT NOT NULL DEFAULT '', cap_servers TEXT NOT NULL DEFAULT '',
    unregistered_services BIGINT NOT NULL DEFAULT 0, acct_servers TEXT NOT NULL DEFAULT '',
    cc_servers TEXT NOT NULL DEFAULT '');
CREATE TABLE sip_user_data (user_name TEXT NOT NULL, position BIGINT NOT NULL,
    data_type TEXT NOT NULL, contents BLOB NOT NULL, PRIMARY KEY (user_name, position));
CREATE TABLE sip_aors (aor_key TEXT PRIMARY KEY, aor TEXT NOT NULL, user_name TEXT NOT NULL,
    position BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'not_registered', server_uri TEXT,
    pending_server_uri TEXT, diameter_host TEXT, diameter_realm TEXT,
    supported_types TEXT NOT NULL DEFAULT '');
CREATE INDEX sip_aors_user ON sip_aors(user_name);
INSERT INTO sip_users (user_name, realm, ha1_md5) VALUES ('bob', 'example.com', 'abc');
INSERT INTO sip_aors (aor_key, aor, user_name, position, state, server_uri)
    VALUES ('sip:bob@example.com', 'sip:bob@example.com', 'bob', 0, 'registered', 'sip:s1');
";

#[test]
fn sip_database_made_before_migrations_is_adopted_and_a_second_open_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_db(&dir, "aaa.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(SIP_UNVERSIONED_DDL)
        .unwrap();
    let url = format!("sqlite://{path}");
    let s = sip::open(&url).unwrap();
    let reg = s.registration("sip:bob@example.com").unwrap().unwrap();
    assert_eq!(reg.server_uri.as_deref(), Some("sip:s1"));
    assert_eq!(
        s.user("bob").unwrap().unwrap().ha1_md5.as_deref(),
        Some("abc")
    );
    drop(s);
    let mut conn = Connection::open(&path).unwrap();
    let before = history(&conn, SIP_SQLITE.history);
    assert_eq!(before.len() as u32, SIP_SQLITE.latest());
    assert_eq!(
        sqlite(&mut conn, &SIP_SQLITE, no_baseline).unwrap(),
        Vec::<u32>::new()
    );
    drop(sip::open(&url).unwrap());
    assert_eq!(history(&conn, SIP_SQLITE.history), before);
}

#[test]
fn processes_opening_a_new_file_together_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let path = temp_db(&dir, &format!("ocs{round}.db"));
        let opened: Vec<String> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..4)
                .map(|_| sc.spawn(|| SqliteStore::open(&path).err().map(|e| e.to_string())))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert!(opened.is_empty(), "{opened:?}");
        assert_ocs_latest(&Connection::open(&path).unwrap());
    }
}
