//! What the SIP store's operations mean, written once over [`Records`]: an AOR belongs to
//! one user; re-provisioning a user keeps the registrations of the AORs it keeps and drops
//! the others; AORs are looked up by their [`normalize_aor`] key; writes are atomic.
//!
//! Every backend gets these rules by implementing [`Backend`] (the SQL of both databases
//! is in `sql.rs`; `sqlite.rs` and `postgres.rs` only connect and run statements).

use super::{normalize_aor, AccountingInfo, Registration, SipStore, SipUser, StoreError, UserData};

/// The stored records, one primitive per read or write; no rules here.
pub(crate) trait Records {
    /// Starts a write transaction.
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Starts a read-only transaction: its reads see one snapshot.
    fn begin_read(&mut self) -> Result<(), StoreError>;
    /// Commits either.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Rolls it back.
    fn rollback(&mut self) -> Result<(), StoreError>;
    /// The user an AOR key belongs to.
    fn aor_owner(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    /// Inserts or updates the user's own row (not its AORs or profile).
    fn upsert_user(&mut self, user: &SipUser) -> Result<(), StoreError>;
    /// Sets a user's accounting servers; `false` when there is no such user.
    fn set_accounting(&mut self, name: &str, acct: &AccountingInfo) -> Result<bool, StoreError>;
    /// Replaces a user's profile entries.
    fn replace_profile(&mut self, name: &str, profile: &[UserData]) -> Result<(), StoreError>;
    /// The AOR keys of a user.
    fn aor_keys_of(&mut self, name: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes an AOR and its registration.
    fn delete_aor(&mut self, key: &str) -> Result<(), StoreError>;
    /// Inserts an AOR of a user, or updates its spelling and position (keeping its
    /// registration); `false` (nothing written) when the key belongs to another user.
    fn upsert_aor(
        &mut self,
        key: &str,
        aor: &str,
        name: &str,
        position: usize,
    ) -> Result<bool, StoreError>;
    /// Deletes a user with its AORs and profile; `false` when there was no such user.
    fn delete_user(&mut self, name: &str) -> Result<bool, StoreError>;
    /// A user's own row: no AORs, no profile.
    fn user_row(&mut self, name: &str) -> Result<Option<SipUser>, StoreError>;
    /// A user's AORs in order.
    fn aors_of(&mut self, name: &str) -> Result<Vec<String>, StoreError>;
    /// A user's profile entries in order.
    fn profile_of(&mut self, name: &str) -> Result<Vec<UserData>, StoreError>;
    /// All user names, sorted.
    fn user_names(&mut self) -> Result<Vec<String>, StoreError>;
    /// The registration of an AOR key.
    fn registration(&mut self, key: &str) -> Result<Option<Registration>, StoreError>;
    /// The registrations of a user's AORs in order.
    fn registrations_of(&mut self, name: &str) -> Result<Vec<Registration>, StoreError>;
    /// Saves the registration of an AOR key; `false` when there is no such AOR.
    fn update_registration(&mut self, key: &str, reg: &Registration) -> Result<bool, StoreError>;
}

/// A backend: lends its connection, as [`Records`], to one operation at a time.
pub(crate) trait Backend: Send + Sync {
    /// Runs `f` with the connection.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Records) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
}

/// Runs `f` in one transaction: all of its writes or none.
fn atomic<T>(
    r: &mut dyn Records,
    f: impl FnOnce(&mut dyn Records) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    r.begin()?;
    finish(r, f)
}

/// Runs `f`'s reads on one snapshot (a user is several rows: none half-written is seen).
fn snapshot<T>(
    r: &mut dyn Records,
    f: impl FnOnce(&mut dyn Records) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    r.begin_read()?;
    finish(r, f)
}

/// Runs `f` in the transaction just begun; commits on success, rolls back on error.
fn finish<T>(
    r: &mut dyn Records,
    f: impl FnOnce(&mut dyn Records) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match f(r) {
        Ok(v) => {
            r.commit()?;
            Ok(v)
        }
        Err(e) => {
            // The error that matters is `e`; a failed rollback ends with the connection.
            let _ = r.rollback();
            Err(e)
        }
    }
}

fn put_user(r: &mut dyn Records, user: &SipUser) -> Result<(), StoreError> {
    let keys: Vec<String> = user.aors.iter().map(|a| normalize_aor(a)).collect();
    atomic(r, |r| {
        for (aor, key) in user.aors.iter().zip(&keys) {
            if let Some(owner) = r.aor_owner(key)? {
                if owner != user.name {
                    return Err(StoreError::AorTaken {
                        aor: aor.clone(),
                        owner,
                    });
                }
            }
        }
        r.upsert_user(user)?;
        r.replace_profile(&user.name, &user.profile)?;
        for key in r.aor_keys_of(&user.name)? {
            if !keys.contains(&key) {
                r.delete_aor(&key)?;
            }
        }
        for (pos, (aor, key)) in user.aors.iter().zip(&keys).enumerate() {
            // Checked again as it is written: another node may have claimed it meanwhile.
            if !r.upsert_aor(key, aor, &user.name, pos)? {
                return Err(StoreError::AorTaken {
                    aor: aor.clone(),
                    owner: r.aor_owner(key)?.unwrap_or_default(),
                });
            }
        }
        Ok(())
    })
}

fn user(r: &mut dyn Records, name: &str) -> Result<Option<SipUser>, StoreError> {
    let Some(mut u) = r.user_row(name)? else {
        return Ok(None);
    };
    u.aors = r.aors_of(name)?;
    u.profile = r.profile_of(name)?;
    Ok(Some(u))
}

impl<B: Backend> SipStore for B {
    fn put_user(&self, user: &SipUser) -> Result<(), StoreError> {
        self.with(|r| put_user(r, user))
    }

    fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|r| atomic(r, |r| r.delete_user(name)))
    }

    fn user(&self, name: &str) -> Result<Option<SipUser>, StoreError> {
        self.with(|r| snapshot(r, |r| user(r, name)))
    }

    fn user_by_aor(&self, aor: &str) -> Result<Option<SipUser>, StoreError> {
        self.with(|r| {
            snapshot(r, |r| match r.aor_owner(&normalize_aor(aor))? {
                Some(name) => user(r, &name),
                None => Ok(None),
            })
        })
    }

    fn user_names(&self) -> Result<Vec<String>, StoreError> {
        self.with(|r| r.user_names())
    }

    fn registration(&self, aor: &str) -> Result<Option<Registration>, StoreError> {
        self.with(|r| r.registration(&normalize_aor(aor)))
    }

    fn registrations_of(&self, name: &str) -> Result<Vec<Registration>, StoreError> {
        self.with(|r| r.registrations_of(name))
    }

    fn set_registration(&self, reg: &Registration) -> Result<(), StoreError> {
        self.with(|r| {
            if r.update_registration(&normalize_aor(&reg.aor), reg)? {
                Ok(())
            } else {
                Err(StoreError::NoSuchAor(reg.aor.clone()))
            }
        })
    }

    fn update_profile(
        &self,
        name: &str,
        profile: &[UserData],
        accounting: &AccountingInfo,
    ) -> Result<(), StoreError> {
        self.with(|r| {
            atomic(r, |r| {
                if !r.set_accounting(name, accounting)? {
                    return Err(StoreError::NoSuchUser(name.to_string()));
                }
                r.replace_profile(name, profile)
            })
        })
    }
}
