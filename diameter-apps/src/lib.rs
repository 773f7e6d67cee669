//! Applications on the Diameter stack: base accounting (client, server, record spool),
//! an online charging server and client (Gy/Ro, RFC 4006/8506 with 3GPP TS 32.299) and a
//! SIP AAA server and client (RFC 4740). The `diameter` command line on top of them is the
//! `diameter-cli` crate.
#![warn(missing_docs)]
// Without a store backend, the SQL and batch helpers the backends share go unused.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres")),
    allow(dead_code, unused_imports)
)]

// The integration tests' helpers (`tests/ocs_common`), which the unit tests include too,
// name this crate by its name.
#[cfg(test)]
extern crate self as diameter_apps;

pub mod acct;
pub mod admin;
pub mod host_addrs;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod migrations;
pub mod ocs;
pub mod redact;
pub mod sip;
