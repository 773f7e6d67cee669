//! The accounts file (`--accounts FILE`), TOML:
//!
//! ```toml
//! # Currency of entries that name none: ISO 4217 numeric code (978 = EUR, 840 = USD).
//! currency = 978
//!
//! [[account]]
//! name = "alice"                                     # optional
//! ids = ["e164:491701234567", "imsi:262011234567890"] # Subscription-Ids, `kind:data`
//! balance = 10000                                    # minor units (100.00 EUR)
//!
//! [[account]]
//! ids = ["sip:sip:bob@example.net", "nai:bob@example.net"]
//! balance = 500
//! currency = 840                                     # optional, overrides the default
//! ```
//!
//! Kinds: `e164` (or `msisdn`), `imsi`, `sip` (SIP URI), `nai`, `private`. Loading is
//! idempotent: an entry whose first id already has an account is left alone (its balance is
//! not reset), so the file can be loaded on every start.

use super::{NewAccount, StoreError, SubscriberId};
use serde::Deserialize;

/// The parsed accounts file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountsFile {
    /// Default currency (ISO 4217 numeric); 978 (EUR) when absent.
    #[serde(default = "default_currency")]
    pub currency: u32,
    /// The accounts.
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountEntry>,
}

/// One `[[account]]` of the file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    /// Free-form name.
    #[serde(default)]
    pub name: String,
    /// Subscription-Ids as `kind:data`.
    pub ids: Vec<String>,
    /// Opening balance in minor units.
    pub balance: i64,
    /// Currency, overriding the file's default.
    #[serde(default)]
    pub currency: Option<u32>,
}

fn default_currency() -> u32 {
    978
}

impl AccountEntry {
    /// The account to create for this entry.
    pub fn to_new_account(&self, default_currency: u32) -> Result<NewAccount, StoreError> {
        let mut ids = Vec::new();
        for s in &self.ids {
            ids.push(SubscriberId::parse(s).ok_or_else(|| {
                StoreError::Config(format!(
                    "bad subscription id `{s}` (expected kind:data, kind one of e164, imsi, sip, nai, private)"
                ))
            })?);
        }
        if ids.is_empty() {
            return Err(StoreError::Config(format!(
                "account `{}` has no ids",
                self.name
            )));
        }
        if self.balance < 0 {
            return Err(StoreError::Config(format!(
                "account `{}` has a negative balance",
                self.name
            )));
        }
        Ok(NewAccount {
            name: self.name.clone(),
            ids,
            balance: self.balance,
            currency: self.currency.unwrap_or(default_currency),
        })
    }
}

/// Parses the text of an accounts file (checking every id).
pub fn parse_accounts(text: &str) -> Result<AccountsFile, StoreError> {
    let file: AccountsFile =
        toml::from_str(text).map_err(|e| StoreError::Config(format!("accounts file: {e}")))?;
    for a in &file.accounts {
        a.to_new_account(file.currency)?;
    }
    Ok(file)
}

/// Reads and parses an accounts file.
pub fn load_accounts_file(path: &std::path::Path) -> Result<AccountsFile, StoreError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StoreError::Config(format!("{}: {e}", path.display())))?;
    parse_accounts(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocs::store::IdKind;

    #[test]
    fn parses_the_documented_example() {
        let f = parse_accounts(
            r#"
currency = 978
[[account]]
name = "alice"
ids = ["e164:491701234567", "imsi:262011234567890"]
balance = 10000
[[account]]
ids = ["sip:sip:bob@example.net"]
balance = 500
currency = 840
"#,
        )
        .unwrap();
        assert_eq!(f.accounts.len(), 2);
        let bob = f.accounts[1].to_new_account(f.currency).unwrap();
        assert_eq!(bob.currency, 840);
        assert_eq!(
            bob.ids[0],
            SubscriberId::new(IdKind::SipUri, "sip:bob@example.net")
        );
        assert!(parse_accounts("[[account]]\nids=[\"foo:1\"]\nbalance=1\n").is_err());
        assert!(parse_accounts("[[account]]\nids=[]\nbalance=1\n").is_err());
    }
}
