//! `diameter send`: one request, built by name from a file, flags and defaults; the answer
//! printed decoded; the exit code from its Result-Code.

use super::build::defaults::{self, CcrOptions, Identity};
use super::build::{describe, Request};
use super::client::{Client, ClientOptions};
use super::decode::{json, text, tree, Source};
use super::exit::{CliError, CliResult, FAILURE, OK};
use super::style::Style;
use super::{duration, hexin};
use diameter_core::node::RequestError;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `diameter send`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter send ccr                                    # CCR-I to 127.0.0.1:3868 with defaults
  diameter send ccr --peer 10.0.0.5:3868 --msisdn 46701234567 --octets 5000000
  diameter send ccr --type termination --number 2 --avp Session-Id='client;1;42' \\
      --avp Multiple-Services-Credit-Control.Used-Service-Unit.CC-Total-Octets=123456
  diameter send ccr --avp Multiple-Services-Credit-Control.Requested-Service-Unit.CC-Total-Octets=1000
  diameter send uar --user alice@example.net
  diameter send acr --type stop --number 2 --avp Session-Id='sbc;1;7'
  diameter send --file request.toml --json
  diameter send ccr --dry-run --hex                    # build and print, do not connect

A request file (TOML, or JSON starting with {):
    command = \"CCR\"
    [avps]
    CC-Request-Type = \"INITIAL_REQUEST\"
    [avps.Multiple-Services-Credit-Control.Requested-Service-Unit]
    CC-Total-Octets = 1000

Values are written by type: numbers, enum names (INITIAL_REQUEST) or numbers, IP
addresses, dates (2026-01-01T00:00:00Z, now), 0x-hex for OctetString. A path Name[1]
picks or creates the second occurrence. Session-Id, Origin-Host/Realm,
Destination-Realm and the application AVPs are filled in when absent.

Exit status: 0 for a 2xxx Result-Code, 1 for any other, 2 for a bad request
description, 3 when the peer cannot be reached or does not answer.")]
pub struct SendArgs {
    /// The command: name, abbreviation (ccr, uar, ...) or code; optional with --file.
    pub command: Option<String>,
    /// The peer to connect to.
    #[arg(long, default_value = "127.0.0.1:3868", value_name = "ADDR:PORT")]
    pub peer: String,
    /// A request written as TOML or JSON.
    #[arg(long, short, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set an AVP: PATH=VALUE, with dotted paths into grouped AVPs (repeatable).
    #[arg(long = "avp", value_name = "PATH=VALUE")]
    pub avps: Vec<String>,
    /// Add another occurrence of an AVP: PATH=VALUE (repeatable).
    #[arg(long = "add", value_name = "PATH=VALUE")]
    pub adds: Vec<String>,
    /// Our Origin-Host.
    #[arg(long, default_value = "client.localdomain", value_name = "FQDN")]
    pub origin_host: String,
    /// Our Origin-Realm [default: the Origin-Host without its first label].
    #[arg(long, value_name = "REALM")]
    pub origin_realm: Option<String>,
    /// Destination-Realm [default: our Origin-Realm].
    #[arg(long, value_name = "REALM")]
    pub destination_realm: Option<String>,
    /// Destination-Host.
    #[arg(long, value_name = "FQDN")]
    pub destination_host: Option<String>,
    /// CCR: CC-Request-Type (initial, update, termination, event or a number); ACR:
    /// Accounting-Record-Type (start, interim, stop, event).
    #[arg(long = "type", default_value = "initial", value_name = "TYPE")]
    pub request_type: String,
    /// CCR: CC-Request-Number; ACR: Accounting-Record-Number.
    #[arg(long, default_value_t = 0)]
    pub number: u32,
    /// CCR: the subscriber's E.164 number (Subscription-Id).
    #[arg(long, default_value = "46700000001")]
    pub msisdn: String,
    /// CCR: CC-Total-Octets to request.
    #[arg(long, default_value_t = 1_000_000)]
    pub octets: u64,
    /// UAR: the user (name@realm).
    #[arg(long, default_value = "alice")]
    pub user: String,
    /// Time allowed to connect and for the answer.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    pub timeout: Duration,
    /// Print the answer (and the request with --show-request) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also print the request sent (with --json: {"request": .., "answer": ..}).
    #[arg(long)]
    pub show_request: bool,
    /// Build and print the request without connecting.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the request as hex.
    #[arg(long)]
    pub hex: bool,
}

/// The CC-Request-Type for the short names of `--type`.
fn request_type(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "initial" | "i" => "INITIAL_REQUEST".into(),
        "update" | "u" => "UPDATE_REQUEST".into(),
        "termination" | "terminate" | "t" => "TERMINATION_REQUEST".into(),
        "event" | "e" => "EVENT_REQUEST".into(),
        _ => t.to_owned(),
    }
}

/// ACR: Accounting-Record-Type from `--type` (start, interim, stop, event; the CCR
/// default `initial` means start), Accounting-Record-Number from `--number`.
fn acr_defaults(req: &mut Request, kind: &str, number: u32) -> Result<(), String> {
    let kind = match kind.to_ascii_lowercase().as_str() {
        "start" | "initial" | "s" => "START_RECORD".to_owned(),
        "interim" | "update" => "INTERIM_RECORD".to_owned(),
        "stop" | "termination" => "STOP_RECORD".to_owned(),
        "event" | "e" => "EVENT_RECORD".to_owned(),
        _ => kind.to_owned(),
    };
    req.default("Accounting-Record-Type", &kind)?;
    req.default("Accounting-Record-Number", &number.to_string())?;
    req.default("Acct-Application-Id", &req.application_id.to_string())?;
    req.default("Event-Timestamp", "now")
}

fn split_assignment(a: &str) -> Result<(&str, &str), CliError> {
    a.split_once('=').ok_or_else(|| {
        CliError::usage(format!(
            "--avp {a:?}: write PATH=VALUE, such as Rating-Group=1 or A.B.C=5"
        ))
    })
}

/// Builds the request from the file, the flags and the defaults.
pub fn build_request(args: &SendArgs, session_id: &str) -> Result<Request, CliError> {
    let desc = match &args.file {
        Some(p) => Some(describe::read(p)?),
        None => None,
    };
    let command = match (&args.command, desc.as_ref().and_then(|d| d.command)) {
        (Some(c), _) => describe::find_command(c).map_err(CliError::usage)?,
        (None, Some(c)) => c,
        (None, None) => return Err(CliError::usage(
            "say which command to send: `diameter send ccr`, or `command = \"CCR\"` in the --file",
        )),
    };
    let mut req = Request::new(command);
    if let Some(d) = &desc {
        if let Some(app) = d.application {
            req.application_id = app;
        }
        d.apply(&mut req)?;
    }
    for a in &args.avps {
        let (path, value) = split_assignment(a)?;
        req.set(path, value, false)
            .map_err(|e| CliError::usage(format!("--avp {e}")))?;
    }
    for a in &args.adds {
        let (path, value) = split_assignment(a)?;
        req.set(path, value, true)
            .map_err(|e| CliError::usage(format!("--add {e}")))?;
    }
    let origin_realm = args.origin_realm.clone().unwrap_or_else(|| {
        args.origin_host
            .split_once('.')
            .map_or("localdomain".into(), |(_, r)| r.to_owned())
    });
    let id = Identity {
        origin_host: args.origin_host.clone(),
        destination_realm: args
            .destination_realm
            .clone()
            .unwrap_or_else(|| origin_realm.clone()),
        origin_realm,
        destination_host: args.destination_host.clone(),
    };
    let fill = |req: &mut Request| -> Result<(), String> {
        defaults::base(req, &id, session_id)?;
        match command.short {
            "CC" => defaults::ccr(
                req,
                &CcrOptions {
                    request_type: request_type(&args.request_type),
                    request_number: args.number,
                    msisdn: args.msisdn.clone(),
                    octets: args.octets,
                },
            ),
            "UA" => defaults::uar(req, &args.user, &id.destination_realm),
            "AC" => acr_defaults(req, &args.request_type, args.number),
            _ => Ok(()),
        }
    };
    fill(&mut req).map_err(CliError::usage)?;
    let missing = req.missing();
    if !missing.is_empty() {
        tracing::warn!(
            "the request lacks required AVPs: {} (sent anyway)",
            missing.join(", ")
        );
        eprintln!(
            "warning: the request lacks required AVPs: {}",
            missing.join(", ")
        );
    }
    Ok(req)
}

fn print_message(bytes: bytes::Bytes, as_json: bool, style: &Style) -> Option<tree::MessageNode> {
    match tree::build(bytes, 0) {
        Ok(m) => {
            if as_json {
                let v = json::message(&m, &Source::default());
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", text::render(&m, &Source::default(), style));
            }
            Some(m)
        }
        Err(p) => {
            eprintln!("error: the message does not decode: {p}");
            None
        }
    }
}

/// Runs `diameter send`.
pub fn run(args: &SendArgs, style: &Style) -> CliResult {
    if args.dry_run {
        let req = build_request(args, &format!("{};1;1", args.origin_host))?;
        let msg = req.to_message(1, 1);
        if args.hex {
            println!("{}", hexin::encode(&msg.to_bytes()));
        } else {
            print_message(msg.to_bytes(), args.json, style);
        }
        return Ok(OK);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the runtime: {e}")))?;
    rt.block_on(send(args, style))
}

async fn send(args: &SendArgs, style: &Style) -> CliResult {
    // Build once first so that description errors come before any connection.
    let probe = build_request(args, "probe")?;
    let info = diameter::dict::DICTIONARY
        .applications
        .iter()
        .find(|a| a.id == probe.application_id);
    let acct = info.is_some_and(|a| a.accounting);
    let client = Client::connect(&ClientOptions {
        peer: args.peer.clone(),
        origin_host: args.origin_host.clone(),
        origin_realm: args.origin_realm.clone().unwrap_or_else(|| {
            args.origin_host
                .split_once('.')
                .map_or("localdomain".into(), |(_, r)| r.to_owned())
        }),
        applications: vec![(probe.application_id, acct)],
        connect_timeout: args.timeout,
        max_pending: 16,
    })
    .await?;
    let req = build_request(args, &client.session_id())?;
    let msg = req.to_message(0, client.node().next_end_to_end());
    // With --json both go into one object, printed with the answer.
    let request_json = match (args.show_request, args.json) {
        (true, true) => tree::build(msg.to_bytes(), 0)
            .ok()
            .map(|m| json::message(&m, &Source::default())),
        (true, false) => {
            print_message(msg.to_bytes(), false, style);
            println!();
            None
        }
        _ => None,
    };
    let result = client.node().request_with_timeout(msg, args.timeout).await;
    client.close().await;
    let answer = match result {
        Ok(a) => a,
        Err(RequestError::Protocol { answer, .. }) => *answer,
        Err(RequestError::Timeout) => {
            return Err(CliError::network(format!(
                "no answer from {} within {:?}",
                args.peer, args.timeout
            )))
        }
        Err(e) => return Err(CliError::network(format!("the request failed: {e}"))),
    };
    let m = match request_json {
        Some(request) => {
            let Ok(m) = tree::build(answer.to_bytes(), 0) else {
                eprintln!("error: the answer does not decode");
                return Ok(FAILURE);
            };
            let both = serde_json::json!({
                "request": request,
                "answer": json::message(&m, &Source::default()),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&both).unwrap_or_default()
            );
            m
        }
        None => match print_message(answer.to_bytes(), args.json, style) {
            Some(m) => m,
            None => return Ok(FAILURE),
        },
    };
    match m.result_code() {
        Some(rc) if (2000..3000).contains(&rc) => Ok(OK),
        Some(rc) => {
            let name = diameter::dict::DICTIONARY
                .result_code_name(rc)
                .unwrap_or("unknown");
            eprintln!("error: the answer's Result-Code is {rc} ({name})");
            Ok(FAILURE)
        }
        None => {
            eprintln!("error: the answer has no Result-Code");
            Ok(FAILURE)
        }
    }
}
