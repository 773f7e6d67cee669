//! A crate that brings its own Diameter dictionary: `dictionaries/acme.xml` imports the
//! standard base and credit-control dictionaries, adds a private-vendor AVP to
//! Multiple-Services-Credit-Control and to the CCR, a new Final-Unit-Action value, and a
//! custom command. `build.rs` compiles them all with `diameter-codegen`.

// The generated modules: `dcca_rfc4006` (with Acme's extensions) and `acme`; the base
// protocol's types are `diameter::dict::base_rfc6733`'s.
diameter::include_dictionaries!();
