//! `diameter ocs`: operator actions on a running online charging server, through its admin
//! endpoint (`diameter serve ocs --admin ADDR`).

use super::admin::{call, path, AdminFlags};
use super::exit::CliResult;
use super::style::Style;

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
  diameter ocs reauth 'pgw.example.net;1700000000;1' --admin 8080 --json")]
    Reauth(SessionArgs),
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

/// Runs `diameter ocs`.
pub fn run(args: &OcsArgs, style: &Style) -> CliResult {
    let (a, verb) = match &args.action {
        OcsAction::Reauth(a) => (a, "reauth"),
        OcsAction::Abort(a) => (a, "abort"),
    };
    call(
        &a.admin,
        &path(&["ocs", "sessions", &a.session_id, verb]),
        b"",
        style,
    )
}
