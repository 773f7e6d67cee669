//! Compiles the standard base and credit-control dictionaries plus our own `acme.xml`.

fn main() {
    println!("cargo:rerun-if-changed=dictionaries");
    let result = diameter_codegen::Config::new()
        .standard_dictionary("base_rfc6733")
        .standard_dictionary("dcca_rfc4006")
        .dictionary_dir("dictionaries")
        .compile();
    if let Err(diagnostics) = result {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        std::process::exit(1);
    }
}
