//! Compiles `dictionaries/*.xml` into `$OUT_DIR/dictionaries.rs` plus one `<module>.rs` per
//! dictionary (see dictionaries/README.md); a problem fails the build with every diagnostic.

fn main() -> Result<(), diameter_codegen::Diagnostics> {
    println!("cargo:rerun-if-changed=build.rs");
    diameter_codegen::Config::new()
        .dictionary_dir("dictionaries")
        .compile()?;
    Ok(())
}
