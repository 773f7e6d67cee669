//! `diameter serve`: the servers, configured by flags and TOML files.

pub mod acct;
pub mod admin;
pub mod node;
pub mod ocs;
pub mod relay;
pub mod signal;
pub mod sip;
pub mod template;

use super::exit::CliResult;

/// Arguments of `diameter serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter serve ocs --auto-provision 100
  diameter serve sip --users users.toml
  diameter serve relay --config dra.toml
  diameter serve acct --records -

Every server takes --listen, --origin-host, --origin-realm and --config FILE; flags
override the file. --check validates the configuration and prints it without serving.
Configuration errors name the file, line and column, and say how to fix them (exit 2).")]
pub struct ServeArgs {
    /// Which server.
    #[command(subcommand)]
    pub server: Server,
}

/// The servers.
#[derive(Debug, clap::Subcommand)]
pub enum Server {
    /// The online charging server (Gy/Ro credit control, RFC 4006/8506).
    Ocs(ocs::OcsArgs),
    /// The SIP AAA server (RFC 4740).
    Sip(sip::SipArgs),
    /// A relay, proxy or redirect agent driven by a routing table.
    Relay(relay::RelayArgs),
    /// The accounting server (RFC 6733 base accounting, a CDF): ACR/ACA, charging records.
    Acct(acct::AcctArgs),
    /// A responder answering every request from a template, undecoded (for benchmarks).
    Template(template::TemplateArgs),
}

/// Runs `diameter serve`.
pub fn run(args: &ServeArgs) -> CliResult {
    no_transparent_huge_pages();
    match &args.server {
        Server::Ocs(a) => ocs::run(a),
        Server::Sip(a) => sip::run(a),
        Server::Relay(a) => relay::run(a),
        Server::Acct(a) => acct::run(a),
        Server::Template(a) => template::run(a),
    }
}

/// Turns transparent huge pages off for the server's process. mimalloc asks for them on
/// its arenas, and the OCS then stalled for milliseconds at a time while the kernel
/// faulted in and zeroed 2 MiB pages during a charge: at half of the maximum rate its p99
/// latency was 13-25 ms with them and 6-8 ms without, for about 5% more CPU per CCR at
/// full rate (README, "Session 9").
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours; a
    // kernel without it returns an error, which leaves things as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
