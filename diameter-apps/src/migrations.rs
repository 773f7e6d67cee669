//! Versioned schema migrations of the stores (refinery), embedded at build time from
//! `diameter-apps/migrations/<store>/<backend>/V<n>__<what>.sql`.
//!
//! Each store keeps its history in its own table ([`Schema::history`]), so the OCS and the
//! SIP server may share one database. Opening a store runs the migrations it has not run
//! yet, all in one transaction. A database made before migrations existed (tables, no
//! history) is first recorded as being at the version its tables match ([`ocs_baseline`]),
//! then brought up to date like any other.

use refinery::{Runner, Target};
#[cfg(feature = "sqlite")]
use rusqlite::Connection;

mod embedded {
    #[cfg(feature = "sqlite")]
    pub(super) mod ocs_sqlite {
        refinery::embed_migrations!("migrations/ocs/sqlite");
    }
    #[cfg(feature = "sqlite")]
    pub(super) mod sip_sqlite {
        refinery::embed_migrations!("migrations/sip/sqlite");
    }
    #[cfg(feature = "postgres")]
    pub(super) mod sip_postgres {
        refinery::embed_migrations!("migrations/sip/postgres");
    }
    #[cfg(feature = "sqlite")]
    pub(super) mod acct_sqlite {
        refinery::embed_migrations!("migrations/acct/sqlite");
    }
    pub(super) mod acct_postgres {
        refinery::embed_migrations!("migrations/acct/postgres");
    }
}

/// One store's migrations on one backend.
pub(crate) struct Schema {
    /// The table recording which versions ran (one per store).
    pub history: &'static str,
    runner: fn() -> Runner,
}

/// The OCS store on SQLite.
#[cfg(feature = "sqlite")]
pub(crate) const OCS_SQLITE: Schema = Schema {
    history: "ocs_schema_history",
    runner: embedded::ocs_sqlite::migrations::runner,
};

/// The SIP store on SQLite.
#[cfg(feature = "sqlite")]
pub(crate) const SIP_SQLITE: Schema = Schema {
    history: "sip_schema_history",
    runner: embedded::sip_sqlite::migrations::runner,
};

/// The SIP store on PostgreSQL.
#[cfg(feature = "postgres")]
pub(crate) const SIP_POSTGRES: Schema = Schema {
    history: "sip_schema_history",
    runner: embedded::sip_postgres::migrations::runner,
};

/// The accounting stores (client spool) on SQLite.
#[cfg(feature = "sqlite")]
pub(crate) const ACCT_SQLITE: Schema = Schema {
    history: "acct_schema_history",
    runner: embedded::acct_sqlite::migrations::runner,
};

/// The accounting server's records on PostgreSQL.
pub(crate) const ACCT_POSTGRES: Schema = Schema {
    history: "acct_schema_history",
    runner: embedded::acct_postgres::migrations::runner,
};

impl Schema {
    fn runner(&self, target: Target) -> Runner {
        let mut r = (self.runner)().set_grouped(true).set_target(target);
        r.set_migration_table_name(self.history);
        r
    }

    /// The newest version this build knows.
    #[cfg(test)]
    pub(crate) fn latest(&self) -> u32 {
        (self.runner)()
            .get_migrations()
            .iter()
            .map(|m| m.version())
            .max()
            .unwrap_or(0)
    }
}

#[cfg(feature = "sqlite")]
/// Switches a SQLite file to WAL. The switch needs a lock that SQLite does not wait for
/// (the busy handler is not called for it): when another process opens the same new file at
/// the same moment, the switch is retried every 10 ms for up to 10 s.
pub(crate) fn sqlite_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(feature = "sqlite")]
/// Brings a SQLite database up to date; returns the versions it ran (empty when it was).
///
/// `baseline` is asked only when the history table is missing: for a database made before
/// migrations, it names the last version whose changes the tables already have; those
/// versions are recorded as applied without running.
pub(crate) fn sqlite(
    conn: &mut Connection,
    schema: &Schema,
    baseline: fn(&Connection) -> rusqlite::Result<Option<u32>>,
) -> Result<Vec<u32>, String> {
    match sqlite_once(conn, schema, baseline) {
        Ok(v) => Ok(v),
        // Another process sharing the file may have migrated it between our read of the
        // history and our write (both theirs and ours then fail on the second write): a
        // second pass finds nothing left to do. A real failure fails again.
        Err(first) => sqlite_once(conn, schema, baseline).map_err(|_| first),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_once(
    conn: &mut Connection,
    schema: &Schema,
    baseline: fn(&Connection) -> rusqlite::Result<Option<u32>>,
) -> Result<Vec<u32>, String> {
    let err = |e: &dyn std::fmt::Display| format!("schema migration ({}): {e}", schema.history);
    if !sqlite_has_table(conn, schema.history).map_err(|e| err(&e))? {
        if let Some(v) = baseline(conn).map_err(|e| err(&e))? {
            schema
                .runner(Target::FakeVersion(v))
                .run(conn)
                .map_err(|e| err(&e))?;
        }
    }
    let report = schema
        .runner(Target::Latest)
        .run(conn)
        .map_err(|e| err(&e))?;
    Ok(versions(&report))
}

#[cfg(feature = "postgres")]
/// Brings a PostgreSQL database up to date; returns the versions it ran. Holds the advisory
/// lock `lock_key` meanwhile, so nodes starting together migrate one after the other.
pub(crate) fn postgres(
    client: &mut postgres::Client,
    schema: &Schema,
    lock_key: i64,
) -> Result<Vec<u32>, String> {
    let err = |e: &dyn std::fmt::Display| format!("schema migration ({}): {e}", schema.history);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&lock_key])
        .map_err(|e| err(&e))?;
    let report = schema.runner(Target::Latest).run(client);
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&lock_key]);
    let report = report.map_err(|e| err(&e))?;
    unlock.map_err(|e| err(&e))?;
    Ok(versions(&report))
}

fn versions(report: &refinery::Report) -> Vec<u32> {
    report
        .applied_migrations()
        .iter()
        .map(|m| m.version())
        .collect()
}

#[cfg(feature = "sqlite")]
fn sqlite_has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

#[cfg(feature = "sqlite")]
fn sqlite_has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

#[cfg(feature = "sqlite")]
/// The version an OCS SQLite database made before migrations is at: none without tables
/// (a new database), 2 when `sessions` has the `peer` column (it came with `debits`), else 1.
pub(crate) fn ocs_baseline(conn: &Connection) -> rusqlite::Result<Option<u32>> {
    if !sqlite_has_table(conn, "accounts")? {
        return Ok(None);
    }
    Ok(Some(if sqlite_has_column(conn, "sessions", "peer")? {
        2
    } else {
        1
    }))
}

#[cfg(feature = "sqlite")]
/// The SIP store had one schema before migrations, which V1 creates with IF NOT EXISTS: a
/// database made by an older version needs no baseline.
pub(crate) fn no_baseline(_: &Connection) -> rusqlite::Result<Option<u32>> {
    Ok(None)
}

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests;
