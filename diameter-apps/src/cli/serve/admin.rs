//! `--admin ADDR` / `admin = "ADDR"` of the servers: where the admin endpoint listens
//! (see [`crate::admin`]), and starting it next to the server.

use crate::admin::{self, AdminServer, Target};
use crate::cli::config::ConfigFile;
use crate::cli::exit::CliError;
use std::net::{Ipv4Addr, SocketAddr};

/// Parses an admin address: `ADDR:PORT`, or a bare `PORT` meaning 127.0.0.1:PORT (loopback:
/// the endpoint has no authentication). Used as a clap value parser.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    t.parse().map_err(|_| {
        format!("{text:?} is not an address and port such as 127.0.0.1:8080 (or a port alone)")
    })
}

/// The admin address from the flag or else the configuration file's `admin =` key.
pub fn resolve(
    flag: Option<SocketAddr>,
    key: &Option<toml::Spanned<String>>,
    file: Option<&ConfigFile>,
) -> Result<Option<SocketAddr>, CliError> {
    match (flag, key, file) {
        (Some(a), _, _) => Ok(Some(a)),
        (None, Some(s), Some(f)) => parse_addr(s.get_ref()).map(Some).map_err(|_| {
            f.error(
                Some(s.span()),
                &format!("admin = {:?} is not an address and port", s.get_ref()),
                "write it as \"ADDR:PORT\", for example \"127.0.0.1:8080\"",
            )
        }),
        _ => Ok(None),
    }
}

/// Starts the admin endpoint and prints `admin listening on ADDR`.
pub async fn start(addr: SocketAddr, target: Target) -> Result<AdminServer, CliError> {
    let server = admin::start(addr, target).await.map_err(|e| {
        CliError::network(format!(
            "cannot listen on {addr} for the admin endpoint: {e}\n  = fix: pick a free port for --admin"
        ))
    })?;
    super::signal::announce("admin", &[server.local_addr()]);
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("8080"),
            Ok("127.0.0.1:8080".parse().expect("addr"))
        );
        assert_eq!(parse_addr("[::1]:0"), Ok("[::1]:0".parse().expect("addr")));
        assert!(parse_addr("localhost").is_err());
    }
}
