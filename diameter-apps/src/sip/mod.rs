//! The SIP application (RFC 4740): AAA server, client API and HTTP Digest helper.

pub mod digest;
