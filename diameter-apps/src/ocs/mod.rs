//! Online charging: credit-control server and client (RFC 4006/8506, 3GPP Ro/Gy).
//!
//! - [`store`]: accounts, reservations and the ledger (SQLite by default, PostgreSQL).

pub mod store;
