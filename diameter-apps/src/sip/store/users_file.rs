//! The users file of the SIP AAA server (`--users FILE`), TOML:
//!
//! ```toml
//! # Digest realm of entries that name none.
//! realm = "example.com"
//!
//! [[user]]
//! name = "alice@example.com"            # User-Name, the Digest username
//! password = "secret"                   # turned into H(A1) (MD5 and SHA-256) on load;
//!                                       # only H(A1) is stored
//! aors = ["sip:alice@example.com", "tel:+15551234"]
//! visited_networks = ["visited.example.net"]  # optional; absent or empty = any network
//! unregistered_services = true          # optional: LIA answers 2005 instead of 5034
//! accounting_servers = ["aaa://acct.example.com:3868"]    # optional
//! credit_control_servers = ["aaa://ocs.example.com"]      # optional
//! capabilities = { mandatory = [1], optional = [2, 3], servers = ["sip:scscf1.example.com"] }
//!
//! [[user.profile]]                       # SIP-User-Data, one per data type
//! type = "application/xml"
//! contents = "<services><voicemail/></services>"
//!
//! [[user]]
//! name = "bob@example.com"
//! realm = "other.example.com"           # overrides the file's realm
//! ha1_md5 = "4ddb5e1c0f3ac0ae8ed7c4fc1a3f03c2"   # or give H(A1) instead of a password
//! aors = ["sip:bob@example.com"]
//! ```
//!
//! Loading replaces each listed user (credentials, AORs, profile) but keeps the registration
//! state of AORs it still has, so the file can be loaded on every start.

use super::{AccountingInfo, Capabilities, SipUser, StoreError, UserData};
use crate::sip::digest::Algorithm;
use serde::Deserialize;

/// The parsed users file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// Default Digest realm.
    #[serde(default)]
    pub realm: Option<String>,
    /// The users.
    #[serde(default, rename = "user")]
    pub users: Vec<UserEntry>,
}

/// A `[[user]]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// User-Name.
    pub name: String,
    /// Digest realm, overriding the file's.
    #[serde(default)]
    pub realm: Option<String>,
    /// Clear-text password (hashed on load).
    #[serde(default)]
    pub password: Option<String>,
    /// H(A1) with MD5, when no password is given.
    #[serde(default)]
    pub ha1_md5: Option<String>,
    /// H(A1) with SHA-256, when no password is given.
    #[serde(default)]
    pub ha1_sha256: Option<String>,
    /// AORs.
    #[serde(default)]
    pub aors: Vec<String>,
    /// Allowed visited networks (empty = any).
    #[serde(default)]
    pub visited_networks: Vec<String>,
    /// Services for unregistered users.
    #[serde(default)]
    pub unregistered_services: bool,
    /// SIP-Accounting-Server-URI values.
    #[serde(default)]
    pub accounting_servers: Vec<String>,
    /// SIP-Credit-Control-Server-URI values.
    #[serde(default)]
    pub credit_control_servers: Vec<String>,
    /// Required server capabilities.
    #[serde(default)]
    pub capabilities: CapabilitiesEntry,
    /// Profile entries.
    #[serde(default)]
    pub profile: Vec<ProfileEntry>,
}

/// The `capabilities` table of a user.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesEntry {
    /// SIP-Mandatory-Capability values.
    #[serde(default)]
    pub mandatory: Vec<u32>,
    /// SIP-Optional-Capability values.
    #[serde(default)]
    pub optional: Vec<u32>,
    /// Suitable SIP servers.
    #[serde(default)]
    pub servers: Vec<String>,
}

/// A `[[user.profile]]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// SIP-User-Data-Type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// SIP-User-Data-Contents, as text.
    pub contents: String,
}

fn check_hex(name: &str, v: &Option<String>, len: usize) -> Result<Option<String>, StoreError> {
    match v {
        None => Ok(None),
        Some(h) if h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(h.to_ascii_lowercase()))
        }
        Some(_) => Err(StoreError::Config(format!(
            "user {name}: H(A1) must be {len} hex digits"
        ))),
    }
}

impl UserEntry {
    /// The user this entry describes, with `realm` as the default Digest realm.
    pub fn to_user(&self, default_realm: Option<&str>) -> Result<SipUser, StoreError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(StoreError::Config("a user has an empty name".into()));
        }
        let realm = self
            .realm
            .as_deref()
            .or(default_realm)
            .ok_or_else(|| StoreError::Config(format!("user {name}: no realm")))?;
        let mut u = match &self.password {
            Some(pw) => {
                if self.ha1_md5.is_some() || self.ha1_sha256.is_some() {
                    return Err(StoreError::Config(format!(
                        "user {name}: give a password or H(A1), not both"
                    )));
                }
                SipUser::with_password(name, realm, pw)
            }
            None => SipUser {
                name: name.to_string(),
                realm: realm.to_string(),
                ha1_md5: check_hex(name, &self.ha1_md5, Algorithm::Md5.hex_len())?,
                ha1_sha256: check_hex(name, &self.ha1_sha256, Algorithm::Sha256.hex_len())?,
                ..Default::default()
            },
        };
        if u.ha1_md5.is_none() && u.ha1_sha256.is_none() {
            return Err(StoreError::Config(format!(
                "user {name}: needs a password or H(A1)"
            )));
        }
        if self.aors.is_empty() {
            return Err(StoreError::Config(format!("user {name}: no aors")));
        }
        u.aors = self.aors.clone();
        u.visited_networks = self.visited_networks.clone();
        u.unregistered_services = self.unregistered_services;
        u.accounting = AccountingInfo {
            accounting_servers: self.accounting_servers.clone(),
            credit_control_servers: self.credit_control_servers.clone(),
        };
        u.capabilities = Capabilities {
            mandatory: self.capabilities.mandatory.clone(),
            optional: self.capabilities.optional.clone(),
            servers: self.capabilities.servers.clone(),
        };
        u.profile = self
            .profile
            .iter()
            .map(|p| UserData {
                data_type: p.data_type.clone(),
                contents: p.contents.clone().into_bytes(),
            })
            .collect();
        Ok(u)
    }
}

impl UsersFile {
    /// All users of the file, checked (names unique, AORs not shared).
    pub fn to_users(&self) -> Result<Vec<SipUser>, StoreError> {
        let users = self
            .users
            .iter()
            .map(|e| e.to_user(self.realm.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::HashMap::new();
        for u in &users {
            for a in &u.aors {
                if let Some(other) = seen.insert(super::normalize_aor(a), u.name.clone()) {
                    return Err(StoreError::AorTaken {
                        aor: a.clone(),
                        owner: other,
                    });
                }
            }
        }
        let mut names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(StoreError::Config(format!("user {} listed twice", w[0])));
        }
        Ok(users)
    }
}

/// Parses users from TOML text.
pub fn parse_users(text: &str) -> Result<UsersFile, StoreError> {
    toml::from_str(text).map_err(|e| StoreError::Config(format!("users file: {e}")))
}

/// Reads and parses a users file.
pub fn load_users_file(path: &std::path::Path) -> Result<UsersFile, StoreError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StoreError::Config(format!("{}: {e}", path.display())))?;
    parse_users(&text).map_err(|e| StoreError::Config(format!("{}: {e}", path.display())))
}
