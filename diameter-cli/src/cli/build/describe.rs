//! Requests written as TOML or JSON files:
//!
//! ```toml
//! command = "CCR"                # name, abbreviation or code
//! application = 4                # optional: the command's own application by default
//! [avps]
//! CC-Request-Type = "INITIAL_REQUEST"
//! Subscription-Id = [{ Subscription-Id-Type = "END_USER_E164", Subscription-Id-Data = "46700123456" }]
//! [avps.Multiple-Services-Credit-Control.Requested-Service-Unit]
//! CC-Total-Octets = 1000
//! ```
//!
//! Tables are grouped AVPs, arrays are repeated AVPs, other values are leaves written as
//! for `--avp` (numbers, enum names, addresses, dates, `0x` hex for OctetStrings).

use super::tree::Request;
use crate::cli::config::ConfigFile;
use crate::cli::exit::CliError;
use diameter::dict::DICTIONARY;
use diameter_core::dictionary::CommandInfo;
use serde_json::Value;

/// A parsed description: the command it names (if any), its application and its AVPs.
pub struct Description {
    /// The `command` key.
    pub command: Option<&'static CommandInfo>,
    /// The `application` key.
    pub application: Option<u32>,
    /// The `avps` table.
    pub avps: Value,
    file: ConfigFile,
}

/// Reads a TOML or JSON description (JSON when the file starts with `{`).
pub fn read(path: &std::path::Path) -> Result<Description, CliError> {
    let file = ConfigFile::read(path)?;
    let root: Value = if file.text.trim_start().starts_with('{') {
        serde_json::from_str(&file.text).map_err(|e| {
            CliError::usage(format!(
                "{}:{}:{}: {e}\n  = fix: correct the JSON at the place shown",
                path.display(),
                e.line(),
                e.column()
            ))
        })?
    } else {
        let t: toml::Value = file.parse(EXAMPLE)?;
        serde_json::to_value(t).map_err(|e| CliError::usage(e.to_string()))?
    };
    let Value::Object(mut map) = root else {
        return Err(CliError::usage(format!(
            "{}: the description must be a table with `command` and `avps`",
            path.display()
        )));
    };
    let command = match map.remove("command") {
        None => None,
        Some(Value::String(s)) => {
            Some(find_command(&s).map_err(|e| file_error(&file, "command", &e))?)
        }
        Some(Value::Number(n)) => {
            Some(find_command(&n.to_string()).map_err(|e| file_error(&file, "command", &e))?)
        }
        Some(_) => {
            return Err(file_error(
                &file,
                "command",
                "command must be a name or a code",
            ))
        }
    };
    let application = match map.remove("application") {
        None => None,
        Some(Value::Number(n)) => Some(n.as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(
            || {
                file_error(
                    &file,
                    "application",
                    "application must be an Application-Id",
                )
            },
        )?),
        Some(_) => {
            return Err(file_error(
                &file,
                "application",
                "application must be a number (an Application-Id)",
            ))
        }
    };
    let avps = map
        .remove("avps")
        .unwrap_or(Value::Object(Default::default()));
    if let Some(k) = map.keys().next() {
        return Err(file_error(
            &file,
            k,
            &format!("unknown key `{k}`: the keys are command, application and avps"),
        ));
    }
    Ok(Description {
        command,
        application,
        avps,
        file,
    })
}

/// An example description, for error messages.
pub const EXAMPLE: &str = r#"    command = "CCR"
    [avps]
    CC-Request-Type = "INITIAL_REQUEST"
    [avps.Multiple-Services-Credit-Control.Requested-Service-Unit]
    CC-Total-Octets = 1000"#;

/// A command by name, abbreviation or code.
pub fn find_command(key: &str) -> Result<&'static CommandInfo, String> {
    let key = key.trim();
    let found = match key.parse::<u32>() {
        Ok(code) => DICTIONARY.commands.iter().find(|c| c.code == code),
        Err(_) => DICTIONARY.command_by_name(key),
    };
    found.ok_or_else(|| format!("no command is named {key:?} (see `diameter dict search`)"))
}

/// An error about a key, pointing at the first line that mentions it.
fn file_error(file: &ConfigFile, key: &str, message: &str) -> CliError {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    let at = file
        .text
        .find(&format!("{leaf} "))
        .or_else(|| file.text.find(&format!("{leaf}=")))
        .or_else(|| file.text.find(&format!("\"{leaf}\"")))
        .or_else(|| file.text.find(leaf));
    file.error(
        at.map(|a| a..a + leaf.len()),
        message,
        "write the value as `diameter dict avp NAME` describes it",
    )
}

impl Description {
    /// Applies the `avps` table to a request.
    pub fn apply(&self, req: &mut Request) -> Result<(), CliError> {
        apply(req, "", &self.avps)
            .map_err(|(path, e)| file_error(&self.file, &path, &format!("avps.{e}")))
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        _ => None,
    }
}

fn apply(req: &mut Request, prefix: &str, v: &Value) -> Result<(), (String, String)> {
    let Value::Object(map) = v else {
        return Err((prefix.to_owned(), "expected a table of AVPs".into()));
    };
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(_) => apply(req, &path, v)?,
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Object(_) => apply(req, &format!("{path}[{i}]"), item)?,
                        other => {
                            let text = scalar(other)
                                .ok_or_else(|| (path.clone(), "arrays cannot nest".to_owned()))?;
                            req.set(&path, &text, true).map_err(|e| (path.clone(), e))?;
                        }
                    }
                }
            }
            other => {
                let text = scalar(other).ok_or_else(|| (path.clone(), "no value".to_owned()))?;
                req.set(&path, &text, false)
                    .map_err(|e| (path.clone(), e))?;
            }
        }
    }
    Ok(())
}
