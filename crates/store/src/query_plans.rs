//! Every query on a hot path uses an index (issue 16, item 4; docs/performance.md, "Every hot
//! query uses an index").
//!
//! The test seeds a database with thousands of rows in the large tables (so that the planners
//! prefer an index where one fits; `ANALYZE` first), calls the repository methods of the hot
//! paths with diesel's instrumentation recording every statement they send, and asks each
//! backend for the plan of each statement recorded: the very SQL the code runs, not a copy.
//! PostgreSQL plans it as a prepared statement with a generic plan (what a cached statement gets
//! after a few executions); SQLite's `EXPLAIN QUERY PLAN` plans the text with its `?`s. A full
//! scan (`Seq Scan`, `SCAN table`) of any table but the few small ones fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection as _};
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _};
use yagona_account::audit::AuditRepository as _;
use yagona_account::legal::{LegalRepository as _, Tin};
use yagona_account::{AccountId, AccountRepository as _, Login, Pinfl};
use yagona_oidc::{ClientId, Lifetimes, OidcRepository as _};

use crate::tests::{random_name, PgDatabase};
use crate::{DatabaseUrl, DbConnection, Store};

/// Tables that stay small whatever the number of people (a full scan of one is not a defect).
const SMALL_TABLES: &[&str] =
    &["signing_keys", "revocation_sources", "registration_tokens", "__diesel_schema_migrations"];

/// Rows in each large table: enough that a full scan costs more than an index lookup to both
/// planners, few enough that the test takes seconds.
const ROWS: i64 = 4000;

/// Records the SQL of every statement a connection starts.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let shown = query.to_string();
            // `debug_query`'s display: the SQL, then ` -- binds: [...]`.
            let sql = shown.rsplit_once(" -- binds: ").map_or(shown.as_str(), |(sql, _)| sql).trim().to_owned();
            self.0.lock().unwrap().push(sql);
        }
    }
}

/// The valid PINFL of seeded person `i` (SQL on both backends): `3120590` (a man born on
/// 12 May 1990), `i` in six digits, and the check digit (digits weighted 7, 3, 1, ...; the
/// prefix's weighted sum is 50).
const PINFL_SQL: &str = "'3120590' || substr(CAST(1000000 + i AS TEXT), 2) || CAST((50 + 3 * (i / 100000 % 10) \
     + (i / 10000 % 10) + 7 * (i / 1000 % 10) + 3 * (i / 100 % 10) + (i / 10 % 10) + 7 * (i % 10)) % 10 AS TEXT)";

/// The same text on both backends: `n` counts from 1 to [`ROWS`].
fn seed_sql() -> String {
    let n = format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) ");
    let far = 4_000_000_000_i64;
    [
        format!(
            "{n}INSERT INTO clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, \
             first_party, id_token_signing_alg, created_at, access_token_format, scopes, legacy, \
             token_endpoint_auth_method, sealed_secret, registration_access_token_hash, metadata) \
             SELECT 'c' || i, 'Client ' || i, NULL, '[]', '[]', '[]', false, 'RS256', 0, 'jwt', 'openid', false, \
             'none', NULL, NULL, '{{}}' FROM n"
        ),
        format!(
            "{n}INSERT INTO accounts (id, login, pinfl, password_hash, surname, first_name, middle_name, birth_date, \
             passport_number, email, phone, status, created_at) \
             SELECT 'a' || i, 'user' || i, {PINFL_SQL}, 'x', 'S', 'F', NULL, '1990-05-12', \
             'AA' || substr(CAST(10000000 + i AS TEXT), 2), NULL, NULL, 'confirmed', 0 FROM n"
        ),
        format!(
            "{n}INSERT INTO sessions (id_hash, sid, account_id, auth_time, acr, amr, address, acting_as, created_at, expires_at) \
             SELECT 'sh' || i, 'sid' || i, 'a' || i, 0, '1', '[]', '127.0.0.1', NULL, 0, {far} FROM n"
        ),
        format!(
            "{n}INSERT INTO legal_entities (tin, name, short_name, linked_at) SELECT CAST(300000000 + i AS TEXT), 'E', 'E', 0 FROM n"
        ),
        format!(
            "{n}INSERT INTO memberships (tin, account_id, role, title, granted_by, granted_at, expires_at, ended_at, \
             certificate_valid_from) SELECT CAST(300000000 + i AS TEXT), 'a' || i, 'head', NULL, NULL, 0, NULL, NULL, NULL FROM n"
        ),
        format!(
            "{n}INSERT INTO membership_events (id, tin, account_id, role, action, by_account, at) \
             SELECT 'me' || i, CAST(300000000 + i AS TEXT), 'a' || i, 'head', 'granted', NULL, i FROM n"
        ),
        format!(
            "{n}INSERT INTO grants (id, client_id, account_id, sid, scopes, auth_time, acr, amr, acting_as, created_at, \
             expires_at, revoked_at, acting_tin, acting_role) \
             SELECT 'g' || i, 'c' || (1 + i % 50), 'a' || i, 'sid' || i, 'openid profile', 0, '1', '[]', NULL, 1799999000, \
             {far}, NULL, CASE WHEN i % 2 = 0 THEN CAST(300000000 + i AS TEXT) END, CASE WHEN i % 2 = 0 THEN 'head' END FROM n"
        ),
        format!(
            "{n}INSERT INTO authorization_codes (hash, grant_id, client_id, redirect_uri, code_challenge, nonce, \
             expires_at, consumed_at) SELECT 'code' || i, 'g' || i, 'c' || (1 + i % 50), 'https://rp/cb', NULL, NULL, \
             {far}, NULL FROM n"
        ),
        format!(
            "{n}INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at) \
             SELECT 'rt' || i, 'g' || i, 'c' || (1 + i % 50), 0, {far}, NULL FROM n"
        ),
        format!(
            "{n}INSERT INTO opaque_access_tokens (hash, jti, claims, expires_at, grant_id) \
             SELECT 'at' || i, 'j' || i, '{{\"iat\":0,\"scope\":\"openid\"}}', {far}, 'g' || i FROM n"
        ),
        format!("{n}INSERT INTO revoked_access_tokens (jti, expires_at) SELECT 'rj' || i, {far} FROM n"),
        format!(
            "{n}INSERT INTO consents (account_id, client_id, scopes, granted_at) SELECT 'a' || i, 'c' || (1 + i % 50), 'openid', 0 FROM n"
        ),
        format!(
            "{n}INSERT INTO login_events (id, account_id, at, method, client_id, address) \
             SELECT 'le' || i, 'a' || (1 + i % 100), i, 'password', NULL, '127.0.0.1' FROM n"
        ),
        format!(
            "{n}INSERT INTO audit_events (id, at, kind, actor, subject, detail) \
             SELECT 'ae' || i, i, 'login', NULL, 'a' || (1 + i % 100), '{{}}' FROM n"
        ),
        format!(
            "{n}INSERT INTO certificates (serial, issuer, account_id, pinfl, common_name, valid_to, bound_at) \
             SELECT 'serial' || i, 'CA', 'a' || i, {PINFL_SQL}, 'CN', {far}, 0 FROM n"
        ),
        format!(
            "{n}INSERT INTO throttle_counters (key, attempts, window_start, last_attempt) SELECT 'k' || i, 1, 0, 0 FROM n"
        ),
        format!("{n}INSERT INTO dpop_proofs (key, expires_at) SELECT 'dp' || i, {far} FROM n"),
        format!("{n}INSERT INTO client_assertion_jtis (hash, expires_at) SELECT 'ca' || i, {far} FROM n"),
        format!(
            "{n}INSERT INTO pushed_authorization_requests (hash, client_id, parameters, expires_at) \
             SELECT 'par' || i, 'c' || (1 + i % 50), '{{}}', {far} FROM n"
        ),
        format!(
            "{n}INSERT INTO backchannel_logouts (id, client_id, account_id, sid, attempts, next_attempt_at, created_at) \
             SELECT 'bl' || i, 'c' || (1 + i % 50), 'a' || i, 'sid' || i, 0, {far} + i, 0 FROM n"
        ),
        format!("{n}INSERT INTO grant_dpop_keys (grant_id, jkt) SELECT 'g' || i, 'jkt' FROM n WHERE i % 3 = 0"),
        format!(
            "{n}INSERT INTO interactions (id_hash, browser_hash, request, login_done, consent_done, created_at, expires_at) \
             SELECT 'ih' || i, 'bh', '{{}}', false, false, 0, {far} FROM n"
        ),
        format!(
            "{n}INSERT INTO registrations (id_hash, browser_hash, draft, created_at, expires_at) \
             SELECT 'reg' || i, 'bh', '{{}}', 0, {far} FROM n"
        ),
        format!(
            "{n}INSERT INTO eds_challenges (hash, browser_hash, expires_at) SELECT 'ch' || i, 'bh', {far} FROM n"
        ),
        format!(
            "{n}INSERT INTO pending_signatures (id_hash, browser_hash, account_id, purpose, signer, replaces, created_at, expires_at) \
             SELECT 'ps' || i, 'bh', 'a' || i, 'bind_certificate', '{{}}', NULL, 0, {far} FROM n"
        ),
        format!(
            "{n}INSERT INTO recovery_tokens (hash, account_id, purpose, email, created_at, expires_at) \
             SELECT 'rec' || i, 'a' || i, 'reset', 'person@example.org', 0, {far} FROM n"
        ),
        // A few expired rows in each table the purge reads, so that each of its statements runs.
        "UPDATE authorization_codes SET expires_at = 1000 WHERE hash IN ('code30', 'code31')".to_owned(),
        "UPDATE refresh_tokens SET expires_at = 1000 WHERE hash IN ('rt30', 'rt31')".to_owned(),
        "UPDATE grants SET expires_at = 1000 WHERE id IN ('g40', 'g41')".to_owned(),
        "UPDATE sessions SET expires_at = 1000 WHERE id_hash IN ('sh20', 'sh21')".to_owned(),
        "UPDATE interactions SET expires_at = 1000 WHERE id_hash = 'ih30'".to_owned(),
        "UPDATE eds_challenges SET expires_at = 1000 WHERE hash = 'ch30'".to_owned(),
        "UPDATE registrations SET expires_at = 1000 WHERE id_hash = 'reg30'".to_owned(),
        "UPDATE pending_signatures SET expires_at = 1000 WHERE id_hash = 'ps30'".to_owned(),
        "UPDATE recovery_tokens SET expires_at = 1000 WHERE hash = 'rec30'".to_owned(),
        "UPDATE revoked_access_tokens SET expires_at = 1000 WHERE jti = 'rj30'".to_owned(),
        "UPDATE opaque_access_tokens SET expires_at = 1000 WHERE hash = 'at30'".to_owned(),
        "UPDATE client_assertion_jtis SET expires_at = 1000 WHERE hash = 'ca30'".to_owned(),
        "UPDATE pushed_authorization_requests SET expires_at = 1000 WHERE hash = 'par30'".to_owned(),
        "UPDATE dpop_proofs SET expires_at = 1000 WHERE key = 'dp30'".to_owned(),
        "UPDATE throttle_counters SET last_attempt = 1799999000 WHERE key <> 'k31'".to_owned(),
        "ANALYZE".to_owned(),
    ]
    .join(";\n")
}

/// The PINFL of seeded person 8 (its check digit found by trying the ten).
fn some_pinfl() -> Pinfl {
    (0..10).find_map(|d| Pinfl::try_from(format!("3120590000008{d}").as_str()).ok()).unwrap()
}

/// Calls the repository methods of the hot paths (each on seeded rows, so that every statement
/// of the method runs: a miss would end some methods before their later statements). Their
/// results are ignored: the seeded rows are not all valid domain data (an access token's claims
/// are `{}`), and a statement is recorded when it is sent.
fn run_hot_paths(store: &Store) {
    let now = 1_800_000_000;
    let lifetimes = Lifetimes::default();
    let account = AccountId::from_stored("a8".into());
    let client = ClientId::try_from("c9").unwrap();
    // Token endpoint: code consumption, refresh rotation (a grant acting for an entity, so the
    // membership EXISTS runs), live refresh-token lookup.
    store.consume_authorization_code("code8", now).ok();
    store.rotate_refresh_token("rt8", &client, "rt-new", &lifetimes, now).ok();
    store.rotate_refresh_token("rt8", &client, "rt-newer", &lifetimes, now).ok();
    store.find_live_refresh_token("rt10", &lifetimes, now).ok();
    store.find_grant("g10").ok();
    // Userinfo and introspection.
    store.find_live_access("j12", "g12", now).ok();
    store.find_opaque_access_token("at12", now).ok();
    store.is_access_token_revoked("j12").ok();
    store.grant_dpop_key("g12").ok();
    // Sessions and login.
    store.find_session("sh14", now).ok();
    store.list_sessions(&account, now).ok();
    store.find_client(&client).ok();
    store.find_account(&account).ok();
    store.find_account_by_login(&Login::try_from("user8").unwrap()).ok();
    store.find_account_by_pinfl(&some_pinfl()).ok();
    store.find_account_by_certificate("serial8", "CA").ok();
    store.recent_logins(&account, 10).ok();
    store.find_interaction("ih8", now).ok();
    store.find_consent(&account, &client).ok();
    store.list_consents(&account).ok();
    store.memberships_of(&account, now).ok();
    store.current_head(&Tin::try_from("300000008").unwrap(), now).ok();
    store.end_session("sh16", now).ok();
    // Throttles.
    store.reserve_attempt("k8", 10, now - 60, now).ok();
    store.release_attempt("k8").ok();
    store.record_login_failure("k9", now, now - 60).ok();
    store.recent_login_failures("k9", now - 60).ok();
    // DPoP proof replay, client assertion jti, pushed requests.
    store.record_dpop_proof("dp-new", now + 60).ok();
    store.record_dpop_proof("dp8", now + 60).ok();
    store.spend_assertion_jti("ca8", now + 60).ok();
    store.take_pushed_request("par8", &client, now).ok();
    // Back-channel outbox, audit by subject.
    store.due_backchannel_logouts(now, 20).ok();
    store.audit_events(Some(&account), 0, 50).ok();
    // The audit trail's retention (the seeded events are at 1 to ROWS).
    store.purge_audit(10).ok();
    // Housekeeping: the purge's batches (last: it deletes rows the calls above read), small
    // batches so that a table's loop runs more than once.
    let batches = crate::PurgeBatches { batch: 1, pause: std::time::Duration::ZERO };
    let purged = store.purge_expired_in_batches(now, batches).unwrap();
    assert_eq!(purged.rows(), 2 + 2 + 2 + 2 + 10 + 1, "the expired rows seeded (a throttle counter is a day old)");
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// The tables a PostgreSQL plan (JSON) reads with a sequential scan.
fn pg_seq_scans(node: &serde_json::Value, found: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            if map.get("Node Type").and_then(|t| t.as_str()) == Some("Seq Scan") {
                let table = map.get("Relation Name").and_then(|t| t.as_str()).unwrap_or("?");
                found.push(table.to_owned());
            }
            map.values().for_each(|v| pg_seq_scans(v, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| pg_seq_scans(v, found)),
        _ => {}
    }
}

/// How many `$n` placeholders a PostgreSQL statement has (the highest `n`).
fn placeholders(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The full scans of large tables in the plan of `sql`, as "table".
fn full_scans(conn: &mut DbConnection, sql: &str) -> Vec<String> {
    let mut found = Vec::new();
    match conn {
        DbConnection::Sqlite(c) => {
            let rows: Vec<SqlitePlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(c).unwrap();
            for row in rows {
                // "SCAN t", "SCAN t USING INDEX i" (the whole index, still every row), but not
                // "SEARCH t USING INDEX i (a=?)" or "SCAN CONSTANT ROW".
                if let Some(rest) = row.detail.strip_prefix("SCAN ") {
                    let table = rest.split(' ').next().unwrap_or_default();
                    if table != "CONSTANT" {
                        found.push(table.to_owned());
                    }
                }
            }
        }
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SET plan_cache_mode = force_generic_plan; PREPARE yagona_plan AS {sql}"))
                .unwrap();
            let nulls = vec!["NULL"; placeholders(sql)].join(", ");
            let execute = if nulls.is_empty() {
                "EXECUTE yagona_plan".to_owned()
            } else {
                format!("EXECUTE yagona_plan({nulls})")
            };
            let rows: Vec<PgPlanRow> = diesel::sql_query(format!("EXPLAIN (FORMAT JSON) {execute}")).load(c).unwrap();
            c.batch_execute("DEALLOCATE yagona_plan").unwrap();
            pg_seq_scans(&serde_json::from_str(&rows[0].plan).unwrap(), &mut found);
        }
    }
    found.retain(|t| !SMALL_TABLES.contains(&t.as_str()));
    found
}

/// The statements the hot paths send, and those whose plan scans a large table.
fn check(url: &DatabaseUrl) -> (usize, Vec<String>) {
    let store = Store::open(url, 1).unwrap();
    store.migrate().unwrap();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    {
        let mut conn = store.conn().unwrap();
        conn.batch_execute(&seed_sql()).unwrap();
        conn.set_instrumentation(Recorder(recorded.clone()));
    }
    run_hot_paths(&store);
    let statements: BTreeSet<String> = std::mem::take(&mut *recorded.lock().unwrap())
        .into_iter()
        .filter(|sql| {
            let head = sql.trim_start().to_ascii_uppercase();
            ["SELECT", "UPDATE", "DELETE", "INSERT", "WITH"].iter().any(|k| head.starts_with(k))
        })
        .collect();
    let mut conn = store.conn().unwrap();
    conn.set_instrumentation(Option::<Recorder>::None);
    // The detector finds a scan where there is one, on this data.
    let unindexed = match &*conn {
        DbConnection::Postgres(_) => "SELECT id FROM grants WHERE scopes = $1",
        DbConnection::Sqlite(_) => "SELECT id FROM grants WHERE scopes = ?",
    };
    assert_eq!(full_scans(&mut conn, unindexed), ["grants"], "a query without an index is found");
    if std::env::var_os("YAGONA_SHOW_PLANS").is_some() {
        statements.iter().for_each(|sql| eprintln!("{sql}"));
    }
    let failures = statements
        .iter()
        .filter_map(|sql| {
            let scans = full_scans(&mut conn, sql);
            (!scans.is_empty()).then(|| format!("full scan of {} in: {sql}", scans.join(", ")))
        })
        .collect();
    (statements.len(), failures)
}

fn assert_indexed(backend: &str, (checked, failures): (usize, Vec<String>)) {
    assert!(checked > 30, "{backend}: only {checked} statements recorded");
    assert!(failures.is_empty(), "{backend}: hot-path statements without an index:\n{}", failures.join("\n"));
}

#[test]
fn every_hot_query_uses_an_index_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("yagona-plans-{}", random_name()));
    let result = check(&DatabaseUrl::Sqlite(dir.join("plans.db")));
    std::fs::remove_dir_all(&dir).ok();
    assert_indexed("SQLite", result);
}

#[test]
fn every_hot_query_uses_an_index_on_postgres() {
    let db = PgDatabase::create();
    assert_indexed("PostgreSQL", check(&db.url()));
}
