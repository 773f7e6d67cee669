//! Diameter base accounting (RFC 6733 §8.2, §9): the client and server state machines
//! without I/O, and local storage of records a client could not deliver.
//!
//! - [`client`]: an accounting session's START/INTERIM/STOP or EVENT records, their
//!   Accounting-Record-Numbers, the server's Acct-Interim-Interval, the three
//!   Accounting-Realtime-Required modes, failover to a secondary server with the T flag.
//! - [`spool`]: records kept for later delivery (in memory or a durable SQLite file) and
//!   their delivery with the T flag.
//! - [`server`]: duplicate detection and sequence checks, and the ACA.
//! - `store`: the server's records in SQLite, merged into one charging record per
//!   session, committed in groups, and `serve`, the server on a node (feature `sqlite`).

pub mod client;
#[cfg(feature = "sqlite")]
pub mod serve;
pub mod server;
pub mod spool;
#[cfg(feature = "sqlite")]
pub mod store;

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests;
