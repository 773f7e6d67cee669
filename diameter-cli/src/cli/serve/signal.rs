//! Waiting for the end of a server: Ctrl-C or SIGTERM.

/// Returns when the process gets SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A runtime for a server.
pub fn runtime() -> Result<tokio::runtime::Runtime, crate::cli::exit::CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::cli::exit::CliError::failure(format!("cannot start the runtime: {e}")))
}

/// Prints the bound addresses on standard output (first line), so that scripts and tests
/// that asked for port 0 learn the port.
pub fn announce(what: &str, addrs: &[std::net::SocketAddr]) {
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    println!("{what} listening on {}", list.join(", "));
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
