//! Online charging: credit-control server and client (RFC 4006/8506, 3GPP Ro/Gy).
//!
//! - [`store`]: accounts, reservations and the ledger (SQLite by default, PostgreSQL).
//! - [`rating`]: tariffs per service and unit type, drawing on one monetary balance.
//! - [`server`]: the credit-control server (CCR in, CCA out, no I/O).
//! - [`client`]: the credit-control client state machine (RFC 4006 §7, no I/O).
//! - [`serve()`]: the OCS on the Diameter transport (`diameter serve ocs`).

pub mod client;
pub mod metrics;
pub mod rating;
pub mod serve;
pub mod server;
pub mod store;

pub use self::serve::{serve, start, start_stateless, Error, OcsHandle, ServeOptions};
