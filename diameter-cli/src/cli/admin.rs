//! The client side of the admin endpoint (see [`diameter_apps::admin`]): what `diameter ocs ...` and
//! `diameter sip ...` share to call a running server and turn its answer into output and an
//! exit code.

use super::exit::{CliError, CliResult, FAILURE, OK};
use super::style::{Role, Style};
use diameter_apps::admin::http::{self, ClientError};
use diameter_apps::admin::token;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The default address of the admin endpoint (as in the configuration examples).
pub const DEFAULT_ADMIN: &str = "127.0.0.1:8080";
/// The environment variable holding the admin token (used when `--admin-token` is not
/// given).
pub const TOKEN_ENV: &str = "DIAMETER_ADMIN_TOKEN";

/// Where the admin endpoint is and how to print its answer.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminFlags {
    /// The server's admin endpoint (its --admin or `admin =`); a port alone means
    /// 127.0.0.1:PORT.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_ADMIN, value_parser = parse_target)]
    pub admin: String,
    /// The file holding the endpoint's bearer token (the server's --admin-token-file)
    /// [default: admin.token in the working directory, where a server started there with
    /// its default store keeps it].
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// The bearer token itself (visible to other local users in the process list: prefer
    /// --admin-token-file or the DIAMETER_ADMIN_TOKEN environment variable).
    #[arg(long, value_name = "TOKEN", conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// Print the endpoint's JSON answer instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Time allowed for the whole call, the peer's answer included.
    #[arg(long, value_name = "DURATION", default_value = "40s", value_parser = super::duration::parse)]
    pub timeout: Duration,
}

/// Normalizes an admin address: `PORT` becomes `127.0.0.1:PORT`, an `http://` prefix and a
/// trailing `/` are dropped. Used as a clap value parser.
pub fn parse_target(text: &str) -> Result<String, String> {
    let t = text.trim();
    let t = t.strip_prefix("http://").unwrap_or(t).trim_end_matches('/');
    if t.parse::<u16>().is_ok() {
        return Ok(format!("127.0.0.1:{t}"));
    }
    match t.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(t.to_string()),
        _ => Err(format!(
            "{text:?} is not HOST:PORT such as 127.0.0.1:8080 (or a port alone)"
        )),
    }
}

/// The token to present: `--admin-token`, else `DIAMETER_ADMIN_TOKEN`, else the file of
/// `--admin-token-file`, else `./admin.token`.
pub fn resolve_token(flags: &AdminFlags) -> Result<String, CliError> {
    let given = flags
        .admin_token
        .clone()
        .map(|t| (t, "--admin-token"))
        .or_else(|| {
            std::env::var(TOKEN_ENV)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| (t, TOKEN_ENV))
        });
    if let Some((t, from)) = given {
        let t = t.trim().to_string();
        token::check(&t).map_err(|why| CliError::usage(format!("{from}: {why}")))?;
        return Ok(t);
    }
    let path = flags
        .admin_token_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(token::FILE_NAME));
    token::read(&path).map_err(|e| {
        CliError::usage(format!(
            "no admin token: {e}\n  = fix: point --admin-token-file at the server's token file \
             (printed at its start: `admin token in PATH`; by default admin.token next to its \
             SQLite store), or set {TOKEN_ENV}"
        ))
    })
}

/// Builds an endpoint path from segments, percent-encoding each.
pub fn path(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", http::percent_encode(s)))
        .collect()
}

/// Calls `POST path` with `body` and reports the answer: exit 0 when the peer's Result-Code
/// is 2xxx, 1 for another Result-Code or when the endpoint refuses (unknown session or
/// user, bad request), 3 when the endpoint is unreachable or the peer did not answer.
pub fn call(flags: &AdminFlags, path: &str, body: &[u8], style: &Style) -> CliResult {
    let token = resolve_token(flags)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the runtime: {e}")))?;
    let connect_timeout = flags.timeout.min(Duration::from_secs(5));
    let response = rt
        .block_on(http::post(
            &flags.admin,
            path,
            body,
            &token,
            connect_timeout,
            flags.timeout,
        ))
        .map_err(|e| match e {
            ClientError::Connect { addr, why } => CliError::network(format!(
                "cannot reach the admin endpoint at {addr}: {why}\n  = fix: start the server with \
                 --admin {addr} (or `admin = \"{addr}\"` in its configuration), or point --admin \
                 at it"
            )),
            ClientError::Response(why) => {
                CliError::network(format!("the admin endpoint failed: {why}"))
            }
        })?;
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    let error = || {
        json.as_ref()
            .and_then(|j| j["error"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_string())
    };
    match response.status {
        200 => {}
        502 => return Err(CliError::network(error())),
        404 | 409 => return Err(CliError::failure(error())),
        401 => {
            return Err(CliError::failure(format!(
                "the admin endpoint refused the token: {}\n  = fix: use the token file of this \
                 server (--admin-token-file; it prints `admin token in PATH` at start)",
                error()
            )))
        }
        status => {
            return Err(CliError::failure(format!(
                "the admin endpoint answered {status} {}: {}",
                http::reason(status),
                error()
            )))
        }
    }
    let Some(json) = json else {
        return Err(CliError::network(format!(
            "{} did not answer with JSON: is it the admin endpoint?",
            flags.admin
        )));
    };
    let Some(code) = json["result_code"].as_u64() else {
        return Err(CliError::network(format!(
            "the admin endpoint's answer has no result_code: {json}"
        )));
    };
    if flags.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print_summary(&json, style);
    }
    if (2000..3000).contains(&code) {
        Ok(OK)
    } else {
        let answer = json["answer"].as_str().unwrap_or("answer");
        let name = json["result"].as_str().unwrap_or("unknown");
        eprintln!("error: the {answer}'s Result-Code is {code} ({name})");
        Ok(FAILURE)
    }
}

/// One line per answer: `RAA Result-Code 2002 DIAMETER_LIMITED_SUCCESS`.
fn print_summary(json: &Value, style: &Style) {
    let answer = json["answer"].as_str().unwrap_or("answer");
    let line = |code: &Value, name: &Value| {
        let name = name.as_str().unwrap_or("unknown");
        println!(
            "{} Result-Code {} {}",
            style.paint(Role::Name, answer),
            style.paint(Role::Value, &code.to_string()),
            style.paint(Role::Dim, name)
        );
    };
    match json["answers"].as_array() {
        Some(list) if !list.is_empty() => {
            for a in list {
                line(&a["result_code"], &a["result"]);
            }
        }
        _ => line(&json["result_code"], &json["result"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_paths() {
        assert_eq!(parse_target("8080").as_deref(), Ok("127.0.0.1:8080"));
        assert_eq!(
            parse_target("http://localhost:9000/").as_deref(),
            Ok("localhost:9000")
        );
        assert!(parse_target("nowhere").is_err());
        assert_eq!(
            path(&["ocs", "sessions", "pgw;1;2", "reauth"]),
            "/ocs/sessions/pgw%3B1%3B2/reauth"
        );
    }
}
