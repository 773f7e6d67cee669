//! Typed Diameter messages generated from the XML dictionaries in `dictionaries/`.
//!
//! Each dictionary is a module of [`dict`]: `dict::base_rfc6733`, `dict::dcca_rfc4006`,
//! `dict::sip_rfc4740`, `dict::tgpp_ts32299`. Every AVP has a documented constant in
//! `dict::<module>::avp` (command codes in `command`, result codes in `result_code`,
//! Application-Ids in `application`), every Enumerated AVP an enum, every Grouped AVP a
//! struct, and every command a request and an answer struct implementing
//! [`diameter_core::Command`].
//!
//! Published as the package `diameter-dict`; the library is named `diameter`. A crate with its
//! own dictionary generates it with `diameter-codegen` in its `build.rs`, names these modules
//! with `Config::extern_dictionary` so the types stay the same, and declares the result with
//! [`include_dictionaries!`].
//!
//! ```
//! use diameter::dict::base_rfc6733::{DeviceWatchdogRequest, Dwr};
//! use diameter::core::Command;
//!
//! let dwr = Dwr { origin_host: "a.example.net".into(), origin_realm: "example.net".into(), ..Default::default() };
//! let bytes = dwr.encode(1, 2).freeze();
//! let msg = diameter::core::RawMessage::decode(bytes, &Default::default()).unwrap();
//! assert_eq!(DeviceWatchdogRequest::decode(&msg).unwrap(), dwr);
//! ```
#![warn(missing_docs)]

pub use diameter_core as core;

/// Declares a module holding the code `diameter-codegen` wrote into `$OUT_DIR` from a
/// build script, with the lint allows generated code needs:
///
/// ```ignore
/// diameter::include_dictionaries!();                      // pub mod dict { .. dictionaries.rs }
/// diameter::include_dictionaries!(pub mod acme_dict);     // another module name
/// diameter::include_dictionaries!(pub(crate) mod dict, "other.rs"); // Config::file_name
/// ```
#[macro_export]
macro_rules! include_dictionaries {
    () => {
        $crate::include_dictionaries!(pub mod dict, "dictionaries.rs");
    };
    ($vis:vis mod $name:ident) => {
        $crate::include_dictionaries!($vis mod $name, "dictionaries.rs");
    };
    ($vis:vis mod $name:ident, $file:literal) => {
        /// The modules generated from the XML dictionaries by `diameter-codegen`.
        #[allow(
            missing_docs,
            unused_imports,
            clippy::derivable_impls,
            clippy::match_single_binding,
            clippy::large_enum_variant
        )]
        $vis mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

include_dictionaries!();
