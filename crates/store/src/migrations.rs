//! The embedded migrations of both backends, applied under a lock so that replicas starting
//! together apply each migration once.

use diesel::connection::SimpleConnection as _;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{DbConnection, StoreError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// An arbitrary constant naming Yagona's migration lock among PostgreSQL advisory locks.
const PG_MIGRATION_LOCK: i64 = 0x5941_474f_4e41;

pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let names = |versions: Vec<diesel::migration::MigrationVersion<'_>>| {
        versions.into_iter().map(|v| v.to_string()).collect::<Vec<_>>()
    };
    match conn {
        DbConnection::Postgres(pg) => {
            // A session-level advisory lock: other replicas wait here until we are done.
            pg.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
            let result =
                pg.run_pending_migrations(POSTGRES).map(names).map_err(|e| StoreError::Migration(e.to_string()));
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
            result
        }
        DbConnection::Sqlite(sqlite) => {
            // BEGIN IMMEDIATE takes the write lock first; the migrations run inside as savepoints.
            sqlite.immediate_transaction(|c| {
                c.run_pending_migrations(SQLITE).map(names).map_err(|e| StoreError::Migration(e.to_string()))
            })
        }
    }
}
