//! `diameter dict`: the compiled dictionaries, looked up by name or code.

pub mod grammar;
pub mod show;

use super::exit::{CliError, CliResult, OK};
use super::style::Style;
use diameter::dict::DICTIONARY;
use diameter_core::dictionary::{ApplicationInfo, AvpInfo, CommandInfo};

/// Arguments of `diameter dict`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter dict avp Session-Id
  diameter dict avp 263
  diameter dict avp 10415:873          # vendor 10415 (3GPP), code 873
  diameter dict command CCR            # name, abbreviation or code
  diameter dict app 4                  # an application's commands
  diameter dict search credit
  diameter dict result-code 4012
  diameter dict apps --json

Exit status: 0 found, 1 nothing matched.")]
pub struct DictArgs {
    /// What to look up.
    #[command(subcommand)]
    pub what: DictCommand,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The look-ups of `diameter dict`.
#[derive(Debug, clap::Subcommand)]
pub enum DictCommand {
    /// An AVP by name, code, or VENDOR:CODE; shows type, flags, enum values and grammar.
    #[command(
        after_help = "Examples:\n  diameter dict avp CC-Request-Type\n  diameter dict avp 416\n  diameter dict avp 10415:873"
    )]
    Avp {
        /// Name (case-insensitive), code, or VENDOR:CODE.
        key: String,
    },
    /// A command by name, abbreviation (CCR, CCA, CC) or code; shows both grammars.
    #[command(
        after_help = "Examples:\n  diameter dict command Credit-Control\n  diameter dict command CER\n  diameter dict command 272"
    )]
    Command {
        /// Name, abbreviation or code.
        key: String,
    },
    /// An application by name or Application-Id, with its commands.
    #[command(after_help = "Examples:\n  diameter dict app 4\n  diameter dict app sip")]
    App {
        /// Application-Id or (part of) the name.
        key: String,
    },
    /// Every application.
    #[command(after_help = "Example:\n  diameter dict apps")]
    Apps,
    /// A Result-Code by value or name.
    #[command(
        after_help = "Examples:\n  diameter dict result-code 5030\n  diameter dict result-code DIAMETER_SUCCESS"
    )]
    ResultCode {
        /// Value or name.
        key: String,
    },
    /// AVPs, commands, applications and Result-Codes whose name contains a text.
    #[command(
        after_help = "Examples:\n  diameter dict search octets\n  diameter dict search Service-Unit"
    )]
    Search {
        /// The text (case-insensitive).
        text: String,
    },
}

/// Runs `diameter dict`.
pub fn run(args: &DictArgs, style: &Style) -> CliResult {
    let out = match &args.what {
        DictCommand::Avp { key } => {
            let found = find_avps(key)?;
            show::avps(&found, args.json, style)
        }
        DictCommand::Command { key } => {
            let found = find_commands(key);
            if found.is_empty() {
                return Err(not_found("command", key));
            }
            show::commands(&found, args.json, style)
        }
        DictCommand::App { key } => {
            let found = find_apps(key);
            if found.is_empty() {
                return Err(not_found("application", key));
            }
            show::apps(&found, true, args.json, style)
        }
        DictCommand::Apps => {
            let all: Vec<_> = DICTIONARY.applications.iter().collect();
            show::apps(&all, false, args.json, style)
        }
        DictCommand::ResultCode { key } => {
            let found: Vec<_> = DICTIONARY
                .result_codes
                .iter()
                .filter(|r| r.value.to_string() == *key || r.name.eq_ignore_ascii_case(key))
                .collect();
            if found.is_empty() {
                return Err(not_found("Result-Code", key));
            }
            show::result_codes(&found, args.json, style)
        }
        DictCommand::Search { text } => {
            let out = show::search(text, args.json, style);
            if out.is_none() {
                return Err(CliError::failure(format!("nothing matches {text:?}")));
            }
            out.unwrap_or_default()
        }
    };
    print!("{out}");
    Ok(OK)
}

fn not_found(what: &str, key: &str) -> CliError {
    let names: Vec<&str> = match what {
        "AVP" => DICTIONARY.avps.iter().map(|a| a.name).collect(),
        "command" => DICTIONARY.commands.iter().map(|c| c.name).collect(),
        _ => Vec::new(),
    };
    let close = super::suggest::closest(key, names.into_iter());
    let hint = if close.is_empty() {
        format!("try `diameter dict search {key}`")
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    CliError::failure(format!("no {what} matches {key:?}; {hint}"))
}

/// AVPs for a name, a code (all vendors, vendor 0 first) or VENDOR:CODE.
pub fn find_avps(key: &str) -> Result<Vec<&'static AvpInfo>, CliError> {
    let key = key.trim();
    let found: Vec<&'static AvpInfo> = if let Some((v, c)) = key.split_once(':') {
        let (Ok(vendor), Ok(code)) = (v.trim().parse::<u32>(), c.trim().parse::<u32>()) else {
            return Err(CliError::usage(format!(
                "{key:?} is not VENDOR:CODE (two numbers, such as 10415:873)"
            )));
        };
        DICTIONARY.avp(code, vendor).into_iter().collect()
    } else if let Ok(code) = key.parse::<u32>() {
        DICTIONARY.avps.iter().filter(|a| a.code == code).collect()
    } else {
        DICTIONARY
            .avps
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(key))
            .collect()
    };
    if found.is_empty() {
        return Err(not_found("AVP", key));
    }
    Ok(found)
}

/// Commands by name, abbreviation or code.
pub fn find_commands(key: &str) -> Vec<&'static CommandInfo> {
    let key = key.trim();
    if let Ok(code) = key.parse::<u32>() {
        return DICTIONARY
            .commands
            .iter()
            .filter(|c| c.code == code)
            .collect();
    }
    DICTIONARY.command_by_name(key).into_iter().collect()
}

/// Applications by id or name substring.
pub fn find_apps(key: &str) -> Vec<&'static ApplicationInfo> {
    let key = key.trim();
    if let Ok(id) = key.parse::<u32>() {
        return DICTIONARY
            .applications
            .iter()
            .filter(|a| a.id == id)
            .collect();
    }
    let k = key.to_ascii_lowercase();
    DICTIONARY
        .applications
        .iter()
        .filter(|a| a.name.to_ascii_lowercase().contains(&k))
        .collect()
}
