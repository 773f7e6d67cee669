//! The `diameter` command line: see `diameter --help`.

mod alloc;

use clap::Parser;
use diameter_cli::cli::{run, Cli};

/// mimalloc: the servers allocate and free small buffers on several threads per
/// request, where it costs a fraction of glibc's malloc (see the README's benchmarks).
#[global_allocator]
static ALLOCATOR: alloc::Mimalloc = alloc::Mimalloc;

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
