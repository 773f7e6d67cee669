//! Compiles our own `acme.xml` on top of the standard dictionaries: the base protocol is
//! not regenerated but named where the `diameter` crate has it; credit control is generated
//! here because `acme.xml` extends it.

fn main() -> Result<(), diameter_codegen::Diagnostics> {
    println!("cargo:rerun-if-changed=dictionaries");
    diameter_codegen::Config::new()
        .standard_dictionary("base_rfc6733")
        .standard_dictionary("dcca_rfc4006")
        .extern_dictionary("base_rfc6733", "::diameter::dict::base_rfc6733")
        .dictionary_dir("dictionaries")
        .compile()?;
    Ok(())
}
