//! Online charging: credit-control server and client (RFC 4006/8506, 3GPP Ro/Gy).
//!
//! - [`store`]: accounts, reservations and the ledger (SQLite by default, PostgreSQL).
//! - [`rating`]: tariffs per service and unit type, drawing on one monetary balance.

pub mod rating;
pub mod store;
