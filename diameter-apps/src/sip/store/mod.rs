//! Users of the SIP AAA server and their registration state.
//!
//! A [`SipUser`] is one User-Name (the Digest username) with its SIP AORs, Digest
//! credentials kept as H(A1) only (never the password), allowed visited networks, the SIP
//! server capabilities it needs, its profile (SIP-User-Data, one entry per data type) and
//! its accounting servers (SIP-Accounting-Information). The [`Registration`] of each AOR
//! holds the assigned SIP server and the Diameter identity of that server's client, so the
//! server can later send it RTR and PPR.
//!
//! Two backends behind [`SipStore`], chosen by [`open`] with the same URLs as the OCS store:
//! `sqlite://PATH` (the default embedded store, a file created on first start; the tables are
//! prefixed `sip_`, so the OCS and the SIP server may share one file), `sqlite::memory:`,
//! and `postgres://…` for several nodes sharing users.
//!
//! The rules (an AOR belongs to one user, re-provisioning keeps the registrations of kept
//! AORs, every write atomic, a user read on one snapshot) are written once in `rules.rs`
//! over a `Records` trait; `sql.rs` implements it once for both databases; the backends
//! only connect and run statements. Their tables come from versioned migrations in
//! `diameter-apps/migrations/sip/<backend>/`, run when the store is opened.
//!
//! ```
//! use diameter_apps::sip::store::{open, SipUser};
//!
//! let store = open("sqlite::memory:").unwrap();
//! let alice = SipUser::with_password("alice@example.com", "example.com", "secret")
//!     .aor("sip:alice@example.com");
//! store.put_user(&alice).unwrap();
//! let found = store.user_by_aor("sip:alice@example.com").unwrap().unwrap();
//! assert_eq!(found.name, "alice@example.com");
//! assert_ne!(found.ha1_md5.as_deref(), Some("secret"));
//! ```

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rules;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod users_file;

#[cfg(feature = "postgres")]
pub use self::postgres::PgSipStore;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteSipStore;
pub use self::users_file::{load_users_file, parse_users, ProfileEntry, UserEntry, UsersFile};

use crate::sip::digest::{self, Algorithm};
use std::sync::Arc;

/// SIP server capabilities a user needs (SIP-Server-Capabilities, RFC 4740 §9.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// SIP-Mandatory-Capability values.
    pub mandatory: Vec<u32>,
    /// SIP-Optional-Capability values.
    pub optional: Vec<u32>,
    /// SIP-Server-URI values: SIP servers suitable for the user.
    pub servers: Vec<String>,
}

/// One piece of the user profile (SIP-User-Data, RFC 4740 §9.12).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserData {
    /// SIP-User-Data-Type, such as `application/xml`.
    pub data_type: String,
    /// SIP-User-Data-Contents.
    pub contents: Vec<u8>,
}

/// Addresses of accounting servers (SIP-Accounting-Information, RFC 4740 §9.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountingInfo {
    /// SIP-Accounting-Server-URI values (`aaa://host:port`).
    pub accounting_servers: Vec<String>,
    /// SIP-Credit-Control-Server-URI values.
    pub credit_control_servers: Vec<String>,
}

impl AccountingInfo {
    /// Whether no address is set.
    pub fn is_empty(&self) -> bool {
        self.accounting_servers.is_empty() && self.credit_control_servers.is_empty()
    }
}

/// A user as provisioned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipUser {
    /// User-Name: the Digest username.
    pub name: String,
    /// The Digest realm H(A1) was computed for.
    pub realm: String,
    /// H(A1) with MD5 (`H(name:realm:password)`), lowercase hex.
    pub ha1_md5: Option<String>,
    /// H(A1) with SHA-256, lowercase hex.
    pub ha1_sha256: Option<String>,
    /// The SIP or SIPS AORs allocated to the user.
    pub aors: Vec<String>,
    /// Networks (SIP-Visited-Network-Id) the user may register from; empty = any.
    pub visited_networks: Vec<String>,
    /// Capabilities a serving SIP server needs.
    pub capabilities: Capabilities,
    /// Whether the user has services for the unregistered state (LIA 2005 instead of 5034).
    pub unregistered_services: bool,
    /// The profile, one entry per data type.
    pub profile: Vec<UserData>,
    /// Accounting servers.
    pub accounting: AccountingInfo,
}

impl SipUser {
    /// A user with H(A1) for MD5 and SHA-256 computed from `password` (which is not kept).
    pub fn with_password(name: &str, realm: &str, password: &str) -> Self {
        SipUser {
            name: name.to_string(),
            realm: realm.to_string(),
            ha1_md5: Some(digest::ha1(Algorithm::Md5, name, realm, password)),
            ha1_sha256: Some(digest::ha1(Algorithm::Sha256, name, realm, password)),
            ..Default::default()
        }
    }

    /// Adds an AOR (builder style).
    pub fn aor(mut self, aor: &str) -> Self {
        self.aors.push(aor.to_string());
        self
    }

    /// Adds a profile entry (builder style).
    pub fn profile(mut self, data_type: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.profile.push(UserData {
            data_type: data_type.to_string(),
            contents: contents.into(),
        });
        self
    }

    /// The stored H(A1) for an algorithm (`-sess` variants use the plain one).
    pub fn ha1(&self, alg: Algorithm) -> Option<&str> {
        match alg.base() {
            Algorithm::Sha256 => self.ha1_sha256.as_deref(),
            _ => self.ha1_md5.as_deref(),
        }
    }

    /// Whether the AOR belongs to this user (exact match, scheme and host case-insensitive).
    pub fn owns(&self, aor: &str) -> bool {
        self.aors.iter().any(|a| same_aor(a, aor))
    }

    /// Whether the user may register from `network` (an empty list allows any).
    pub fn may_visit(&self, network: &str) -> bool {
        self.visited_networks.is_empty()
            || self
                .visited_networks
                .iter()
                .any(|n| n.eq_ignore_ascii_case(network))
    }
}

/// Compares two AORs: the scheme and the host part are case-insensitive, the user part is not.
pub fn same_aor(a: &str, b: &str) -> bool {
    normalize_aor(a) == normalize_aor(b)
}

/// The key an AOR is stored under: scheme and host lowercased, parameters kept.
pub fn normalize_aor(aor: &str) -> String {
    let aor = aor.trim();
    let (scheme, rest) = match aor.split_once(':') {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => (String::new(), aor),
    };
    let rest = match rest.rsplit_once('@') {
        Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
        None => rest.to_ascii_lowercase(),
    };
    if scheme.is_empty() {
        rest
    } else {
        format!("{scheme}:{rest}")
    }
}

/// Registration state of an AOR (RFC 4740 §8.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegState {
    /// Not registered, no server assigned (or kept only by name).
    #[default]
    NotRegistered,
    /// Registered at the assigned server.
    Registered,
    /// Unregistered, with a server assigned for unregistered services.
    Unregistered,
}

impl RegState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RegState::NotRegistered => "not_registered",
            RegState::Registered => "registered",
            RegState::Unregistered => "unregistered",
        }
    }

    /// Parses [`RegState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "not_registered" => RegState::NotRegistered,
            "registered" => RegState::Registered,
            "unregistered" => RegState::Unregistered,
            _ => return None,
        })
    }
}

/// What the server knows about one AOR's registration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    /// The AOR.
    pub aor: String,
    /// The user it belongs to.
    pub user_name: String,
    /// State.
    pub state: RegState,
    /// SIP-Server-URI of the assigned SIP server.
    pub server_uri: Option<String>,
    /// A server named in a MAR that differs from the stored one ("authentication pending").
    pub pending_server_uri: Option<String>,
    /// Origin-Host of the Diameter client in the serving SIP server (RTR/PPR go there).
    pub diameter_host: Option<String>,
    /// Origin-Realm of that client.
    pub diameter_realm: Option<String>,
    /// SIP-Supported-User-Data-Type values of the last SAR.
    pub supported_types: Vec<String>,
}

/// Errors of the SIP store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// An AOR already belongs to another user.
    #[error("aor {aor} already belongs to user {owner}")]
    AorTaken {
        /// The AOR.
        aor: String,
        /// Its owner.
        owner: String,
    },
    /// No such user.
    #[error("no user {0}")]
    NoSuchUser(String),
    /// No such AOR.
    #[error("no aor {0}")]
    NoSuchAor(String),
    /// A bad store URL or users file.
    #[error("{0}")]
    Config(String),
    /// Stored data that cannot be read back.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The schema could not be brought up to date when the store was opened.
    #[error("{0}")]
    Migration(String),
    /// The store URL names a backend this build leaves out: the name of the diameter-apps
    /// feature that compiles it in (`sqlite`, `postgres`).
    #[error("the {0} store backend is not compiled in (diameter-apps feature `{0}`)")]
    BackendNotBuilt(&'static str),
}

/// Storage of users and registrations. Implementations are shared between threads; every
/// method blocks (call them from `spawn_blocking` in async code).
pub trait SipStore: Send + Sync {
    /// Creates or replaces a user (its AORs, profile, credentials); registrations of AORs it
    /// keeps stay as they are, those of AORs it lost are dropped.
    fn put_user(&self, user: &SipUser) -> Result<(), StoreError>;
    /// Deletes a user and its registrations; `false` when it did not exist.
    fn remove_user(&self, name: &str) -> Result<bool, StoreError>;
    /// A user by User-Name.
    fn user(&self, name: &str) -> Result<Option<SipUser>, StoreError>;
    /// The user an AOR is allocated to.
    fn user_by_aor(&self, aor: &str) -> Result<Option<SipUser>, StoreError>;
    /// The names of all users, sorted.
    fn user_names(&self) -> Result<Vec<String>, StoreError>;
    /// The registration of an AOR (`None` when the AOR is unknown).
    fn registration(&self, aor: &str) -> Result<Option<Registration>, StoreError>;
    /// The registrations of all AORs of a user.
    fn registrations_of(&self, name: &str) -> Result<Vec<Registration>, StoreError>;
    /// Saves the registration of an existing AOR.
    fn set_registration(&self, reg: &Registration) -> Result<(), StoreError>;
    /// Replaces the profile and accounting servers of a user (an operator action before PPR).
    fn update_profile(
        &self,
        name: &str,
        profile: &[UserData],
        accounting: &AccountingInfo,
    ) -> Result<(), StoreError>;
}

/// Opens a store: `sqlite://PATH` or a bare path (created on first start), `sqlite::memory:`,
/// `postgres://…` / `postgresql://…` (libpq URL) or `postgres:host=… user=…`.
pub fn open(url: &str) -> Result<Arc<dyn SipStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open_postgres(url);
    }
    if let Some(kv) = url.strip_prefix("postgres:") {
        return open_postgres(kv);
    }
    open_sqlite(url)
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Arc<dyn SipStore>, StoreError> {
    Ok(Arc::new(PgSipStore::connect(url)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_: &str) -> Result<Arc<dyn SipStore>, StoreError> {
    Err(StoreError::BackendNotBuilt("postgres"))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &str) -> Result<Arc<dyn SipStore>, StoreError> {
    Err(StoreError::BackendNotBuilt("sqlite"))
}

#[cfg(feature = "sqlite")]
fn open_sqlite(url: &str) -> Result<Arc<dyn SipStore>, StoreError> {
    if url == "sqlite::memory:" {
        return Ok(Arc::new(SqliteSipStore::in_memory()?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() {
        return Err(StoreError::Config(format!(
            "bad store url `{}`",
            crate::redact::store_url(url)
        )));
    }
    Ok(Arc::new(SqliteSipStore::open(path)?))
}

/// Loads a users file into a store (each user replaced); returns how many users.
pub fn load_users(store: &dyn SipStore, file: &UsersFile) -> Result<usize, StoreError> {
    let users = file.to_users()?;
    for u in &users {
        store.put_user(u)?;
    }
    Ok(users.len())
}

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests;

/// A build without a backend refuses its URLs by name (run with `--no-default-features`).
#[cfg(all(test, not(all(feature = "sqlite", feature = "postgres"))))]
mod backend_not_built {
    use super::*;

    #[test]
    #[cfg(not(feature = "sqlite"))]
    fn a_sqlite_url_names_the_missing_feature() {
        let e = open("sqlite::memory:").err().expect("no sqlite backend");
        assert!(matches!(e, StoreError::BackendNotBuilt("sqlite")), "{e}");
    }

    #[test]
    #[cfg(not(feature = "postgres"))]
    fn a_postgres_url_names_the_missing_feature() {
        let e = open("postgres://u@h/db")
            .err()
            .expect("no postgres backend");
        assert!(matches!(e, StoreError::BackendNotBuilt("postgres")), "{e}");
    }
}
