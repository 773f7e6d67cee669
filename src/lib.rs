//! Typed Diameter messages generated from the XML dictionaries in `dictionaries/`.
//!
//! Each dictionary is a module of [`dict`]: `dict::base_rfc6733`, `dict::dcca_rfc4006`,
//! `dict::sip_rfc4740`, `dict::tgpp_ts32299`. Every AVP has a documented constant in
//! `dict::<module>::avp`, every Enumerated AVP an enum, every Grouped AVP a struct, and every
//! command a request and an answer struct implementing [`diameter_core::Command`].
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

/// The generated dictionary modules.
#[allow(clippy::derivable_impls, clippy::match_single_binding)]
pub mod dict {
    include!(concat!(env!("OUT_DIR"), "/dictionaries.rs"));
}
