//! Storage tests on a real SQLite file and a real PostgreSQL database (127.0.0.1:5432, user
//! postgres, trust authentication; each test makes and drops its own database).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, QueryableByName, RunQueryDsl as _};

use crate::{DatabaseUrl, DbConnection, Store};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

pub(crate) fn random_name() -> String {
    let bytes: [u8; 6] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A PostgreSQL database of its own, dropped afterwards.
pub(crate) struct PgDatabase {
    name: String,
}

impl PgDatabase {
    pub(crate) fn create() -> Self {
        let name = format!("yagona_store_{}", random_name());
        let mut admin = PgConnection::establish(PG_ADMIN).expect("PostgreSQL at 127.0.0.1:5432");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        Self { name }
    }

    pub(crate) fn url(&self) -> DatabaseUrl {
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

/// Runs `test` on a migrated SQLite file and a migrated PostgreSQL database of its own.
pub(crate) fn on_both_backends(test: impl Fn(&Store)) {
    let dir = std::env::temp_dir().join(format!("yagona-store-{}", random_name()));
    let pg_db = PgDatabase::create();
    for url in [DatabaseUrl::Sqlite(dir.join("test.db")), pg_db.url()] {
        let store = Store::open(&url, 2).unwrap();
        store.migrate().unwrap();
        test(&store);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The claims of a client's opaque access token.
fn access_claims(jti: &str, exp: i64) -> yagona_oidc::tokens::AccessTokenClaims {
    yagona_oidc::tokens::AccessTokenClaims {
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
        cnf: None,
        acting: serde_json::Map::from_iter([("user_type".to_owned(), serde_json::json!("legal_entity"))]),
    }
}

/// A public client `rp` with one redirect URI, allowed codes and refresh tokens.
pub(crate) fn insert_public_client(store: &Store) -> (yagona_oidc::ClientId, yagona_oidc::RedirectUri) {
    use yagona_oidc::keys::SigningAlg;
    use yagona_oidc::{AccessTokenFormat, Client, ClientId, GrantType, OidcRepository as _, RedirectUri};
    let client_id = ClientId::try_from("rp").unwrap();
    let redirect = RedirectUri::try_from("https://rp.example/cb").unwrap();
    store
        .insert_client(&Client {
            id: client_id.clone(),
            name: "RP".into(),
            secret_hash: None,
            redirect_uris: vec![redirect.clone()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            first_party: true,
            id_token_signing_alg: SigningAlg::Rs256,
            created_at: 0,
            access_token_format: AccessTokenFormat::Jwt,
            scopes: Default::default(),
            ..Client::new(client_id.clone(), 0)
        })
        .unwrap();
    (client_id, redirect)
}

/// An account with the given login and PINFL; its id.
fn add_person(store: &Store, login: &str, pinfl: &str) -> yagona_account::AccountId {
    use yagona_account::{AccountRepository as _, BirthDate, Login, NewAccount, PasswordHash, Pinfl};
    let account = NewAccount::new(
        Login::try_from(login).unwrap(),
        Pinfl::try_from(pinfl).unwrap(),
        PasswordHash::from_phc("x".into()),
        "A",
        "B",
        None,
        BirthDate::try_from("1990-05-12").unwrap(),
        1_796_083_200,
    )
    .unwrap();
    store.insert_account(&account).unwrap();
    account.into_account().id
}

/// Databases from before passport numbers were unique may hold one number on several accounts:
/// the migration keeps it on the earliest registered, clears it on the others, and then refuses
/// a new duplicate.
#[test]
fn the_passport_migration_keeps_the_earliest_of_duplicates() {
    use yagona_account::{AccountRepository as _, PassportNumber};
    on_both_backends(|store| {
        let up = match &*store.conn().unwrap() {
            DbConnection::Postgres(_) => {
                include_str!("../../../migrations/postgres/2026-12-01-000200_proven_identities/up.sql")
            }
            DbConnection::Sqlite(_) => {
                include_str!("../../../migrations/sqlite/2026-12-01-000200_proven_identities/up.sql")
            }
        };
        // As before the migration: no index, and two accounts with one passport number.
        store.conn().unwrap().batch_execute("DROP INDEX accounts_passport_number_unique").unwrap();
        let first = add_person(store, "first", "31205900260011");
        let later = add_person(store, "later", "31205900260028");
        store
            .conn()
            .unwrap()
            .batch_execute(&format!(
                "UPDATE accounts SET passport_number = 'AA1234567', created_at = 1 WHERE id = '{first}';
                 UPDATE accounts SET passport_number = 'AA1234567', created_at = 2 WHERE id = '{later}';"
            ))
            .unwrap();
        store.conn().unwrap().batch_execute(up).unwrap();
        let passport = |id| store.find_account(id).unwrap().unwrap().passport_number;
        assert_eq!(passport(&first), Some(PassportNumber::try_from("AA1234567").unwrap()));
        assert_eq!(passport(&later), None);
        let duplicate = store
            .conn()
            .unwrap()
            .batch_execute(&format!("UPDATE accounts SET passport_number = 'AA1234567' WHERE id = '{later}'"));
        assert!(duplicate.is_err(), "the index refuses a second account with the number");
    });
}

fn head_certificate(tin: &str, valid_from: i64) -> yagona_account::legal::HeadCertificate {
    use yagona_account::legal::{HeadCertificate, LegalEntity, Tin};
    let entity =
        LegalEntity { tin: Tin::try_from(tin).unwrap(), name: "X".into(), short_name: "X".into(), linked_at: 0 };
    HeadCertificate { entity, title: "Direktor".into(), valid_from }
}

fn staff_role(
    tin: &yagona_account::legal::Tin,
    staff: &yagona_account::AccountId,
    head: &yagona_account::AccountId,
    expires_at: Option<i64>,
) -> yagona_account::legal::Membership {
    yagona_account::legal::Membership {
        tin: tin.clone(),
        account_id: staff.clone(),
        role: "Accountant".into(),
        title: None,
        granted_by: Some(head.clone()),
        granted_at: 100,
        expires_at,
        certificate_valid_from: None,
    }
}

#[test]
fn roles_expire_and_end() {
    use yagona_account::legal::{LegalRepository as _, Linked, Tin, HEAD_ROLE};
    let dir = std::env::temp_dir().join(format!("yagona-store-{}", random_name()));
    let store = Store::open(&DatabaseUrl::Sqlite(dir.join("test.db")), 2).unwrap();
    store.migrate().unwrap();
    let head = add_person(&store, "head", "31205900260011");
    let staff = add_person(&store, "staff", "31205900260028");
    let tin = Tin::try_from("301234567").unwrap();
    assert_eq!(store.link_legal_entity(&head_certificate("301234567", 50), &head, None, 100).unwrap(), Linked::New);
    assert_eq!(store.link_legal_entity(&head_certificate("301234567", 40), &head, None, 101).unwrap(), Linked::Again);
    let role = |expires_at| staff_role(&tin, &staff, &head, expires_at);
    store.grant_role(&role(Some(200)), 100).unwrap();
    assert_eq!(store.memberships_of(&staff, 150).unwrap().len(), 1);
    assert!(store.memberships_of(&staff, 200).unwrap().is_empty(), "an expired role is gone");
    store.grant_role(&role(None), 300).unwrap();
    assert!(store.revoke_role(&tin, &staff, "Accountant", &head, 310).unwrap());
    assert!(!store.revoke_role(&tin, &staff, "Accountant", &head, 311).unwrap());
    assert!(store.memberships_of(&staff, 320).unwrap().is_empty());
    let heads: Vec<_> = store.members(&tin, 320).unwrap().into_iter().filter(|m| m.role == HEAD_ROLE).collect();
    assert_eq!(heads.len(), 1, "linking twice keeps one head membership");
    assert_eq!(heads[0].certificate_valid_from, Some(50), "the newest certificate's date is kept");
    let actions: Vec<_> = store.membership_events(&tin).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["linked", "granted", "granted", "revoked"]);
    let _ = std::fs::remove_dir_all(dir);
}

/// A grant acting under a membership lives only as long as the membership, on both backends:
/// an expiry stops it at every use before any purge; the purge then ends the membership and
/// revokes the grant; a head replaced needs a later certificate and confirmation, and their
/// grants end.
#[test]
fn grants_follow_their_membership() {
    use yagona_account::audit::AuditRepository as _;
    use yagona_account::legal::{LegalRepository as _, Linked, Tin, HEAD_ROLE};
    use yagona_account::AccountError;
    use yagona_oidc::{
        ActingAs, AuthContext, AuthorizationCode, CodeConsumption, Lifetimes, OidcRepository as _, RefreshRotation,
        RefreshToken, Scopes,
    };
    let lifetimes = Lifetimes::default();
    on_both_backends(|store| {
        let head = add_person(store, "head", "31205900260011");
        let staff = add_person(store, "staff", "31205900260028");
        let tin = Tin::try_from("301234567").unwrap();
        store.link_legal_entity(&head_certificate("301234567", 50), &head, None, 100).unwrap();
        store.grant_role(&staff_role(&tin, &staff, &head, Some(500)), 100).unwrap();
        let (client_id, redirect) = insert_public_client(store);
        let acting = |role: &str| ActingAs::LegalEntity {
            tin: tin.to_string(),
            name: "X".into(),
            short_name: "X".into(),
            role: role.into(),
        };
        let grant = |id: &str, account: &yagona_account::AccountId, role: &str| yagona_oidc::Grant {
            id: id.into(),
            client_id: client_id.clone(),
            account_id: account.clone(),
            sid: format!("sid-{id}"),
            // Offline access: these grants outlive their (absent) sessions, so only the membership
            // decides here.
            scopes: Scopes::try_from("openid legal offline_access").unwrap(),
            auth: AuthContext { auth_time: 100, acr: "1".into(), amr: vec!["pwd".into()] },
            acting_as: Some(acting(role)),
            created_at: 100,
            revoked_at: None,
            resources: vec![],
        };
        let issue = |id: &str, account: &yagona_account::AccountId, role: &str| {
            let code = AuthorizationCode {
                hash: format!("code-{id}"),
                grant_id: id.into(),
                client_id: client_id.clone(),
                redirect_uri: redirect.clone(),
                code_challenge: None,
                nonce: None,
                expires_at: 10_000,
                dpop_jkt: None,
            };
            store.insert_grant_with_code(&grant(id, account, role), &code).unwrap();
            let refresh = RefreshToken {
                hash: format!("refresh-{id}"),
                grant_id: id.into(),
                client_id: client_id.clone(),
                created_at: 100,
                expires_at: 10_000,
            };
            store.insert_refresh_token(&refresh).unwrap();
            let token = yagona_oidc::tokens::AccessTokenClaims {
                iss: "https://id.example".into(),
                sub: account.as_str().into(),
                aud: client_id.as_str().into(),
                client_id: client_id.as_str().into(),
                exp: 10_000,
                iat: 100,
                jti: format!("j-{id}"),
                scope: "openid legal".into(),
                auth_time: Some(100),
                acr: Some("1".into()),
                amr: Some(vec!["pwd".into()]),
                sid: Some(format!("sid-{id}")),
                gid: Some(id.into()),
                cnf: None,
                acting: serde_json::Map::new(),
            };
            store.insert_opaque_access_token(&format!("opaque-{id}"), &token).unwrap();
        };
        // A person's opaque token is checked in its own lookup: that check and find_live_access,
        // which a JWT's check uses, must agree at every step below.
        let live = |id: &str, now: i64| {
            let by_grant = store.find_live_access(&format!("j-{id}"), id, now).unwrap().map(|(g, a)| (g.id, a.id));
            let by_token = match store.find_opaque_access_token(&format!("opaque-{id}"), now).unwrap() {
                Some(yagona_oidc::tokens::StoredAccessToken::OfGrant { grant, live_account, .. }) => {
                    live_account.map(|a| (grant.id, a.id))
                }
                other => panic!("a person's opaque token with its grant: {other:?}"),
            };
            assert_eq!(by_grant, by_token, "the opaque lookup and find_live_access on {id} at {now}");
            by_grant.is_some()
        };

        // Expiry: refused at every use from the expiry on, before any purge.
        issue("g1", &staff, "Accountant");
        assert!(live("g1", 400));
        assert!(store.find_live_refresh_token("refresh-g1", &lifetimes, 400).unwrap().is_some());
        assert!(!live("g1", 500), "expired");
        assert!(store.find_live_refresh_token("refresh-g1", &lifetimes, 500).unwrap().is_none());
        assert!(matches!(store.consume_authorization_code("code-g1", 500).unwrap(), CodeConsumption::Invalid));
        assert!(matches!(
            store.rotate_refresh_token("refresh-g1", &client_id, "r-new", &lifetimes, 500).unwrap(),
            RefreshRotation::Invalid
        ));
        // The purge ends it (an audit event by no one) and revokes the grant.
        assert_eq!(store.end_expired_memberships(600).unwrap(), 1);
        assert_eq!(store.end_expired_memberships(601).unwrap(), 0);
        assert!(store.find_grant("g1").unwrap().unwrap().revoked_at.is_some());
        // (The trail also holds the account's creation, dated by the real clock.)
        let events = store.audit_events(Some(&staff), 0, 10).unwrap();
        let ended = events.iter().find(|e| e.kind.as_str() == "role_ended").unwrap();
        assert_eq!((ended.actor.as_ref(), &ended.detail["action"]), (None, &serde_json::json!("expired")));
        // Given again: the old grant stays revoked; a new one lives until the role is taken back,
        // which also clears the sessions that chose it.
        store.grant_role(&staff_role(&tin, &staff, &head, None), 700).unwrap();
        assert!(!live("g1", 700));
        issue("g2", &staff, "Accountant");
        assert!(live("g2", 700));
        // A revoked token, on a live grant: refused by its jti.
        issue("g2b", &staff, "Accountant");
        store.revoke_access_token("j-g2b", 10_000).unwrap();
        assert!(!live("g2b", 700), "revoked");
        assert!(live("g2", 700), "another token of the same person is not");
        let session = yagona_oidc::Session {
            id_hash: "session-1".into(),
            sid: "sid-session-1".into(),
            account_id: staff.clone(),
            auth: AuthContext { auth_time: 100, acr: "1".into(), amr: vec!["pwd".into()] },
            address: "127.0.0.1".into(),
            acting_as: None,
            created_at: 100,
            expires_at: 10_000,
            user_agent: None,
        };
        store.insert_session(&session).unwrap();
        assert!(store.choose_acting_as("session-1", &acting("Accountant")).unwrap());
        assert!(store.revoke_role(&tin, &staff, "Accountant", &head, 710).unwrap());
        assert!(store.find_grant("g2").unwrap().unwrap().revoked_at.is_some());
        assert!(!live("g2", 720), "the grant revoked");
        assert!(store.find_session("session-1", 720).unwrap().unwrap().acting_as.is_none(), "asked again");

        // Replacing the head: a later certificate, confirmed; the former head's grants end.
        issue("g3", &head, HEAD_ROLE);
        let refused = store.link_legal_entity(&head_certificate("301234567", 50), &staff, Some(&head), 800);
        assert_eq!(refused, Err(AccountError::CertificateNotLater));
        let unconfirmed = store.link_legal_entity(&head_certificate("301234567", 60), &staff, None, 800);
        assert_eq!(unconfirmed, Err(AccountError::ReplacementNotConfirmed));
        // Confirmed for another head than the one heading it now (someone took the company
        // between the question and the answer): not replaced.
        let someone_else = yagona_account::AccountId::from_stored("someone-else".into());
        let stale = store.link_legal_entity(&head_certificate("301234567", 60), &staff, Some(&someone_else), 800);
        assert_eq!(stale, Err(AccountError::ReplacementNotConfirmed));
        assert!(live("g3", 800), "refusals change nothing");
        let replaced = store.link_legal_entity(&head_certificate("301234567", 60), &staff, Some(&head), 800).unwrap();
        assert_eq!(replaced, Linked::Replaced { previous: head.clone() });
        assert!(store.find_grant("g3").unwrap().unwrap().revoked_at.is_some());
        assert!(!live("g3", 800), "the former head's grant revoked");
        assert_eq!(store.current_head(&tin, 810).unwrap().unwrap().account_id, staff);
        let back = store.link_legal_entity(&head_certificate("301234567", 50), &head, Some(&staff), 820);
        assert_eq!(back, Err(AccountError::CertificateNotLater), "not back with the older certificate");
        let events = store.audit_events(Some(&head), 0, 10).unwrap();
        let replaced = events.iter().find(|e| e.kind.as_str() == "head_replaced").unwrap();
        assert_eq!(replaced.detail["grants_revoked"], 1);
    });
}

/// Opaque access tokens on both backends: found while live, not after expiry, and purged.
#[test]
fn opaque_access_tokens_live_expire_and_are_purged() {
    use yagona_oidc::tokens::StoredAccessToken;
    use yagona_oidc::OidcRepository as _;
    on_both_backends(|store| {
        store.insert_opaque_access_token("live-hash", &access_claims("j1", 2000)).unwrap();
        store.insert_opaque_access_token("old-hash", &access_claims("j2", 1000)).unwrap();
        let found = store.find_opaque_access_token("live-hash", 1500).unwrap().expect("a live token");
        let StoredAccessToken::Claims(found) = found else { panic!("a client's token is stored whole: {found:?}") };
        assert_eq!((found.jti.as_str(), found.exp), ("j1", 2000));
        assert_eq!(found.acting["user_type"], "legal_entity", "claims come back whole");
        assert!(store.find_opaque_access_token("old-hash", 1500).unwrap().is_none(), "expired");
        assert!(store.find_opaque_access_token("other", 1500).unwrap().is_none());
        assert!(
            store.insert_opaque_access_token("live-hash", &access_claims("j3", 2000)).is_err(),
            "hashes are unique"
        );
        assert!(store.purge_expired(1500).unwrap() >= 1);
        assert!(store.find_opaque_access_token("old-hash", 0).unwrap().is_none(), "purged, not only filtered");
        assert!(store.find_opaque_access_token("live-hash", 1500).unwrap().is_some());
    });
}

/// A person's opaque access token is stored as its grant id and what it adds to the grant (a
/// third of the row the whole claims took), found with its grant in one statement, and gone
/// with its grant; a row stored whole before this change (no grant id) is still read.
#[test]
fn a_persons_opaque_token_is_stored_as_its_grant_part() {
    use yagona_oidc::tokens::{AccessTokenClaims, Confirmation, GrantTokenPart, StoredAccessToken};
    use yagona_oidc::{AuthContext, AuthorizationCode, OidcRepository as _, Scopes};
    on_both_backends(|store| {
        let account_id = add_person(store, "holder", "31205900260011");
        let (client_id, redirect) = insert_public_client(store);
        let grant = yagona_oidc::Grant {
            id: "g1".into(),
            client_id: client_id.clone(),
            account_id: account_id.clone(),
            sid: "sid-1".into(),
            scopes: Scopes::try_from("openid profile").unwrap(),
            auth: AuthContext { auth_time: 100, acr: "2".into(), amr: vec!["eds".into()] },
            acting_as: None,
            created_at: 100,
            revoked_at: None,
            resources: vec![],
        };
        let code = AuthorizationCode {
            hash: "c1".into(),
            grant_id: "g1".into(),
            client_id: client_id.clone(),
            redirect_uri: redirect,
            code_challenge: None,
            nonce: None,
            expires_at: 200,
            dpop_jkt: None,
        };
        store.insert_grant_with_code(&grant, &code).unwrap();
        let claims = AccessTokenClaims {
            iss: "https://id.example".into(),
            sub: account_id.as_str().into(),
            aud: "https://api.example".into(),
            client_id: client_id.as_str().into(),
            exp: 2000,
            iat: 150,
            jti: "j1".into(),
            scope: "openid".into(),
            auth_time: Some(100),
            acr: Some("2".into()),
            amr: Some(vec!["eds".into()]),
            sid: Some("sid-1".into()),
            gid: Some("g1".into()),
            cnf: Some(Confirmation { jkt: "thumb".into() }),
            acting: serde_json::Map::new(),
        };
        store.insert_opaque_access_token("person-hash", &claims).unwrap();
        let stored: String = {
            use diesel::prelude::*;
            let mut conn = store.conn().unwrap();
            crate::connection::per_backend!(&mut *conn, |c| crate::schema::opaque_access_tokens::table
                .find("person-hash")
                .select(crate::schema::opaque_access_tokens::claims)
                .get_result(c))
            .unwrap()
        };
        assert_eq!(stored, r#"{"iat":150,"scope":"openid","aud":"https://api.example","cnf":{"jkt":"thumb"}}"#);
        match store.find_opaque_access_token("person-hash", 1500).unwrap() {
            Some(StoredAccessToken::OfGrant { jti, exp, part, grant, live_account }) => {
                assert_eq!((jti.as_str(), exp, grant.id.as_str()), ("j1", 2000, "g1"));
                assert_eq!(live_account.map(|a| a.id), Some(account_id.clone()), "live: read with its account");
                assert_eq!(grant.auth.amr, ["eds"]);
                let resource = Some("https://api.example".to_owned());
                let cnf = Some(Confirmation { jkt: "thumb".into() });
                assert_eq!(part, GrantTokenPart { iat: 150, scope: "openid".into(), aud: resource, cnf });
            }
            other => panic!("a person's token comes back with its grant: {other:?}"),
        }
        // A token stored whole by the version before (no grant id) is read whole.
        {
            use diesel::connection::SimpleConnection as _;
            let whole = serde_json::to_string(&AccessTokenClaims { jti: "j0".into(), ..claims.clone() }).unwrap();
            let sql = format!(
                "INSERT INTO opaque_access_tokens (hash, jti, claims, expires_at) VALUES ('old-hash', 'j0', '{whole}', 2000)"
            );
            store.conn().unwrap().batch_execute(&sql).unwrap();
        }
        match store.find_opaque_access_token("old-hash", 1500).unwrap() {
            Some(StoredAccessToken::Claims(old)) => {
                assert_eq!(
                    (old.jti.as_str(), old.gid.as_deref(), old.sub.as_str()),
                    ("j0", Some("g1"), account_id.as_str())
                )
            }
            other => panic!("a whole row is read whole: {other:?}"),
        }
        // The grant gone (purged after it expired): its token is gone with it.
        {
            use diesel::connection::SimpleConnection as _;
            let mut conn = store.conn().unwrap();
            conn.batch_execute("DELETE FROM authorization_codes WHERE grant_id = 'g1'").unwrap();
            conn.batch_execute("DELETE FROM grants WHERE id = 'g1'").unwrap();
        }
        assert!(store.find_opaque_access_token("person-hash", 1500).unwrap().is_none());
    });
}

/// Codes and refresh tokens are spent once, on both backends (PostgreSQL spends each in one
/// statement, SQLite in a transaction): every outcome the token endpoint acts on, including a
/// token whose grant was revoked without its tokens being deleted.
#[test]
fn codes_and_refresh_tokens_are_spent_once() {
    use yagona_oidc::{
        AuthContext, AuthorizationCode, ClientId, CodeConsumption, Lifetimes, OidcRepository as _, RefreshRotation,
        RefreshToken, Scopes, Session,
    };
    // A rotation at 180 issues a token expiring at 2000.
    let lifetimes = Lifetimes { refresh_token: 1820, refresh_token_absolute: 100_000, ..Lifetimes::default() };
    on_both_backends(|store| {
        let account_id = add_person(store, "spender", "31205900260011");
        let (client_id, redirect) = insert_public_client(store);
        let grant = |id: &str| yagona_oidc::Grant {
            id: id.into(),
            client_id: client_id.clone(),
            account_id: account_id.clone(),
            sid: "sid".into(),
            scopes: Scopes::try_from("openid offline_access").unwrap(),
            auth: AuthContext { auth_time: 100, acr: "1".into(), amr: vec!["pwd".into()] },
            acting_as: None,
            created_at: 100,
            revoked_at: None,
            resources: vec![],
        };
        let code = |hash: &str, grant_id: &str, expires_at| AuthorizationCode {
            hash: hash.into(),
            grant_id: grant_id.into(),
            client_id: client_id.clone(),
            redirect_uri: redirect.clone(),
            code_challenge: None,
            nonce: Some("n-0".into()),
            expires_at,
            dpop_jkt: Some(format!("jkt-{hash}")),
        };
        store.insert_grant_with_code(&grant("g1"), &code("c1", "g1", 200)).unwrap();
        store.insert_grant_with_code(&grant("g2"), &code("c2", "g2", 150)).unwrap();
        store.insert_grant_with_code(&grant("g3"), &code("c3", "g3", 200)).unwrap();

        // Codes.
        match store.consume_authorization_code("c1", 160).unwrap() {
            CodeConsumption::Consumed(spent) => {
                let (code, grant) = *spent;
                assert_eq!((code.hash.as_str(), code.grant_id.as_str()), ("c1", "g1"));
                assert_eq!((code.client_id.as_str(), code.redirect_uri.as_str()), ("rp", "https://rp.example/cb"));
                assert_eq!((code.nonce.as_deref(), code.expires_at), (Some("n-0"), 200));
                assert_eq!(code.dpop_jkt.as_deref(), Some("jkt-c1"));
                assert_eq!((grant.id.as_str(), grant.account_id.as_str()), ("g1", account_id.as_str()));
                assert_eq!(grant.scopes.to_string(), "offline_access openid");
                assert_eq!(grant.auth.amr, ["pwd"]);
            }
            other => panic!("the first redemption spends the code: {other:?}"),
        }
        assert!(matches!(
            store.consume_authorization_code("c1", 161).unwrap(),
            CodeConsumption::AlreadyUsed { grant_id } if grant_id == "g1"
        ));
        assert!(matches!(store.consume_authorization_code("c2", 160).unwrap(), CodeConsumption::Invalid), "expired");
        assert!(matches!(store.consume_authorization_code("none", 160).unwrap(), CodeConsumption::Invalid));
        store.revoke_grant("g3", 150).unwrap();
        assert!(
            matches!(store.consume_authorization_code("c3", 160).unwrap(), CodeConsumption::Invalid),
            "a revoked grant's code is not spent"
        );
        assert!(matches!(store.consume_authorization_code("c3", 161).unwrap(), CodeConsumption::Invalid));

        // Refresh tokens.
        let token = |hash: &str, grant_id: &str| RefreshToken {
            hash: hash.into(),
            grant_id: grant_id.into(),
            client_id: client_id.clone(),
            created_at: 170,
            expires_at: 1000,
        };
        store.insert_refresh_token(&token("r1", "g1")).unwrap();
        let other = ClientId::try_from("someone-else").unwrap();
        assert!(matches!(
            store.rotate_refresh_token("r1", &other, "r2", &lifetimes, 180).unwrap(),
            RefreshRotation::Invalid
        ));
        match store.rotate_refresh_token("r1", &client_id, "r2", &lifetimes, 180).unwrap() {
            RefreshRotation::Rotated(grant) => assert_eq!((grant.id.as_str(), grant.revoked_at), ("g1", None)),
            other => panic!("a live token rotates: {other:?}"),
        }
        assert!(matches!(
            store.rotate_refresh_token("r1", &client_id, "r3", &lifetimes, 181).unwrap(),
            RefreshRotation::Reused { grant_id } if grant_id == "g1"
        ));
        let (new, found) =
            store.find_live_refresh_token("r2", &lifetimes, 182).unwrap().expect("the new token is stored");
        assert_eq!((new.grant_id.as_str(), new.expires_at, found.id.as_str()), ("g1", 2000, "g1"));
        assert!(
            matches!(
                store.rotate_refresh_token("r2", &client_id, "r4", &lifetimes, 2001).unwrap(),
                RefreshRotation::Invalid
            ),
            "expired"
        );
        assert!(matches!(
            store.rotate_refresh_token("none", &client_id, "r5", &lifetimes, 190).unwrap(),
            RefreshRotation::Invalid
        ));
        // A grant revoked behind the repository's back (its tokens left in place): the token is
        // spent but nothing is issued.
        store.insert_grant_with_code(&grant("g4"), &code("c4", "g4", 200)).unwrap();
        store.insert_refresh_token(&token("r6", "g4")).unwrap();
        store.conn().unwrap().batch_execute("UPDATE grants SET revoked_at = 150 WHERE id = 'g4'").unwrap();
        assert!(matches!(
            store.rotate_refresh_token("r6", &client_id, "r7", &lifetimes, 190).unwrap(),
            RefreshRotation::Invalid
        ));
        assert!(
            store.find_live_refresh_token("r7", &lifetimes, 191).unwrap().is_none(),
            "no new token for a revoked grant"
        );

        // A code exchange's two writes for an opaque-token client: both, or neither.
        store.insert_refresh_and_opaque_access_token(&token("r8", "g1"), "a1", &access_claims("j1", 2000)).unwrap();
        assert!(store.find_live_refresh_token("r8", &lifetimes, 200).unwrap().is_some());
        assert!(matches!(
            store.find_opaque_access_token("a1", 200).unwrap(),
            Some(yagona_oidc::tokens::StoredAccessToken::Claims(c)) if c.jti == "j1"
        ));
        let again = store.insert_refresh_and_opaque_access_token(&token("r9", "g1"), "a1", &access_claims("j2", 2000));
        assert!(again.is_err(), "an access token hash is stored once");
        assert!(
            store.find_live_refresh_token("r9", &lifetimes, 200).unwrap().is_none(),
            "the refresh token went with it"
        );

        // Without offline_access a grant refreshes only while the session it was made in is live.
        let online = |id: &str, sid: &str| yagona_oidc::Grant {
            sid: sid.into(),
            scopes: Scopes::try_from("openid profile").unwrap(),
            ..grant(id)
        };
        store.insert_grant_with_code(&online("g5", "s5"), &code("c5", "g5", 200)).unwrap();
        store.insert_refresh_token(&token("r10", "g5")).unwrap();
        assert!(store.find_live_refresh_token("r10", &lifetimes, 190).unwrap().is_none(), "no session s5");
        assert!(matches!(
            store.rotate_refresh_token("r10", &client_id, "r11", &lifetimes, 190).unwrap(),
            RefreshRotation::Invalid
        ));
        let session = Session {
            id_hash: "sh6".into(),
            sid: "s6".into(),
            account_id: account_id.clone(),
            auth: grant("g6").auth,
            address: "127.0.0.1".into(),
            acting_as: None,
            created_at: 100,
            expires_at: 500,
            user_agent: None,
        };
        store.insert_session(&session).unwrap();
        store.insert_grant_with_code(&online("g6", "s6"), &code("c6", "g6", 200)).unwrap();
        store.insert_refresh_token(&token("r12", "g6")).unwrap();
        assert!(matches!(
            store.rotate_refresh_token("r12", &client_id, "r13", &lifetimes, 190).unwrap(),
            RefreshRotation::Rotated(_)
        ));
        assert!(store.find_live_refresh_token("r13", &lifetimes, 499).unwrap().is_some());
        assert!(store.find_live_refresh_token("r13", &lifetimes, 500).unwrap().is_none(), "the session expired");
        assert!(matches!(
            store.rotate_refresh_token("r13", &client_id, "r14", &lifetimes, 500).unwrap(),
            RefreshRotation::Invalid
        ));

        // Every family ends at its grant's creation (100) plus the absolute lifetime.
        let short = Lifetimes { refresh_token_absolute: 300, ..lifetimes };
        store.insert_refresh_token(&token("r15", "g1")).unwrap();
        assert!(matches!(
            store.rotate_refresh_token("r15", &client_id, "r16", &short, 250).unwrap(),
            RefreshRotation::Rotated(_)
        ));
        let (cut, _) = store.find_live_refresh_token("r16", &short, 251).unwrap().expect("rotated");
        assert_eq!(cut.expires_at, 400, "cut to the family's end, not 250 + 1820");
        assert!(store.find_live_refresh_token("r16", &short, 400).unwrap().is_none());
        assert!(store.find_live_refresh_token("r16", &lifetimes, 399).unwrap().is_some());
        store.insert_refresh_token(&token("r17", "g1")).unwrap();
        assert!(matches!(
            store.rotate_refresh_token("r17", &client_id, "r18", &short, 400).unwrap(),
            RefreshRotation::Invalid
        ));
    });
}

/// With background checkpoints, committed pages reach the database file without any commit
/// checkpointing (the log stays far below the connections' 10000-page limit); with checkpoints
/// at commit, the same writes stay in the log.
#[test]
fn the_background_checkpointer_copies_the_log_into_the_database_file() {
    use crate::Checkpoints;
    let dir = std::env::temp_dir().join(format!("yagona-store-{}", random_name()));
    let main_file_after_writes = |name: &str, checkpoints: Checkpoints| {
        let path = dir.join(name);
        let store =
            Store::open_with(&DatabaseUrl::Sqlite(path.clone()), 2, checkpoints, crate::DEFAULT_ACQUIRE_TIMEOUT)
                .unwrap();
        store.conn().unwrap().batch_execute("CREATE TABLE filler (data TEXT NOT NULL)").unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // About 100 pages: a tenth of the commit checkpoint's threshold.
        for _ in 0..100 {
            store.conn().unwrap().batch_execute("INSERT INTO filler VALUES (printf('%.4000c', 'x'))").unwrap();
        }
        std::thread::sleep(crate::connection::BACKGROUND_CHECKPOINT_EVERY * 3);
        let after = std::fs::metadata(&path).unwrap().len();
        (before, after)
    };
    let (before, after) = main_file_after_writes("commit.db", Checkpoints::OnCommit);
    assert_eq!(before, after, "checkpoints at commit: 100 pages stay in the log");
    let (before, after) = main_file_after_writes("background.db", Checkpoints::Background);
    assert!(after >= before + 100 * 4000, "the background checkpointer copied the pages: {before} -> {after}");
    let _ = std::fs::remove_dir_all(dir);
}
