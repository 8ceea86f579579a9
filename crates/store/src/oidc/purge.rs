//! Deleting what has expired, in short batches so that requests are not held behind it
//! (docs/performance.md, "Housekeeping at scale").
//!
//! Each batch is one `DELETE` of at most `batch` rows found through the table's expiry index
//! (migration `2026-12-03-000400_expiry_indexes`), its own transaction; between batches the
//! purge pauses, so that writers waiting on SQLite's lock get it and, on PostgreSQL, requests
//! the cores. Expired sessions go a batch at a
//! time too, each batch with its back-channel logout notifications in one transaction. The audit
//! trail's retention (`crate::audit`) goes through the same batches.
//!
//! Each batch starts where the one before it stopped: at the greatest expiry it deleted, not at
//! the table's oldest row. PostgreSQL keeps a deleted row's index entries until a vacuum, and a
//! batch that starts at the oldest entry walks over every row the batches before it deleted: the
//! purge grows with the square of its rows (the audit trail's millions of old events at 10 M
//! people went at ~1400 rows/s, slowing; `audit::tests` counts the index blocks a purge reads).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

/// A table the purge deletes from: its rows whose `column` is more than `kept` seconds past.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expiring {
    pub(crate) table: &'static str,
    pub(crate) column: &'static str,
    pub(crate) kept: i64,
}

impl Expiring {
    /// Rows gone the moment their `expires_at` passes.
    const fn at_expiry(table: &'static str) -> Self {
        Self { table, column: "expires_at", kept: 0 }
    }

    /// The newest value of `column` that is deleted at `now`.
    fn cutoff(&self, now: i64) -> i64 {
        now - self.kept
    }
}

/// The tables deleted from by expiry, in order; `sessions` is handled between `grants` and the
/// rest (its back-channel notifications read the grants left). `authorization_codes` and
/// `refresh_tokens` go before `grants`, whose delete cascades to them.
const BEFORE_SESSIONS: [Expiring; 3] =
    [Expiring::at_expiry("authorization_codes"), Expiring::at_expiry("refresh_tokens"), Expiring::at_expiry("grants")];
const AFTER_SESSIONS: [Expiring; 12] = [
    Expiring::at_expiry("interactions"),
    Expiring::at_expiry("eds_challenges"),
    Expiring::at_expiry("registrations"),
    Expiring::at_expiry("pending_signatures"),
    Expiring::at_expiry("recovery_tokens"),
    Expiring::at_expiry("revoked_access_tokens"),
    Expiring::at_expiry("opaque_access_tokens"),
    Expiring::at_expiry("client_assertion_jtis"),
    Expiring::at_expiry("pushed_authorization_requests"),
    Expiring::at_expiry("registration_tokens"),
    Expiring::at_expiry("dpop_proofs"),
    // A counter untouched for a day is past every throttle window.
    Expiring { table: "throttle_counters", column: "last_attempt", kept: 86_400 },
];
/// The most rows a batch deletes (the back-channel query binds one variable per session of a
/// batch, within SQLite's limit).
pub const MAX_BATCH: i64 = 10_000;

/// How a purge goes.
#[derive(Debug, Clone, Copy)]
pub struct PurgeBatches {
    /// Rows per batch (1 to [`MAX_BATCH`]).
    pub batch: i64,
    /// The least pause after a full batch (zero: none); a batch that took more than
    /// 1/[`PAUSE_PER_BATCH`] of it is followed by [`PAUSE_PER_BATCH`] times its own time instead. On SQLite it is when the database lock is free for
    /// others; on PostgreSQL, when the purge leaves the cores to requests.
    pub pause: Duration,
}

/// Where there is a pause, a full batch is followed by at least this many times the batch's own
/// time, so the purge holds SQLite's one write lock (or a core) at most a third of the time
/// however slow a batch is (a large table, a slow disk, a busy core). On SQLite the pause must
/// also outlast the sleep of a writer queued in the busy handler, which grows with its wait (1 ms
/// up to 100 ms): a pause shorter than that sleep lets the purge take the lock straight back.
pub const PAUSE_PER_BATCH: u32 = 2;

impl PurgeBatches {
    /// The defaults for `backend`, from the sweep in docs/performance.md ("Housekeeping at
    /// scale"): on SQLite a batch holds the only write lock, so batches are short (500 rows,
    /// about 10 ms); on PostgreSQL a batch locks only its own rows, and larger ones cost less in
    /// all. Both pause: at 1 M people a PostgreSQL purge without pauses left the load 0.63× to
    /// 0.69× of its rate (p99 1.42× to 2.04×), with them 0.84× to 0.92× (p99 1.24× to 1.37×),
    /// taking three times as long (ninth session).
    pub fn for_backend(backend: crate::Backend) -> Self {
        let batch = match backend {
            crate::Backend::Sqlite => 500,
            crate::Backend::Postgres => 5_000,
        };
        Self { batch, pause: Duration::from_millis(20) }
    }

    /// The defaults of both backends in words, for `yagona purge --help`.
    pub fn defaults_described() -> String {
        let (sqlite, postgres) =
            (Self::for_backend(crate::Backend::Sqlite), Self::for_backend(crate::Backend::Postgres));
        format!(
            "{} rows per batch on SQLite, {} on PostgreSQL; after each full batch a pause of at least {} ms, or {} \
             times the batch's own time",
            sqlite.batch,
            postgres.batch,
            sqlite.pause.as_millis(),
            PAUSE_PER_BATCH
        )
    }

    /// The pause after a full batch that took `batch_time`: none where `pause` is zero.
    fn pause_after(pause: Duration, batch_time: Duration) -> Duration {
        if pause.is_zero() {
            return pause;
        }
        pause.max(batch_time * PAUSE_PER_BATCH)
    }
}

/// What a purge deleted.
#[derive(Debug, Clone, Default)]
pub struct PurgeReport {
    /// Rows deleted per table, in purge order (cascaded rows not counted).
    pub tables: Vec<(&'static str, u64)>,
    /// Statements (batches) that deleted rows.
    pub batches: u64,
    pub seconds: f64,
    /// Stopped before the end because the process is stopping: the rest waits for the next
    /// purge (every batch committed on its own, so nothing is half-done).
    pub stopped: bool,
}

impl PurgeReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    /// The report `purge` fills in, with the time it took.
    pub(crate) fn timed(purge: impl FnOnce(&mut Self) -> Result<(), StoreError>) -> Result<Self, StoreError> {
        let started = Instant::now();
        let mut report = Self::default();
        purge(&mut report)?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}

/// The expiry column's value of a deleted row (`RETURNING`).
#[derive(QueryableByName)]
struct Deleted {
    #[diesel(sql_type = BigInt)]
    expiry: i64,
}

/// One batch: up to `limit` rows of `table` whose `column` is from `from` to `cutoff`, the
/// oldest first, found by the column's index and deleted by their row address (PostgreSQL
/// `ctid`, SQLite `rowid`); the deleted rows' `column` values. The `ORDER BY` keeps the index in
/// even a generic plan, which cannot know how few rows are expired: a sequential scan under a
/// `LIMIT` reads the whole table when none is.
fn delete_batch(
    conn: &mut DbConnection,
    table: &str,
    column: &str,
    from: i64,
    cutoff: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    let deleted: Vec<Deleted> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {column} >= $1 \
             AND {column} <= $2 ORDER BY {column} LIMIT $3)) RETURNING {column} AS expiry"
        ))
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(cutoff)
        .bind::<BigInt, _>(limit)
        .load(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {column} >= ? AND {column} <= ? \
             ORDER BY {column} LIMIT ?) RETURNING {column} AS expiry"
        ))
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(cutoff)
        .bind::<BigInt, _>(limit)
        .load(sqlite)?,
    };
    Ok(deleted.into_iter().map(|d| d.expiry).collect())
}

/// The statement of the purge before batches: every row of `table` at or before `cutoff`.
fn delete_all(conn: &mut DbConnection, table: &str, column: &str, cutoff: i64) -> QueryResult<usize> {
    match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query(format!("DELETE FROM {table} WHERE {column} <= $1")).bind::<BigInt, _>(cutoff).execute(pg)
        }
        DbConnection::Sqlite(sqlite) => diesel::sql_query(format!("DELETE FROM {table} WHERE {column} <= ?"))
            .bind::<BigInt, _>(cutoff)
            .execute(sqlite),
    }
}

#[derive(QueryableByName)]
struct EndedSession {
    #[diesel(sql_type = diesel::sql_types::Text)]
    sid: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    account_id: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

/// One batch of expired sessions from `from`, deleted (oldest first, through
/// `sessions_expires_at`) with their back-channel notifications in one transaction; the deleted
/// sessions' expiries. The `DELETE` comes
/// first: a SQLite transaction that reads before it writes fails at once (`SQLITE_BUSY`, no busy
/// wait) when another connection committed in between, as the server's requests do all along.
fn end_sessions_batch(store: &Store, from: i64, now: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
    store.transaction(|conn| {
        let ended: Vec<EndedSession> = match conn {
            DbConnection::Postgres(pg) => diesel::sql_query(
                "DELETE FROM sessions WHERE ctid = ANY(ARRAY(SELECT ctid FROM sessions WHERE expires_at >= $1 \
                 AND expires_at <= $2 ORDER BY expires_at LIMIT $3)) RETURNING sid, account_id, expires_at",
            )
            .bind::<BigInt, _>(from)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
            DbConnection::Sqlite(sqlite) => diesel::sql_query(
                "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE expires_at >= ? \
                 AND expires_at <= ? ORDER BY expires_at LIMIT ?) RETURNING sid, account_id, expires_at",
            )
            .bind::<BigInt, _>(from)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(sqlite)?,
        };
        // An expired session ends here: its clients get back-channel logout notifications.
        let expiries = ended.iter().map(|s| s.expires_at).collect();
        let ended: Vec<(String, String)> = ended.into_iter().map(|s| (s.sid, s.account_id)).collect();
        super::backchannel::enqueue_backchannel_logouts_for_in(conn, &ended, now)?;
        Ok(expiries)
    })
}

/// Runs `batch(from, limit)`, which deletes up to `limit` rows expiring from `from` on and
/// returns their expiries, until it deletes fewer than `limit`, pausing between full batches as
/// `how` says, or until `stop` is set; adds the table's count to `report`. Each batch resumes at
/// the greatest expiry deleted so far (module comment): rows that share it with the last batch's
/// are met again (`>=`), so the dead entries walked twice are those of one instant and none is
/// skipped.
fn drain(
    report: &mut PurgeReport,
    table: &'static str,
    how: PurgeBatches,
    stop: &AtomicBool,
    mut batch: impl FnMut(i64, i64) -> Result<Vec<i64>, StoreError>,
) -> Result<(), StoreError> {
    let (limit, pause) = (how.batch.clamp(1, MAX_BATCH), how.pause);
    let (mut from, mut total) = (i64::MIN, 0);
    loop {
        // A server asked to stop must not wait for a purge of millions of rows (minutes at 10 M
        // people): it stops between batches.
        if stop.load(Ordering::Relaxed) {
            report.stopped = true;
            break;
        }
        let started = Instant::now();
        let expiries = batch(from, limit)?;
        from = expiries.iter().copied().fold(from, i64::max);
        let n = expiries.len();
        total += n as u64;
        report.batches += u64::from(n > 0);
        if (n as i64) < limit {
            break;
        }
        let pause = PurgeBatches::pause_after(pause, started.elapsed());
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    report.tables.push((table, total));
    Ok(())
}

impl Store {
    /// Deletes every row expired at `now` in batches (module comment); what was deleted.
    pub fn purge_expired_in_batches(&self, now: i64, how: PurgeBatches) -> Result<PurgeReport, StoreError> {
        self.purge_expired_in_batches_until(now, how, &AtomicBool::new(false))
    }

    /// [`Self::purge_expired_in_batches`], stopping between batches once `stop` is set (the
    /// server's shutdown): the report says so.
    pub fn purge_expired_in_batches_until(
        &self,
        now: i64,
        how: PurgeBatches,
        stop: &AtomicBool,
    ) -> Result<PurgeReport, StoreError> {
        PurgeReport::timed(|report| {
            for e in BEFORE_SESSIONS {
                self.drain_expired(report, e, now, how, stop)?;
            }
            drain(report, "sessions", how, stop, |from, limit| end_sessions_batch(self, from, now, limit))?;
            for e in AFTER_SESSIONS {
                self.drain_expired(report, e, now, how, stop)?;
            }
            Ok(())
        })
    }

    /// Deletes the rows of `e` expired at `now` in batches as `how` says, each from where the
    /// last stopped, until none is left or `stop` is set; adds the table's count to `report`.
    pub(crate) fn drain_expired(
        &self,
        report: &mut PurgeReport,
        e: Expiring,
        now: i64,
        how: PurgeBatches,
        stop: &AtomicBool,
    ) -> Result<(), StoreError> {
        drain(report, e.table, how, stop, |from, limit| {
            Ok(delete_batch(&mut *self.conn()?, e.table, e.column, from, e.cutoff(now), limit)?)
        })
    }

    /// The purge as it was before batches: one `DELETE` per table, all in one transaction. Kept
    /// only so that the purge bench (`bench/purge.py`) can measure the two side by side.
    #[doc(hidden)]
    pub fn purge_expired_at_once(&self, now: i64) -> Result<PurgeReport, StoreError> {
        PurgeReport::timed(|report| {
            self.transaction(|conn| {
                let delete_all = |conn: &mut DbConnection, report: &mut PurgeReport, e: Expiring| {
                    let n = delete_all(conn, e.table, e.column, e.cutoff(now))?;
                    report.tables.push((e.table, n as u64));
                    report.batches += 1;
                    Ok::<_, StoreError>(())
                };
                for entry in BEFORE_SESSIONS {
                    delete_all(conn, report, entry)?;
                }
                let expired: Vec<(String, String)> = sessions::table
                    .filter(sessions::expires_at.le(now))
                    .select((sessions::sid, sessions::account_id))
                    .load(conn)?;
                super::backchannel::enqueue_backchannel_logouts_for_in(conn, &expired, now)?;
                let n = diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
                report.tables.push(("sessions", n as u64));
                for entry in AFTER_SESSIONS {
                    delete_all(conn, report, entry)?;
                }
                Ok(())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use diesel::connection::SimpleConnection as _;

    use super::*;
    use crate::connection::per_backend;
    use crate::tests::{random_name, PgDatabase};
    use crate::DatabaseUrl;

    /// Two clients (one wants back-channel logout), five people each with a session and a grant
    /// (sessions 0-2 expired, 3-4 live), tokens and codes of each grant, grant 4 expired.
    const ROWS: &str = "
        INSERT INTO clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, first_party,
            id_token_signing_alg, created_at, access_token_format, scopes, legacy, token_endpoint_auth_method,
            sealed_secret, registration_access_token_hash, metadata)
        VALUES ('bc', 'B', NULL, '[]', '[]', '[]', false, 'RS256', 0, 'jwt', 'openid', false, 'none', NULL, NULL,
                '{\"backchannel_logout_uri\":\"https://rp.example/bc\"}'),
               ('plain', 'P', NULL, '[]', '[]', '[]', false, 'RS256', 0, 'jwt', 'openid', false, 'none', NULL, NULL, '{}');
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4)
        INSERT INTO accounts (id, login, pinfl, password_hash, surname, first_name, middle_name, birth_date,
            passport_number, email, phone, status, created_at)
        SELECT 'a' || i, 'user' || i, '3120590000000' || i, 'x', 'S', 'F', NULL, '1990-05-12', NULL, NULL, NULL,
            'confirmed', 0 FROM n;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4)
        INSERT INTO sessions (id_hash, sid, account_id, auth_time, acr, amr, address, acting_as, created_at, expires_at)
        SELECT 'sh' || i, 'sid' || i, 'a' || i, 0, '1', '[]', '127.0.0.1', NULL, 0,
            CASE WHEN i < 3 THEN 900 + i ELSE 5000 END FROM n;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4)
        INSERT INTO grants (id, client_id, account_id, sid, scopes, auth_time, acr, amr, acting_as, created_at,
            expires_at, revoked_at, acting_tin, acting_role)
        SELECT 'g' || i, CASE WHEN i % 2 = 0 THEN 'bc' ELSE 'plain' END, 'a' || i, 'sid' || i, 'openid', 0, '1', '[]',
            NULL, 0, CASE WHEN i = 4 THEN 900 ELSE 5000 END, NULL, NULL, NULL FROM n;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4)
        INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at)
        SELECT 'rt' || i, 'g' || i, 'bc', 0, CASE WHEN i < 2 THEN 950 ELSE 5000 END, NULL FROM n;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4)
        INSERT INTO authorization_codes (hash, grant_id, client_id, redirect_uri, code_challenge, nonce, expires_at,
            consumed_at)
        SELECT 'code' || i, 'g' || i, 'bc', 'https://rp/cb', NULL, NULL, 5000, NULL FROM n;
        INSERT INTO throttle_counters (key, attempts, window_start, last_attempt) VALUES ('old', 1, 0, -85401), ('new', 1, 0, -85399);
        INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('j-old', 999), ('j-live', 1001);";

    fn count(store: &Store, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = store.conn().unwrap();
        per_backend!(&mut *conn, |c| diesel::sql_query(sql).get_result::<N>(c).unwrap().n)
    }

    /// Purges at 1000 with `purge` and checks what went and what stayed.
    fn purges(url: &DatabaseUrl, purge: impl Fn(&Store) -> PurgeReport) {
        let store = Store::open(url, 2).unwrap();
        store.migrate().unwrap();
        store.conn().unwrap().batch_execute(ROWS).unwrap();
        let report = purge(&store);
        let deleted: std::collections::BTreeMap<_, _> = report.tables.iter().copied().collect();
        assert_eq!(deleted["refresh_tokens"], 2);
        assert_eq!(deleted["grants"], 1, "grant 4");
        assert_eq!(deleted["sessions"], 3);
        assert_eq!(deleted["revoked_access_tokens"], 1);
        assert_eq!(deleted["throttle_counters"], 1, "a day past its last attempt");
        assert_eq!(report.rows(), 8);
        assert_eq!(count(&store, "SELECT count(*) AS n FROM sessions"), 2);
        assert_eq!(count(&store, "SELECT count(*) AS n FROM authorization_codes WHERE grant_id = 'g4'"), 0, "cascaded");
        assert_eq!(count(&store, "SELECT count(*) AS n FROM refresh_tokens"), 2, "rt2, rt3 (rt4 went with g4)");
        // Sessions 0 and 2 were with the client that wants back-channel logout: one notice each,
        // for the session's person; session 1's client does not want them.
        assert_eq!(count(&store, "SELECT count(*) AS n FROM backchannel_logouts"), 2);
        assert_eq!(
            count(
                &store,
                "SELECT count(*) AS n FROM backchannel_logouts WHERE client_id = 'bc' AND next_attempt_at = 1000 \
                 AND attempts = 0 AND ((sid = 'sid0' AND account_id = 'a0') OR (sid = 'sid2' AND account_id = 'a2'))"
            ),
            2
        );
    }

    fn on_both(purge: impl Fn(&Store) -> PurgeReport + Copy) {
        let dir = std::env::temp_dir().join(format!("yagona-purge-{}", random_name()));
        purges(&DatabaseUrl::Sqlite(dir.join("purge.db")), purge);
        std::fs::remove_dir_all(&dir).ok();
        let db = PgDatabase::create();
        purges(&db.url(), purge);
    }

    #[test]
    fn batches_delete_the_expired_rows_and_notify_as_one_statement_did() {
        // Batches of two: every table with expired rows takes more than one.
        let how = PurgeBatches { batch: 2, pause: Duration::from_millis(1) };
        on_both(|store| store.purge_expired_in_batches(1000, how).unwrap());
    }

    /// A server stopping during a long purge (minutes at 10 M people) must not wait for it: a
    /// set stop flag ends the purge before the next batch, and a later purge does the rest.
    #[test]
    fn a_purge_stops_between_batches_when_the_server_stops() {
        let stopped = |url: &DatabaseUrl| {
            let store = Store::open(url, 2).unwrap();
            store.migrate().unwrap();
            store.conn().unwrap().batch_execute(ROWS).unwrap();
            let how = PurgeBatches { batch: 1, pause: Duration::ZERO };
            let report = store.purge_expired_in_batches_until(1000, how, &AtomicBool::new(true)).unwrap();
            assert!(report.stopped);
            assert_eq!((report.rows(), report.batches), (0, 0));
            assert_eq!(count(&store, "SELECT count(*) AS n FROM sessions"), 5, "nothing deleted");
            let rest = store.purge_expired_in_batches_until(1000, how, &AtomicBool::new(false)).unwrap();
            assert!(!rest.stopped);
            assert_eq!(rest.rows(), 8, "the next purge does all of it");
        };
        let dir = std::env::temp_dir().join(format!("yagona-purge-{}", random_name()));
        stopped(&DatabaseUrl::Sqlite(dir.join("purge.db")));
        std::fs::remove_dir_all(&dir).ok();
        stopped(&PgDatabase::create().url());
    }

    /// On SQLite the purge holds the write lock at most a third of the time: a slow batch is
    /// followed by twice its time, a quick one by the least pause; no pause stays none.
    #[test]
    fn a_slow_batch_is_followed_by_a_longer_pause() {
        let least = Duration::from_millis(20);
        assert_eq!(PurgeBatches::pause_after(least, Duration::from_millis(4)), least);
        assert_eq!(PurgeBatches::pause_after(least, Duration::from_millis(55)), Duration::from_millis(110));
        assert_eq!(PurgeBatches::pause_after(Duration::ZERO, Duration::from_millis(55)), Duration::ZERO);
        let sqlite = PurgeBatches::for_backend(crate::Backend::Sqlite);
        let postgres = PurgeBatches::for_backend(crate::Backend::Postgres);
        assert!(sqlite.batch < postgres.batch, "SQLite's batches hold its only write lock: shorter");
        assert!((1..=MAX_BATCH).contains(&sqlite.batch) && (1..=MAX_BATCH).contains(&postgres.batch));
        assert!(!postgres.pause.is_zero(), "PostgreSQL's purge leaves the cores to requests between batches");
    }

    /// A batch resumes at the last expiry it deleted: rows that share it with the batch before
    /// are deleted all the same, in batches smaller than their number.
    #[test]
    fn rows_that_share_an_expiry_all_go_in_batches_smaller_than_them() {
        let shared = |url: &DatabaseUrl| {
            let store = Store::open(url, 2).unwrap();
            store.migrate().unwrap();
            store
                .conn()
                .unwrap()
                .batch_execute(
                    "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('a', 999), ('b', 999), ('c', 999), \
                     ('d', 999), ('e', 999), ('f', 998), ('live', 1001)",
                )
                .unwrap();
            let how = PurgeBatches { batch: 2, pause: Duration::ZERO };
            let report = store.purge_expired_in_batches(1000, how).unwrap();
            assert_eq!((report.rows(), report.batches), (6, 3));
            assert_eq!(count(&store, "SELECT count(*) AS n FROM revoked_access_tokens"), 1, "the live one");
        };
        let dir = std::env::temp_dir().join(format!("yagona-purge-{}", random_name()));
        shared(&DatabaseUrl::Sqlite(dir.join("purge.db")));
        std::fs::remove_dir_all(&dir).ok();
        shared(&PgDatabase::create().url());
    }

    #[test]
    fn the_purge_at_once_does_the_same() {
        on_both(|store| store.purge_expired_at_once(1000).unwrap());
    }
}
