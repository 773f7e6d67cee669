//! A crate that brings its own Diameter dictionary: `dictionaries/acme.xml` imports the
//! standard base and credit-control dictionaries, adds a private-vendor AVP to
//! Multiple-Services-Credit-Control and to the CCR, a new Final-Unit-Action value, and a
//! custom command. `build.rs` compiles them all with `diameter-codegen`.

/// The generated modules: `base_rfc6733`, `dcca_rfc4006` (with Acme's extensions) and `acme`.
#[allow(missing_docs, clippy::derivable_impls, clippy::match_single_binding)]
pub mod dict {
    include!(concat!(env!("OUT_DIR"), "/dictionaries.rs"));
}
