//! The Diameter runtime: wire codec, data types and validation (RFC 6733).
//!
//! This crate knows no dictionary. Typed messages are generated from XML by
//! `diameter-codegen` and use the traits here ([`AvpValue`], [`AvpGroup`], [`Command`]).
//! Untyped access for relays and unknown AVPs goes through [`RawMessage`] and [`AvpRef`].
#![warn(missing_docs)]

pub mod agent;
pub mod answer;
pub mod avp;
pub mod base;
pub mod boxed;
pub mod dedup;
pub mod dictionary;
pub mod error;
mod fast_map;
pub mod fields;
pub mod header;
pub mod ids;
pub mod log_limit;
pub mod message;
#[cfg(feature = "tokio")]
pub mod node;
pub mod peer;
pub mod pending;
pub mod repeated;
pub mod result_code;
pub mod routing;
pub mod traits;
#[cfg(feature = "tokio")]
mod transport;
pub mod types;
pub mod walk;

pub use avp::{AvpFlags, AvpIter, AvpRef, RawAvp};
pub use boxed::Boxed;
pub use error::{DecodeError, DecodeErrorInfo, ErrorKind, ValueError};
pub use header::{CommandFlags, Header, HEADER_LEN};
pub use message::{Limits, RawMessage};
pub use repeated::Repeated;
pub use traits::{AvpGroup, AvpValue, Command, DecodeCtx};
pub use types::{
    Address, DiameterIdentity, DiameterUri, IpFilterRule, QosFilterRule, Time, Utf8String,
};

/// Re-exported so generated code and users name one `bytes` version.
pub use bytes;
