//! `diameter-codegen check DIR...` checks dictionaries; `diameter-codegen reference OUT DIR...`
//! writes the Markdown reference; `diameter-codegen generate OUT.rs DIR...` prints the code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn config(dirs: &[String]) -> diameter_codegen::Config {
    let mut c = diameter_codegen::Config::new();
    for d in dirs {
        if Path::new(d).is_dir() {
            c.dictionary_dir(d);
        } else {
            c.dictionary(d);
        }
    }
    c
}

fn report(diags: Vec<diameter_codegen::Diagnostic>) -> ExitCode {
    for d in &diags {
        eprintln!("{d}");
    }
    eprintln!("{} problem(s)", diags.len());
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") if args.len() > 1 => match config(&args[1..]).load() {
            Ok(m) => {
                println!(
                    "ok: {} dictionaries, {} AVPs, {} commands",
                    m.modules.len(),
                    m.avps.len(),
                    m.commands.len()
                );
                ExitCode::SUCCESS
            }
            Err(d) => report(d),
        },
        Some("reference") if args.len() > 2 => {
            let out = PathBuf::from(&args[1]);
            let model = match config(&args[2..]).load() {
                Ok(m) => m,
                Err(d) => return report(d),
            };
            let pages = diameter_codegen::reference::markdown(&model);
            for (path, text) in &pages {
                let path = out.join(path);
                let written = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&path, text));
                if let Err(e) = written {
                    eprintln!("{}: cannot write: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            println!("wrote {} pages to {}", pages.len(), out.display());
            ExitCode::SUCCESS
        }
        Some("generate") if args.len() > 2 => match config(&args[2..]).generate() {
            Ok(code) => match std::fs::write(&args[1], code) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{}: cannot write: {e}", args[1]);
                    ExitCode::from(1)
                }
            },
            Err(d) => report(d),
        },
        _ => {
            eprintln!("usage:\n  diameter-codegen check DICT_DIR_OR_FILE...\n  diameter-codegen reference OUT_DIR DICT_DIR_OR_FILE...\n  diameter-codegen generate OUT.rs DICT_DIR_OR_FILE...");
            ExitCode::from(2)
        }
    }
}
