//! Diameter base accounting (RFC 6733 §8.2, §9): the client and server state machines
//! without I/O, and local storage of records a client could not deliver.
//!
//! - [`client`]: an accounting session's START/INTERIM/STOP or EVENT records, their
//!   Accounting-Record-Numbers, the server's Acct-Interim-Interval, the three
//!   Accounting-Realtime-Required modes, failover to a secondary server with the T flag.
//! - [`deliver`]: sending an ACR on a node, with the T flag when it is a retransmission.
//! - [`export`]: charging records as JSON lines, at least once and deduplicated after a
//!   crash.
//! - [`spool`]: records kept for later delivery (in memory or a durable SQLite file) and
//!   their delivery with the T flag.
//! - [`server`]: duplicate detection and sequence checks, and the ACA.
//! - [`avp_json`]: AVPs (the Rf Service-Information) as JSON for charging records.
//! - `store`: the server's records in SQLite or PostgreSQL, merged into one charging record
//!   per session, committed in groups, and `serve`, the server on a node (feature `sqlite`).

/// The accounting application's id (RFC 6733 §2.4: Diameter base accounting).
pub const APPLICATION_ID: u32 = 3;

pub mod avp_json;
pub mod client;
pub mod deliver;
#[cfg(feature = "sqlite")]
pub mod export;
#[cfg(feature = "sqlite")]
pub mod serve;
pub mod server;
pub mod spool;
#[cfg(feature = "sqlite")]
pub mod store;

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests;
