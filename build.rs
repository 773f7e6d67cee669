//! Compiles `dictionaries/*.xml` into `$OUT_DIR/dictionaries.rs` (see dictionaries/README.md).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let result = diameter_codegen::Config::new()
        .dictionary_dir("dictionaries")
        .compile();
    if let Err(diagnostics) = result {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        eprintln!(
            "error: {} problem(s) in the dictionaries",
            diagnostics.len()
        );
        std::process::exit(1);
    }
}
