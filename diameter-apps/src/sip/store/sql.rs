//! The SQL of the SIP store: [`Records`] for any connection that can run a statement
//! ([`Conn`]), so SQLite and PostgreSQL share every statement.
//!
//! Statements use `$1, $2, …` in order of appearance (SQLite binds those by position too)
//! and only syntax both databases accept (`ON CONFLICT … DO UPDATE`).

use super::rules::Records;
use super::{AccountingInfo, Capabilities, RegState, Registration, SipUser, StoreError, UserData};

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
    /// Starts a read-only transaction that sees one snapshot.
    fn begin_read(&mut self) -> Result<(), StoreError>;
    /// Commits.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Rolls back (errors ignored by callers).
    fn rollback(&mut self) -> Result<(), StoreError>;
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

fn user_of(r: &[Cell]) -> Result<SipUser, StoreError> {
    Ok(SipUser {
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
    })
}

/// The first column of every row, as text.
fn texts(rows: Vec<Vec<Cell>>) -> Result<Vec<String>, StoreError> {
    rows.iter().map(|r| text(r, 0)).collect()
}

impl<C: Conn + ?Sized> Records for C {
    fn begin(&mut self) -> Result<(), StoreError> {
        Conn::begin(self)
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        Conn::begin_read(self)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Conn::commit(self)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        Conn::rollback(self)
    }

    fn aor_owner(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let rows = self.query(
            "SELECT user_name FROM sip_aors WHERE aor_key = $1",
            &[P::Text(key)],
        )?;
        Ok(texts(rows)?.into_iter().next())
    }

    fn upsert_user(&mut self, u: &SipUser) -> Result<(), StoreError> {
        let (vn, cm, co, cs, acct, cc) = (
            join(&u.visited_networks),
            join(&u.capabilities.mandatory),
            join(&u.capabilities.optional),
            join(&u.capabilities.servers),
            join(&u.accounting.accounting_servers),
            join(&u.accounting.credit_control_servers),
        );
        self.exec(
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
        Ok(())
    }

    fn set_accounting(&mut self, name: &str, acct: &AccountingInfo) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE sip_users SET acct_servers = $1, cc_servers = $2 WHERE user_name = $3",
            &[
                P::Text(&join(&acct.accounting_servers)),
                P::Text(&join(&acct.credit_control_servers)),
                P::Text(name),
            ],
        )?;
        Ok(n > 0)
    }

    fn replace_profile(&mut self, name: &str, profile: &[UserData]) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM sip_user_data WHERE user_name = $1",
            &[P::Text(name)],
        )?;
        for (pos, d) in profile.iter().enumerate() {
            self.exec(
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

    fn aor_keys_of(&mut self, name: &str) -> Result<Vec<String>, StoreError> {
        texts(self.query(
            "SELECT aor_key FROM sip_aors WHERE user_name = $1",
            &[P::Text(name)],
        )?)
    }

    fn delete_aor(&mut self, key: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM sip_aors WHERE aor_key = $1", &[P::Text(key)])?;
        Ok(())
    }

    fn upsert_aor(
        &mut self,
        key: &str,
        aor: &str,
        name: &str,
        position: usize,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "INSERT INTO sip_aors (aor_key, aor, user_name, position) VALUES ($1, $2, $3, $4)
             ON CONFLICT (aor_key) DO UPDATE SET aor = excluded.aor, position = excluded.position
             WHERE sip_aors.user_name = excluded.user_name",
            &[
                P::Text(key),
                P::Text(aor),
                P::Text(name),
                P::Int(i64::try_from(position).unwrap_or(i64::MAX)),
            ],
        )?;
        Ok(n > 0)
    }

    fn delete_user(&mut self, name: &str) -> Result<bool, StoreError> {
        self.exec(
            "DELETE FROM sip_aors WHERE user_name = $1",
            &[P::Text(name)],
        )?;
        self.exec(
            "DELETE FROM sip_user_data WHERE user_name = $1",
            &[P::Text(name)],
        )?;
        Ok(self.exec(
            "DELETE FROM sip_users WHERE user_name = $1",
            &[P::Text(name)],
        )? > 0)
    }

    fn user_row(&mut self, name: &str) -> Result<Option<SipUser>, StoreError> {
        let rows = self.query(
            &format!("SELECT {USER_COLS} FROM sip_users WHERE user_name = $1"),
            &[P::Text(name)],
        )?;
        rows.first().map(|r| user_of(r)).transpose()
    }

    fn aors_of(&mut self, name: &str) -> Result<Vec<String>, StoreError> {
        texts(self.query(
            "SELECT aor FROM sip_aors WHERE user_name = $1 ORDER BY position",
            &[P::Text(name)],
        )?)
    }

    fn profile_of(&mut self, name: &str) -> Result<Vec<UserData>, StoreError> {
        self.query(
            "SELECT data_type, contents FROM sip_user_data WHERE user_name = $1 ORDER BY position",
            &[P::Text(name)],
        )?
        .iter()
        .map(|r| {
            Ok(UserData {
                data_type: text(r, 0)?,
                contents: blob(r, 1)?,
            })
        })
        .collect()
    }

    fn user_names(&mut self) -> Result<Vec<String>, StoreError> {
        texts(self.query("SELECT user_name FROM sip_users ORDER BY user_name", &[])?)
    }

    fn registration(&mut self, key: &str) -> Result<Option<Registration>, StoreError> {
        let rows = self.query(
            &format!("SELECT {REG_COLS} FROM sip_aors WHERE aor_key = $1"),
            &[P::Text(key)],
        )?;
        rows.first().map(|r| reg_of(r)).transpose()
    }

    fn registrations_of(&mut self, name: &str) -> Result<Vec<Registration>, StoreError> {
        self.query(
            &format!("SELECT {REG_COLS} FROM sip_aors WHERE user_name = $1 ORDER BY position"),
            &[P::Text(name)],
        )?
        .iter()
        .map(|r| reg_of(r))
        .collect()
    }

    fn update_registration(&mut self, key: &str, reg: &Registration) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE sip_aors SET state = $1, server_uri = $2, pending_server_uri = $3,
               diameter_host = $4, diameter_realm = $5, supported_types = $6 WHERE aor_key = $7",
            &[
                P::Text(reg.state.as_str()),
                P::OptText(reg.server_uri.as_deref()),
                P::OptText(reg.pending_server_uri.as_deref()),
                P::OptText(reg.diameter_host.as_deref()),
                P::OptText(reg.diameter_realm.as_deref()),
                P::Text(&join(&reg.supported_types)),
                P::Text(key),
            ],
        )?;
        Ok(n > 0)
    }
}
