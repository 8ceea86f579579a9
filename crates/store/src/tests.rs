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

#[test]
fn roles_expire_and_end() {
    use yagona_account::legal::{LegalEntity, LegalRepository as _, Membership, Tin, HEAD_ROLE};
    use yagona_account::{AccountRepository as _, BirthDate, Login, NewAccount, PasswordHash, Pinfl};
    let dir = std::env::temp_dir().join(format!("yagona-store-{}", random_name()));
    let store = Store::open(&DatabaseUrl::Sqlite(dir.join("test.db")), 2).unwrap();
    store.migrate().unwrap();
    let person = |login: &str, pinfl: &str| {
        let account = NewAccount::new(
            Login::try_from(login).unwrap(),
            Pinfl::try_from(pinfl).unwrap(),
            PasswordHash::from_phc("x".into()),
            "A",
            "B",
            None,
            BirthDate::try_from("1990-05-12").unwrap(),
            0,
        )
        .unwrap();
        store.insert_account(&account).unwrap();
        account.into_account().id
    };
    let head = person("head", "31205900260011");
    let staff = person("staff", "31205900260028");
    let tin = Tin::try_from("301234567").unwrap();
    let entity = LegalEntity { tin: tin.clone(), name: "X".into(), short_name: "X".into(), linked_at: 0 };
    store.link_legal_entity(&entity, &head, None, 100).unwrap();
    store.link_legal_entity(&entity, &head, None, 101).unwrap();
    let role = |expires_at| Membership {
        tin: tin.clone(),
        account_id: staff.clone(),
        role: "Accountant".into(),
        title: None,
        granted_by: Some(head.clone()),
        granted_at: 100,
        expires_at,
    };
    store.grant_role(&role(Some(200)), 100).unwrap();
    assert_eq!(store.memberships_of(&staff, 150).unwrap().len(), 1);
    assert!(store.memberships_of(&staff, 200).unwrap().is_empty(), "an expired role is gone");
    store.grant_role(&role(None), 300).unwrap();
    assert!(store.revoke_role(&tin, &staff, "Accountant", &head, 310).unwrap());
    assert!(!store.revoke_role(&tin, &staff, "Accountant", &head, 311).unwrap());
    assert!(store.memberships_of(&staff, 320).unwrap().is_empty());
    let heads: Vec<_> = store.members(&tin, 320).unwrap().into_iter().filter(|m| m.role == HEAD_ROLE).collect();
    assert_eq!(heads.len(), 1, "linking twice keeps one head membership");
    let actions: Vec<_> = store.membership_events(&tin).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["linked", "granted", "granted", "revoked"]);
    let _ = std::fs::remove_dir_all(dir);
}

/// Opaque access tokens on both backends: found while live, not after expiry, and purged.
#[test]
fn opaque_access_tokens_live_expire_and_are_purged() {
    use yagona_oidc::tokens::AccessTokenClaims;
    use yagona_oidc::OidcRepository as _;
    let dir = std::env::temp_dir().join(format!("yagona-store-{}", random_name()));
    let pg_db = PgDatabase::create();
    let stores =
        [Store::open(&DatabaseUrl::Sqlite(dir.join("test.db")), 2).unwrap(), Store::open(&pg_db.url(), 2).unwrap()];
    for store in &stores {
        store.migrate().unwrap();
        let claims = |jti: &str, exp: i64| AccessTokenClaims {
            iss: "https://id.example".into(),
            sub: "client-a".into(),
            aud: "client-a".into(),
            client_id: "client-a".into(),
            exp,
            iat: 900,
            jti: jti.into(),
            scope: "reports.read".into(),
            auth_time: None,
            acr: None,
            amr: None,
            sid: None,
            gid: None,
            acting: serde_json::Map::from_iter([("user_type".to_owned(), serde_json::json!("legal_entity"))]),
        };
        store.insert_opaque_access_token("live-hash", &claims("j1", 2000)).unwrap();
        store.insert_opaque_access_token("old-hash", &claims("j2", 1000)).unwrap();
        let found = store.find_opaque_access_token("live-hash", 1500).unwrap().expect("a live token");
        assert_eq!((found.jti.as_str(), found.exp), ("j1", 2000));
        assert_eq!(found.acting["user_type"], "legal_entity", "claims come back whole");
        assert!(store.find_opaque_access_token("old-hash", 1500).unwrap().is_none(), "expired");
        assert!(store.find_opaque_access_token("other", 1500).unwrap().is_none());
        assert!(store.insert_opaque_access_token("live-hash", &claims("j3", 2000)).is_err(), "hashes are unique");
        assert!(store.purge_expired(1500).unwrap() >= 1);
        assert!(store.find_opaque_access_token("old-hash", 0).unwrap().is_none(), "purged, not only filtered");
        assert!(store.find_opaque_access_token("live-hash", 1500).unwrap().is_some());
    }
    let _ = std::fs::remove_dir_all(dir);
}
