//! The SQL of the SIP store, shared by SQLite and PostgreSQL through a tiny [`Conn`] trait.
//!
//! Statements use `$1, $2, …` in order of appearance (SQLite binds those by position too)
//! and only syntax both databases accept (`ON CONFLICT … DO UPDATE`).

use super::{
    normalize_aor, AccountingInfo, Capabilities, RegState, Registration, SipUser, StoreError,
    UserData,
};

/// A statement parameter.
pub(crate) enum P<'a> {
    /// TEXT.
    Text(&'a str),
    /// TEXT or NULL.
    OptText(Option<&'a str>),
    /// BIGINT.
    Int(i64),
    /// BLOB / BYTEA.
    Blob(&'a [u8]),
}

/// A column value read back.
#[derive(Debug)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
}

/// What a backend provides.
pub(crate) trait Conn {
    /// Runs a statement; returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[P<'_>]) -> Result<u64, StoreError>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[P<'_>]) -> Result<Vec<Vec<Cell>>, StoreError>;
    /// Starts a write transaction.
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Commits.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Rolls back (errors ignored by callers).
    fn rollback(&mut self) -> Result<(), StoreError>;
}

/// Runs `f` in one transaction.
pub(crate) fn tx<T>(
    c: &mut dyn Conn,
    f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.begin()?;
    match f(c) {
        Ok(v) => {
            c.commit()?;
            Ok(v)
        }
        Err(e) => {
            let _ = c.rollback();
            Err(e)
        }
    }
}

fn text(row: &[Cell], i: usize) -> Result<String, StoreError> {
    match row.get(i) {
        Some(Cell::Text(s)) => Ok(s.clone()),
        other => Err(StoreError::Corrupt(format!("column {i}: {other:?}"))),
    }
}

fn opt_text(row: &[Cell], i: usize) -> Result<Option<String>, StoreError> {
    match row.get(i) {
        Some(Cell::Null) => Ok(None),
        Some(Cell::Text(s)) => Ok(Some(s.clone())),
        other => Err(StoreError::Corrupt(format!("column {i}: {other:?}"))),
    }
}

fn int(row: &[Cell], i: usize) -> Result<i64, StoreError> {
    match row.get(i) {
        Some(Cell::Int(v)) => Ok(*v),
        other => Err(StoreError::Corrupt(format!("column {i}: {other:?}"))),
    }
}

fn blob(row: &[Cell], i: usize) -> Result<Vec<u8>, StoreError> {
    match row.get(i) {
        Some(Cell::Blob(b)) => Ok(b.clone()),
        Some(Cell::Text(s)) => Ok(s.clone().into_bytes()),
        other => Err(StoreError::Corrupt(format!("column {i}: {other:?}"))),
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn split(s: &str) -> Vec<String> {
    s.split('\n')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn split_u32(s: &str) -> Result<Vec<u32>, StoreError> {
    split(s)
        .iter()
        .map(|x| {
            x.parse()
                .map_err(|_| StoreError::Corrupt(format!("capability `{x}`")))
        })
        .collect()
}

const USER_COLS: &str = "user_name, realm, ha1_md5, ha1_sha256, visited_networks, cap_mandatory, \
     cap_optional, cap_servers, unregistered_services, acct_servers, cc_servers";

pub(crate) fn put_user(c: &mut dyn Conn, u: &SipUser) -> Result<(), StoreError> {
    tx(c, |c| {
        let keys: Vec<String> = u.aors.iter().map(|a| normalize_aor(a)).collect();
        for (aor, key) in u.aors.iter().zip(&keys) {
            let rows = c.query(
                "SELECT user_name FROM sip_aors WHERE aor_key = $1",
                &[P::Text(key)],
            )?;
            if let Some(row) = rows.first() {
                let owner = text(row, 0)?;
                if owner != u.name {
                    return Err(StoreError::AorTaken {
                        aor: aor.clone(),
                        owner,
                    });
                }
            }
        }
        let (vn, cm, co, cs, acct, cc) = (
            join(&u.visited_networks),
            join(&u.capabilities.mandatory),
            join(&u.capabilities.optional),
            join(&u.capabilities.servers),
            join(&u.accounting.accounting_servers),
            join(&u.accounting.credit_control_servers),
        );
        c.exec(
            &format!(
                "INSERT INTO sip_users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (user_name) DO UPDATE SET realm = excluded.realm,
                   ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256,
                   visited_networks = excluded.visited_networks,
                   cap_mandatory = excluded.cap_mandatory, cap_optional = excluded.cap_optional,
                   cap_servers = excluded.cap_servers,
                   unregistered_services = excluded.unregistered_services,
                   acct_servers = excluded.acct_servers, cc_servers = excluded.cc_servers"
            ),
            &[
                P::Text(&u.name),
                P::Text(&u.realm),
                P::OptText(u.ha1_md5.as_deref()),
                P::OptText(u.ha1_sha256.as_deref()),
                P::Text(&vn),
                P::Text(&cm),
                P::Text(&co),
                P::Text(&cs),
                P::Int(i64::from(u.unregistered_services)),
                P::Text(&acct),
                P::Text(&cc),
            ],
        )?;
        write_profile(c, &u.name, &u.profile)?;
        let existing = c.query(
            "SELECT aor_key FROM sip_aors WHERE user_name = $1",
            &[P::Text(&u.name)],
        )?;
        for row in &existing {
            let key = text(row, 0)?;
            if !keys.contains(&key) {
                c.exec("DELETE FROM sip_aors WHERE aor_key = $1", &[P::Text(&key)])?;
            }
        }
        for (pos, (aor, key)) in u.aors.iter().zip(&keys).enumerate() {
            c.exec(
                "INSERT INTO sip_aors (aor_key, aor, user_name, position) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (aor_key) DO UPDATE SET aor = excluded.aor, position = excluded.position",
                &[
                    P::Text(key),
                    P::Text(aor),
                    P::Text(&u.name),
                    P::Int(pos as i64),
                ],
            )?;
        }
        Ok(())
    })
}

fn write_profile(c: &mut dyn Conn, name: &str, profile: &[UserData]) -> Result<(), StoreError> {
    c.exec(
        "DELETE FROM sip_user_data WHERE user_name = $1",
        &[P::Text(name)],
    )?;
    for (pos, d) in profile.iter().enumerate() {
        c.exec(
            "INSERT INTO sip_user_data (user_name, position, data_type, contents) VALUES ($1, $2, $3, $4)",
            &[
                P::Text(name),
                P::Int(pos as i64),
                P::Text(&d.data_type),
                P::Blob(&d.contents),
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn update_profile(
    c: &mut dyn Conn,
    name: &str,
    profile: &[UserData],
    acct: &AccountingInfo,
) -> Result<(), StoreError> {
    tx(c, |c| {
        let n = c.exec(
            "UPDATE sip_users SET acct_servers = $1, cc_servers = $2 WHERE user_name = $3",
            &[
                P::Text(&join(&acct.accounting_servers)),
                P::Text(&join(&acct.credit_control_servers)),
                P::Text(name),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchUser(name.to_string()));
        }
        write_profile(c, name, profile)
    })
}

pub(crate) fn remove_user(c: &mut dyn Conn, name: &str) -> Result<bool, StoreError> {
    tx(c, |c| {
        c.exec(
            "DELETE FROM sip_aors WHERE user_name = $1",
            &[P::Text(name)],
        )?;
        c.exec(
            "DELETE FROM sip_user_data WHERE user_name = $1",
            &[P::Text(name)],
        )?;
        Ok(c.exec(
            "DELETE FROM sip_users WHERE user_name = $1",
            &[P::Text(name)],
        )? > 0)
    })
}

pub(crate) fn user(c: &mut dyn Conn, name: &str) -> Result<Option<SipUser>, StoreError> {
    let rows = c.query(
        &format!("SELECT {USER_COLS} FROM sip_users WHERE user_name = $1"),
        &[P::Text(name)],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let mut u = SipUser {
        name: text(r, 0)?,
        realm: text(r, 1)?,
        ha1_md5: opt_text(r, 2)?,
        ha1_sha256: opt_text(r, 3)?,
        visited_networks: split(&text(r, 4)?),
        capabilities: Capabilities {
            mandatory: split_u32(&text(r, 5)?)?,
            optional: split_u32(&text(r, 6)?)?,
            servers: split(&text(r, 7)?),
        },
        unregistered_services: int(r, 8)? != 0,
        accounting: AccountingInfo {
            accounting_servers: split(&text(r, 9)?),
            credit_control_servers: split(&text(r, 10)?),
        },
        ..Default::default()
    };
    for r in c.query(
        "SELECT aor FROM sip_aors WHERE user_name = $1 ORDER BY position",
        &[P::Text(name)],
    )? {
        u.aors.push(text(&r, 0)?);
    }
    for r in c.query(
        "SELECT data_type, contents FROM sip_user_data WHERE user_name = $1 ORDER BY position",
        &[P::Text(name)],
    )? {
        u.profile.push(UserData {
            data_type: text(&r, 0)?,
            contents: blob(&r, 1)?,
        });
    }
    Ok(Some(u))
}

pub(crate) fn user_by_aor(c: &mut dyn Conn, aor: &str) -> Result<Option<SipUser>, StoreError> {
    let rows = c.query(
        "SELECT user_name FROM sip_aors WHERE aor_key = $1",
        &[P::Text(&normalize_aor(aor))],
    )?;
    match rows.first() {
        Some(r) => user(c, &text(r, 0)?),
        None => Ok(None),
    }
}

pub(crate) fn user_names(c: &mut dyn Conn) -> Result<Vec<String>, StoreError> {
    c.query("SELECT user_name FROM sip_users ORDER BY user_name", &[])?
        .iter()
        .map(|r| text(r, 0))
        .collect()
}

const REG_COLS: &str = "aor, user_name, state, server_uri, pending_server_uri, diameter_host, \
     diameter_realm, supported_types";

fn reg_of(r: &[Cell]) -> Result<Registration, StoreError> {
    let state = text(r, 2)?;
    Ok(Registration {
        aor: text(r, 0)?,
        user_name: text(r, 1)?,
        state: RegState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("registration state `{state}`")))?,
        server_uri: opt_text(r, 3)?,
        pending_server_uri: opt_text(r, 4)?,
        diameter_host: opt_text(r, 5)?,
        diameter_realm: opt_text(r, 6)?,
        supported_types: split(&text(r, 7)?),
    })
}

pub(crate) fn registration(
    c: &mut dyn Conn,
    aor: &str,
) -> Result<Option<Registration>, StoreError> {
    let rows = c.query(
        &format!("SELECT {REG_COLS} FROM sip_aors WHERE aor_key = $1"),
        &[P::Text(&normalize_aor(aor))],
    )?;
    rows.first().map(|r| reg_of(r)).transpose()
}

pub(crate) fn registrations_of(
    c: &mut dyn Conn,
    name: &str,
) -> Result<Vec<Registration>, StoreError> {
    c.query(
        &format!("SELECT {REG_COLS} FROM sip_aors WHERE user_name = $1 ORDER BY position"),
        &[P::Text(name)],
    )?
    .iter()
    .map(|r| reg_of(r))
    .collect()
}

pub(crate) fn set_registration(c: &mut dyn Conn, reg: &Registration) -> Result<(), StoreError> {
    let types = join(&reg.supported_types);
    let n = c.exec(
        "UPDATE sip_aors SET state = $1, server_uri = $2, pending_server_uri = $3,
           diameter_host = $4, diameter_realm = $5, supported_types = $6 WHERE aor_key = $7",
        &[
            P::Text(reg.state.as_str()),
            P::OptText(reg.server_uri.as_deref()),
            P::OptText(reg.pending_server_uri.as_deref()),
            P::OptText(reg.diameter_host.as_deref()),
            P::OptText(reg.diameter_realm.as_deref()),
            P::Text(&types),
            P::Text(&normalize_aor(&reg.aor)),
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NoSuchAor(reg.aor.clone()));
    }
    Ok(())
}

/// Implements [`super::SipStore`] for a backend with an inherent
/// `fn with<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>) -> Result<T, StoreError>`.
macro_rules! impl_sip_store {
    ($t:ty) => {
        impl $crate::sip::store::SipStore for $t {
            fn put_user(&self, user: &SipUser) -> Result<(), StoreError> {
                self.with(|c| sql::put_user(c, user))
            }
            fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
                self.with(|c| sql::remove_user(c, name))
            }
            fn user(&self, name: &str) -> Result<Option<SipUser>, StoreError> {
                self.with(|c| sql::user(c, name))
            }
            fn user_by_aor(&self, aor: &str) -> Result<Option<SipUser>, StoreError> {
                self.with(|c| sql::user_by_aor(c, aor))
            }
            fn user_names(&self) -> Result<Vec<String>, StoreError> {
                self.with(|c| sql::user_names(c))
            }
            fn registration(&self, aor: &str) -> Result<Option<Registration>, StoreError> {
                self.with(|c| sql::registration(c, aor))
            }
            fn registrations_of(&self, name: &str) -> Result<Vec<Registration>, StoreError> {
                self.with(|c| sql::registrations_of(c, name))
            }
            fn set_registration(&self, reg: &Registration) -> Result<(), StoreError> {
                self.with(|c| sql::set_registration(c, reg))
            }
            fn update_profile(
                &self,
                name: &str,
                profile: &[UserData],
                accounting: &AccountingInfo,
            ) -> Result<(), StoreError> {
                self.with(|c| sql::update_profile(c, name, profile, accounting))
            }
        }
    };
}
pub(crate) use impl_sip_store;
