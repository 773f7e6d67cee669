//! The `diameter` command line: see `diameter --help`.

use clap::Parser;
use diameter_cli::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
