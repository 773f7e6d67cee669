//! The `diameter` command line: argument parsing, dispatch and the subcommands.
//!
//! Each subcommand lives in its own module with its clap arguments and a `run` function
//! returning a [`exit::CliResult`]; [`run`] turns that into the process exit code.

pub mod admin;
pub mod bench;
pub mod build;
pub mod client;
pub mod config;
pub mod decode;
pub mod dict;
pub mod duration;
pub mod exit;
pub mod hexin;
pub mod logging;
pub mod ocs;
pub mod pcap;
pub mod send;
pub mod serve;
pub mod sip;
pub mod style;
pub mod suggest;
pub mod timefmt;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use style::{ColorChoice, Role, Style};

/// `diameter`: a Diameter (RFC 6733) toolbox and server.
#[derive(Debug, Parser)]
#[command(
    name = "diameter",
    version,
    about = "Diameter (RFC 6733) servers, client, decoder, dictionary and load generator",
    after_help = "\
Examples:
  diameter serve ocs --auto-provision 100          # online charging server on :3868
  diameter send ccr --peer 127.0.0.1:3868          # one CCR-I, answer printed decoded
  diameter decode capture.pcapng                   # Diameter in a capture, as a tree
  diameter dict avp Multiple-Services-Credit-Control
  diameter bench --peer 127.0.0.1:3868 --duration 10s
  diameter ocs reauth 'pgw;1;1' --admin 127.0.0.1:8080   # RAR through `serve ocs --admin`
  diameter sip deregister alice@example.com --admin 127.0.0.1:8080

Logging: RUST_LOG=debug (or -v, -vv) writes logs to standard error.
Colour: only when standard output is a terminal; NO_COLOR or --color never turns it off.

Exit codes:
  0  success
  1  failure: non-2xxx Result-Code, malformed input, timeouts in bench, nothing found
  2  usage or configuration error (bad flag, bad value, invalid config file)
  3  network or peer error: cannot connect, CER refused, no answer"
)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
    /// When to use colour.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub color: ColorChoice,
    /// More logging on standard error (-v info, -vv debug, -vvv trace); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a server: the online charging server, the SIP server or a relay agent.
    Serve(serve::ServeArgs),
    /// Send one request to a peer and print the answer.
    Send(send::SendArgs),
    /// Decode hex, raw bytes or a pcap/pcapng capture into a readable tree.
    Decode(decode::DecodeArgs),
    /// Load a peer with requests and report answers per second and latency.
    Bench(bench::BenchArgs),
    /// Look up AVPs, commands, applications and Result-Codes in the dictionaries.
    Dict(dict::DictArgs),
    /// Operator actions on a running OCS (RAR, ASR) through its admin endpoint.
    Ocs(ocs::OcsArgs),
    /// Operator actions on a running SIP AAA server (RTR, PPR) through its admin endpoint.
    Sip(sip::SipArgs),
}

/// Runs the command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let style = Style::new(cli.color);
    let default_verbosity = match cli.command {
        Command::Serve(_) => cli.verbose.max(1),
        _ => cli.verbose,
    };
    logging::init(default_verbosity);
    let result = match &cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Send(a) => send::run(a, &style),
        Command::Decode(a) => decode::run(a, &style),
        Command::Dict(a) => dict::run(a, &style),
        Command::Bench(a) => bench::run(a),
        Command::Ocs(a) => ocs::run(a, &style),
        Command::Sip(a) => sip::run(a, &style),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let err_style = Style::new_stderr(cli.color);
            eprintln!("{} {}", err_style.paint(Role::Error, "error:"), e.message);
            e.exit_code()
        }
    }
}
