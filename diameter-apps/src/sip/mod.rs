//! The SIP application (RFC 4740): AAA server, client API and HTTP Digest helper.
//!
//! - [`digest`]: HTTP Digest (RFC 2617 / RFC 7616, MD5 and SHA-256): H(A1), checking a
//!   response against the H(A1) of a MAA, challenges.
//! - [`store`]: users (AORs, H(A1), visited networks, profile, accounting servers) and
//!   registrations, in SQLite (default) or PostgreSQL.
//! - [`server`]: the Diameter server's handlers for UAR, MAR, SAR, LIR, STR and the builders
//!   of RTR, PPR and ASR; the STATE_MAINTAINED sessions it keeps and expires; without sockets.
//! - [`client`]: typed UAR, MAR, SAR, LIR for a SIP server; RTR and PPR handlers; server
//!   choice by capabilities, 3006 redirects followed and cached, Authorization-Lifetime
//!   timers, STR and the ASR handler, accounting sessions towards the servers SAA and PPR
//!   name.
//! - [`serve`](mod@serve): the server on the runtime of `diameter-core` (`diameter serve sip`).

pub mod client;
pub mod digest;
pub mod serve;
pub mod server;
pub mod store;

pub use self::serve::{serve, start, Error, ServeOptions, SipHandle};

/// Wraps a grouped value for a member of a generated struct, boxed or not (the generator
/// boxes large optional grouped members, and may change which).
pub(crate) fn member<T, M: From<T>>(value: T) -> M {
    M::from(value)
}

/// Reads a grouped member of a generated struct, boxed or not.
pub(crate) fn inner<T, M: std::borrow::Borrow<T>>(member: &M) -> &T {
    member.borrow()
}
