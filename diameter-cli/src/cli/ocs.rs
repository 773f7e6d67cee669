//! `diameter ocs`: operator actions on a running online charging server, through its admin
//! endpoint (`diameter serve ocs --admin ADDR`).

use super::admin::{call, path, AdminFlags};
use super::exit::CliResult;
use super::style::Style;
use diameter_apps::ocs::server::ReAuthScope;

/// Arguments of `diameter ocs`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter serve ocs --auto-provision 100 --admin 127.0.0.1:8080
  diameter ocs reauth 'pgw.example.net;1700000000;1' --admin 127.0.0.1:8080
  diameter ocs abort 'pgw.example.net;1700000000;1' --admin 8080 --json

The server sends the request to the client of the session and prints its answer:
  RAA Result-Code 2002 DIAMETER_LIMITED_SUCCESS

Exit codes: 0 for a 2xxx Result-Code, 1 for another one or an unknown session,
3 when the admin endpoint cannot be reached or the client did not answer.")]
pub struct OcsArgs {
    /// The action.
    #[command(subcommand)]
    pub action: OcsAction,
}

/// The operator actions of the OCS.
#[derive(Debug, clap::Subcommand)]
pub enum OcsAction {
    /// Re-authorize a session: RAR (Re-Auth-Request-Type AUTHORIZE_ONLY) to its client,
    /// which answers RAA and then asks for quota again with a CCR-UPDATE.
    #[command(after_help = "\
Examples:
  diameter ocs reauth 'pgw.example.net;1700000000;1' --admin 127.0.0.1:8080
  diameter ocs reauth 'pgw.example.net;1700000000;1' --rating-group 100 --admin 8080
  diameter ocs reauth 'pgw.example.net;1700000000;1' --admin 8080 --json")]
    Reauth(ReauthArgs),
    /// Abort a session: ASR to its client, which answers ASA and ends the session with a
    /// CCR-TERMINATION.
    #[command(after_help = "\
Examples:
  diameter ocs abort 'pgw.example.net;1700000000;1' --admin 127.0.0.1:8080")]
    Abort(SessionArgs),
}

/// A session and the admin endpoint.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// The Session-Id of an open credit-control session (quote it: it contains ';').
    #[arg(value_name = "SESSION_ID")]
    pub session_id: String,
    /// The admin endpoint.
    #[command(flatten)]
    pub admin: AdminFlags,
}

/// A session, what to re-authorize in it, and the admin endpoint.
#[derive(Debug, clap::Args)]
pub struct ReauthArgs {
    /// The session and the admin endpoint.
    #[command(flatten)]
    pub session: SessionArgs,
    /// Re-authorize only this rating group (Rating-Group in the RAR).
    #[arg(long, value_name = "N")]
    pub rating_group: Option<u32>,
    /// Re-authorize only this service (Service-Identifier in the RAR).
    #[arg(long = "service-id", value_name = "N")]
    pub service_identifier: Option<u32>,
    /// Re-authorize only the services drawing on this credit pool (G-S-U-Pool-Identifier).
    #[arg(long = "pool", value_name = "N")]
    pub g_s_u_pool_identifier: Option<u32>,
    /// Re-authorize only this sub-session (CC-Sub-Session-Id).
    #[arg(long = "sub-session", value_name = "N")]
    pub cc_sub_session_id: Option<u64>,
}

impl ReauthArgs {
    /// What to re-authorize (RFC 8506 §5.5); the whole session when no flag is given.
    pub fn scope(&self) -> ReAuthScope {
        ReAuthScope {
            cc_sub_session_id: self.cc_sub_session_id,
            g_s_u_pool_identifier: self.g_s_u_pool_identifier,
            service_identifier: self.service_identifier,
            rating_group: self.rating_group,
        }
    }
}

/// Runs `diameter ocs`.
pub fn run(args: &OcsArgs, style: &Style) -> CliResult {
    let (a, verb, body) = match &args.action {
        OcsAction::Reauth(r) => {
            let scope = r.scope();
            let body = if scope.is_whole_session() {
                String::new()
            } else {
                serde_json::to_string(&scope).unwrap_or_default()
            };
            (&r.session, "reauth", body)
        }
        OcsAction::Abort(a) => (a, "abort", String::new()),
    };
    call(
        &a.admin,
        &path(&["ocs", "sessions", &a.session_id, verb]),
        body.as_bytes(),
        style,
    )
}
