//! Storage tests on a real SQLite file and a real PostgreSQL database (127.0.0.1:5432, user
//! postgres, trust authentication; each test makes and drops its own database).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, QueryableByName, RunQueryDsl as _};

use crate::{DatabaseUrl, DbConnection, Store};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

fn random_name() -> String {
    let bytes: [u8; 6] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A PostgreSQL database of its own, dropped afterwards.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    fn create() -> Self {
        let name = format!("yagona_store_{}", random_name());
        let mut admin = PgConnection::establish(PG_ADMIN).expect("PostgreSQL at 127.0.0.1:5432");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        Self { name }
    }

    fn url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&format!("postgres://postgres@127.0.0.1:5432/{}", self.name)).unwrap()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(PG_ADMIN) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

fn columns(store: &Store) -> BTreeSet<(String, String)> {
    let mut conn = store.conn().unwrap();
    let rows: Vec<Column> = match &mut *conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load(pg)
        .unwrap(),
        DbConnection::Sqlite(sqlite) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
        )
        .load(sqlite)
        .unwrap(),
    };
    rows.into_iter().map(|r| (r.table_name, r.column_name)).collect()
}

#[test]
fn migrations_give_the_same_schema() {
    let dir = std::env::temp_dir().join(format!("yagona-store-{}", random_name()));
    let sqlite = Store::open(&DatabaseUrl::Sqlite(dir.join("test.db")), 2).unwrap();
    assert!(!sqlite.migrate().unwrap().is_empty());
    assert!(sqlite.migrate().unwrap().is_empty(), "a second run applies nothing");
    let pg_db = PgDatabase::create();
    let pg = Store::open(&pg_db.url(), 2).unwrap();
    assert!(!pg.migrate().unwrap().is_empty());
    assert!(pg.migrate().unwrap().is_empty());
    let (a, b) = (columns(&sqlite), columns(&pg));
    assert!(a.len() > 60, "{a:?}");
    assert_eq!(a, b, "migrations/sqlite and migrations/postgres differ");
    let _ = std::fs::remove_dir_all(dir);
}
