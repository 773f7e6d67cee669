//! A crate that brings its own Diameter dictionary: `dictionaries/acme.xml` imports the
//! standard base and credit-control dictionaries, adds a private-vendor AVP to
//! Multiple-Services-Credit-Control and to the CCR, a new Final-Unit-Action value, and a
//! custom command. `build.rs` compiles them all with `diameter-codegen`.

// The generated modules: `dcca_rfc4006` (with Acme's extensions) and `acme`; the base
// protocol's types are `diameter::dict::base_rfc6733`'s.
diameter::include_dictionaries!();

use diameter_core::{Command, DecodeError};

/// The same message seen through another dictionary's type: our extended CCR as the
/// standard `diameter::dict::dcca_rfc4006::Ccr` the applications take (our vendor AVPs ride
/// in its `other` list, as the RFC 6733 `*[ AVP ]` of the grammar), or the standard CCA as
/// ours. Encodes `from` and decodes it as `To`.
pub fn reinterpret<From: Command, To: Command>(from: &From) -> Result<To, DecodeError> {
    To::decode(&from.to_message(From::APPLICATION_ID, 0, 0))
}
