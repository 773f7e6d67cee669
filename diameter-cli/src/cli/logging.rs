//! Logging to standard error with `tracing`, filtered by `RUST_LOG` or `-v`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins over `verbose` (0: warn, 1: info, with
/// the migration runner's step-by-step report left at warn, 2: debug, 3 and more: trace).
/// Calling it twice is harmless.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,refinery_core=warn",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
