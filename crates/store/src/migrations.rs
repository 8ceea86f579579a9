//! The embedded migrations of both backends, applied under a lock so that replicas starting
//! together apply each migration once.

use std::time::Duration;

use diesel::connection::{BoxableConnection, SimpleConnection as _};
use diesel::migration::{Migration, MigrationMetadata, MigrationName, MigrationSource};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{DbConnection, StoreError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The PostgreSQL migrations that run outside a transaction (`run_in_transaction = false` in
/// their `metadata.toml`: `CREATE INDEX CONCURRENTLY`, which a transaction block refuses), with
/// their SQL. PostgreSQL runs a string of several statements as one implicit transaction, so
/// these run a statement at a time; diesel's embedded migrations do not expose their text, hence
/// this list (a test checks it matches the metadata). migrations/README.md says how to add one.
const PG_STATEMENTWISE: &[(&str, &str, &str)] = &[(
    "2026-12-03-000400_expiry_indexes",
    include_str!("../../../migrations/postgres/2026-12-03-000400_expiry_indexes/up.sql"),
    include_str!("../../../migrations/postgres/2026-12-03-000400_expiry_indexes/down.sql"),
)];

/// An arbitrary constant naming Yagona's migration lock among PostgreSQL advisory locks.
const PG_MIGRATION_LOCK: i64 = 0x5941_474f_4e41;

pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let names = |versions: Vec<diesel::migration::MigrationVersion<'_>>| {
        versions.into_iter().map(|v| v.to_string()).collect::<Vec<_>>()
    };
    match conn {
        DbConnection::Postgres(pg) => {
            // A session-level advisory lock: other replicas wait until we are done. They poll
            // between statements instead of blocking inside one: a session blocked in
            // `pg_advisory_lock` holds a snapshot, which `CREATE INDEX CONCURRENTLY` waits for,
            // while that session waits for our lock (a deadlock).
            while !diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_lock({PG_MIGRATION_LOCK})"
            )))
            .get_result::<bool>(pg)?
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let result =
                pg.run_pending_migrations(PgMigrations).map(names).map_err(|e| StoreError::Migration(e.to_string()));
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

/// PostgreSQL's embedded migrations, those outside a transaction run a statement at a time.
struct PgMigrations;

impl MigrationSource<Pg> for PgMigrations {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        MigrationSource::<Pg>::migrations(&POSTGRES)?
            .into_iter()
            .map(|m| {
                if m.metadata().run_in_transaction() {
                    return Ok(m);
                }
                let name = m.name().to_string();
                let Some(&(_, up, down)) = PG_STATEMENTWISE.iter().find(|(n, ..)| *n == name) else {
                    return Err(
                        format!("migration {name} runs outside a transaction but is not in PG_STATEMENTWISE").into()
                    );
                };
                Ok(Box::new(Statementwise { inner: m, up, down }) as Box<dyn Migration<Pg>>)
            })
            .collect()
    }
}

struct Statementwise {
    inner: Box<dyn Migration<Pg>>,
    up: &'static str,
    down: &'static str,
}

impl Migration<Pg> for Statementwise {
    fn run(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        run_each(conn, self.up)
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        run_each(conn, self.down)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self.inner.metadata()
    }

    fn name(&self) -> &dyn MigrationName {
        self.inner.name()
    }
}

fn run_each(conn: &mut dyn BoxableConnection<Pg>, sql: &str) -> diesel::migration::Result<()> {
    for statement in statements(sql) {
        conn.batch_execute(&statement)?;
    }
    Ok(())
}

/// The statements of a migration file: `--` comment lines dropped, split at `;` (so a
/// statement-wise migration has no `;` inside a statement).
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).map(|l| format!("{l}\n")).collect();
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_outside_a_transaction_is_run_statement_by_statement() {
        let outside: Vec<String> = MigrationSource::<Pg>::migrations(&POSTGRES)
            .unwrap()
            .iter()
            .filter(|m| !m.metadata().run_in_transaction())
            .map(|m| m.name().to_string())
            .collect();
        let listed: Vec<String> = PG_STATEMENTWISE.iter().map(|(n, ..)| (*n).to_owned()).collect();
        assert_eq!(outside, listed);
        PgMigrations.migrations().expect("every one found");
    }

    #[test]
    fn statements_are_split_without_comments() {
        let sql = "-- a; comment\nDROP INDEX CONCURRENTLY IF EXISTS a;\nCREATE INDEX CONCURRENTLY a\n  ON t (x);\n\n";
        assert_eq!(statements(sql), ["DROP INDEX CONCURRENTLY IF EXISTS a", "CREATE INDEX CONCURRENTLY a\n  ON t (x)"]);
    }
}
