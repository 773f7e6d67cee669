//! Logging to standard error with `tracing`, filtered by `RUST_LOG` or `-v`.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
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
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Levels per target (`Targets`) cost nothing when a span is entered or left, which the
    // connections' tasks do at every wake-up; `EnvFilter` (a lock and a look-up each time)
    // only for what it alone understands: span and field directives (`[span{field=x}]`).
    if !directives.contains(['[', '{']) {
        if let Ok(targets) = directives.parse::<Targets>() {
            // The builder's own level (INFO by default) is opened: `targets` decides.
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .finish()
                .with(targets)
                .try_init();
            return;
        }
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
