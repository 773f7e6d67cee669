//! The `diameter` command line.

fn main() {
    eprintln!("diameter: no subcommands yet");
    std::process::exit(2);
}
