//! Throttle counters: attempts per key (an account's login, a client address, a client) in a
//! window that starts at the key's first counted attempt and lasts the caller's window length.
//!
//! [`reserve_attempt`] is one conditional statement, `INSERT ... ON CONFLICT DO UPDATE ... WHERE`:
//! PostgreSQL locks the key's row and evaluates the condition on its newest version, SQLite runs
//! the statement under its single writer lock, so of any number of parallel attempts exactly as
//! many as the limit allows are reserved. An attempt is reserved before the secret is checked,
//! and given back ([`release_attempt`]) only when it succeeded.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use yagona_oidc::OAuthError;

use crate::schema::throttle_counters as tc;
use crate::{DbConnection, Store, StoreError};

/// `$1` key, `$2` now, `$3` window start (now minus the window), `$4` limit. A counter whose
/// window started before `$3` starts over at this attempt.
const RESERVE_PG: &str = "INSERT INTO throttle_counters (key, attempts, window_start, last_attempt) \
     VALUES ($1, 1, $2, $2) ON CONFLICT (key) DO UPDATE SET \
     attempts = CASE WHEN throttle_counters.window_start < $3 THEN 1 ELSE throttle_counters.attempts + 1 END, \
     window_start = CASE WHEN throttle_counters.window_start < $3 THEN $2 ELSE throttle_counters.window_start END, \
     last_attempt = $2 \
     WHERE throttle_counters.window_start < $3 OR throttle_counters.attempts < $4 \
     RETURNING attempts";

/// The same statement for SQLite (`?N` numbers its parameters as `$N` does on PostgreSQL).
const RESERVE_SQLITE: &str = "INSERT INTO throttle_counters (key, attempts, window_start, last_attempt) \
     VALUES (?1, 1, ?2, ?2) ON CONFLICT (key) DO UPDATE SET \
     attempts = CASE WHEN throttle_counters.window_start < ?3 THEN 1 ELSE throttle_counters.attempts + 1 END, \
     window_start = CASE WHEN throttle_counters.window_start < ?3 THEN ?2 ELSE throttle_counters.window_start END, \
     last_attempt = ?2 \
     WHERE throttle_counters.window_start < ?3 OR throttle_counters.attempts < ?4 \
     RETURNING attempts";

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    attempts: i64,
}

/// Reserves one attempt under `key`: `true` when fewer than `limit` were counted since
/// `window_start` (the attempt is now counted), `false` when the key is throttled (nothing
/// counted). `limit` `u32::MAX` counts without a limit.
pub(super) fn reserve_attempt(
    store: &Store,
    key: &str,
    limit: u32,
    window_start: i64,
    now: i64,
) -> Result<bool, OAuthError> {
    let statement = |sql: &'static str| {
        diesel::sql_query(sql)
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(window_start)
            .bind::<BigInt, _>(i64::from(limit))
    };
    let rows: Vec<Counted> = match &mut *store.conn()? {
        DbConnection::Postgres(c) => statement(RESERVE_PG).load(c),
        DbConnection::Sqlite(c) => statement(RESERVE_SQLITE).load(c),
    }
    .map_err(StoreError::from)?;
    Ok(!rows.is_empty())
}

/// Gives back one reserved attempt of `key` (the attempt succeeded).
pub(super) fn release_attempt(store: &Store, key: &str) -> Result<(), OAuthError> {
    diesel::update(tc::table.filter(tc::key.eq(key)).filter(tc::attempts.gt(0)))
        .set(tc::attempts.eq(tc::attempts - 1))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

/// The attempts counted under `key` in a window that started at or after `window_start`.
pub(super) fn recent_attempts(store: &Store, key: &str, window_start: i64) -> Result<u32, OAuthError> {
    let n: Option<i64> = tc::table
        .filter(tc::key.eq(key))
        .filter(tc::window_start.ge(window_start))
        .select(tc::attempts)
        .get_result(&mut *store.conn()?)
        .optional()
        .map_err(StoreError::from)?;
    Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX))
}

/// Forgets every attempt of `key`.
pub(super) fn clear_attempts(store: &Store, key: &str) -> Result<(), OAuthError> {
    diesel::delete(tc::table.filter(tc::key.eq(key))).execute(&mut *store.conn()?).map_err(StoreError::from)?;
    Ok(())
}
