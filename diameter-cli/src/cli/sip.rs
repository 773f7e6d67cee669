//! `diameter sip`: operator actions on a running SIP AAA server, through its admin endpoint
//! (`diameter serve sip --admin ADDR`).

use super::admin::{call, path, AdminFlags};
use super::config::ConfigFile;
use super::exit::{CliError, CliResult};
use super::style::Style;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// An example profile file, shown in help and in errors.
pub const PROFILE_EXAMPLE: &str = r#"    accounting_servers = ["aaa://acct.example.com:3868"]      # optional
    credit_control_servers = ["aaa://ocs.example.com:3868"]   # optional

    [[profile]]                         # SIP-User-Data, one per data type
    type = "application/xml"
    contents = "<services><voicemail/></services>""#;

/// Arguments of `diameter sip`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter serve sip --users users.toml --admin 127.0.0.1:8080
  diameter sip deregister alice@example.com --admin 127.0.0.1:8080
  diameter sip deregister alice@example.com --reason sip-server-change --text 'maintenance'
  diameter sip push-profile alice@example.com --profile alice.toml --admin 127.0.0.1:8080

The server sends the request to every SIP server serving the user and prints each answer:
  RTA Result-Code 2001 DIAMETER_SUCCESS

Exit codes: 0 for 2xxx Result-Codes, 1 for another one, an unknown user or a user no SIP
server serves, 2 for a bad profile file, 3 when the admin endpoint cannot be reached or the
SIP server did not answer.")]
pub struct SipArgs {
    /// The action.
    #[command(subcommand)]
    pub action: SipAction,
}

/// The operator actions of the SIP AAA server.
#[derive(Debug, clap::Subcommand)]
pub enum SipAction {
    /// Deregister a user: RTR (with SIP-Deregistration-Reason) to each SIP server serving it.
    #[command(after_help = "\
Examples:
  diameter sip deregister alice@example.com --admin 127.0.0.1:8080
  diameter sip deregister alice@example.com --aor sip:alice@example.com --reason remove-sip-server
  diameter sip deregister alice@example.com --reason 2 --text 'moving you' --json

Reasons (SIP-Reason-Code): permanent-termination (0, the default), new-sip-server-assigned (1),
sip-server-change (2), remove-sip-server (3).")]
    Deregister(DeregisterArgs),
    /// Push a new profile or accounting addresses: PPR to each SIP server serving the user.
    #[command(after_help = concat!("\
Examples:
  diameter sip push-profile alice@example.com --profile alice.toml --admin 127.0.0.1:8080
  diameter sip push-profile alice@example.com --accounting-server aaa://acct2.example.com

What the profile file leaves out stays as stored. Profile file (TOML, or the same keys in JSON):
", r#"    accounting_servers = ["aaa://acct.example.com:3868"]      # optional
    credit_control_servers = ["aaa://ocs.example.com:3868"]   # optional

    [[profile]]                         # SIP-User-Data, one per data type
    type = "application/xml"
    contents = "<services><voicemail/></services>""#))]
    PushProfile(PushProfileArgs),
}

/// Arguments of `diameter sip deregister`.
#[derive(Debug, clap::Args)]
pub struct DeregisterArgs {
    /// The user (User-Name, as in the users file).
    #[arg(value_name = "USER")]
    pub user: String,
    /// SIP-Reason-Code: a name such as sip-server-change, or its number.
    #[arg(long, value_name = "REASON", value_parser = parse_reason)]
    pub reason: Option<String>,
    /// SIP-Reason-Info: text for the SIP server (and the user).
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
    /// Deregister only this AOR (repeatable) [default: all of the user's].
    #[arg(long = "aor", value_name = "AOR")]
    pub aors: Vec<String>,
    /// The admin endpoint.
    #[command(flatten)]
    pub admin: AdminFlags,
}

/// Arguments of `diameter sip push-profile`.
#[derive(Debug, clap::Args)]
pub struct PushProfileArgs {
    /// The user (User-Name, as in the users file).
    #[arg(value_name = "USER")]
    pub user: String,
    /// The new profile and accounting addresses (TOML or JSON, see below).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Set the SIP-Accounting-Server-URIs (repeatable; replaces the file's).
    #[arg(long = "accounting-server", value_name = "URI")]
    pub accounting_servers: Vec<String>,
    /// Set the SIP-Credit-Control-Server-URIs (repeatable; replaces the file's).
    #[arg(long = "credit-control-server", value_name = "URI")]
    pub credit_control_servers: Vec<String>,
    /// The admin endpoint.
    #[command(flatten)]
    pub admin: AdminFlags,
}

fn parse_reason(text: &str) -> Result<String, String> {
    diameter_apps::admin::parse_reason(text)
        .and_then(|r| r.name())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "{text:?} is not a SIP-Reason-Code: use permanent-termination, \
                 new-sip-server-assigned, sip-server-change or remove-sip-server (or 0-3)"
            )
        })
}

/// One SIP-User-Data entry of a profile file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileItem {
    /// SIP-User-Data-Type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// SIP-User-Data-Contents, as text.
    pub contents: String,
}

/// A profile file, and the body sent to the endpoint.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The profile; absent keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<ProfileItem>>,
    /// SIP-Accounting-Server-URIs; absent keeps the stored ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounting_servers: Option<Vec<String>>,
    /// SIP-Credit-Control-Server-URIs; absent keeps the stored ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_control_servers: Option<Vec<String>>,
}

/// Reads a profile file: JSON when it starts with `{`, else TOML.
pub fn read_profile(path: &std::path::Path) -> Result<ProfileFile, CliError> {
    let file = ConfigFile::read(path).map_err(|_| {
        CliError::usage(format!(
            "{}: cannot read the profile file\n  = fix: check the path given to --profile",
            path.display()
        ))
    })?;
    if file.text.trim_start().starts_with('{') {
        serde_json::from_str(&file.text).map_err(|e| {
            CliError::usage(format!(
                "{}:{}:{}: {e}\n  = fix: use the keys profile, accounting_servers and \
                 credit_control_servers; an example (TOML):\n{PROFILE_EXAMPLE}",
                path.display(),
                e.line(),
                e.column()
            ))
        })
    } else {
        file.parse(PROFILE_EXAMPLE)
    }
}

/// Runs `diameter sip`.
pub fn run(args: &SipArgs, style: &Style) -> CliResult {
    match &args.action {
        SipAction::Deregister(a) => {
            let mut body = serde_json::Map::new();
            if let Some(r) = &a.reason {
                body.insert("reason".into(), r.as_str().into());
            }
            if let Some(t) = &a.text {
                body.insert("text".into(), t.as_str().into());
            }
            if !a.aors.is_empty() {
                body.insert("aors".into(), a.aors.clone().into());
            }
            let body = serde_json::Value::Object(body).to_string();
            call(
                &a.admin,
                &path(&["sip", "users", &a.user, "deregister"]),
                body.as_bytes(),
                style,
            )
        }
        SipAction::PushProfile(a) => {
            let mut profile = match &a.profile {
                Some(p) => read_profile(p)?,
                None => ProfileFile::default(),
            };
            if !a.accounting_servers.is_empty() {
                profile.accounting_servers = Some(a.accounting_servers.clone());
            }
            if !a.credit_control_servers.is_empty() {
                profile.credit_control_servers = Some(a.credit_control_servers.clone());
            }
            if profile.profile.is_none()
                && profile.accounting_servers.is_none()
                && profile.credit_control_servers.is_none()
            {
                return Err(CliError::usage(
                    "nothing to push\n  = fix: give --profile FILE, --accounting-server or \
                     --credit-control-server",
                ));
            }
            let body = serde_json::to_string(&profile)
                .map_err(|e| CliError::failure(format!("cannot encode the profile: {e}")))?;
            call(
                &a.admin,
                &path(&["sip", "users", &a.user, "profile"]),
                body.as_bytes(),
                style,
            )
        }
    }
}
