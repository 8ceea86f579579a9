//! Failed logins counted for throttling.

use diesel::prelude::*;
use yagona_oidc::secrets::random_id;
use yagona_oidc::OAuthError;

use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

fn count_failures(conn: &mut DbConnection, key: &str, window_start: i64) -> Result<u32, OAuthError> {
    let n: i64 = login_failures::table
        .filter(login_failures::key.eq(key))
        .filter(login_failures::failed_at.ge(window_start))
        .count()
        .get_result(conn)
        .map_err(StoreError::from)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

pub(super) fn record_login_failure(store: &Store, key: &str, now: i64, window_start: i64) -> Result<u32, OAuthError> {
    let conn = &mut *store.conn()?;
    diesel::insert_into(login_failures::table)
        .values((login_failures::id.eq(random_id()), login_failures::key.eq(key), login_failures::failed_at.eq(now)))
        .execute(conn)
        .map_err(StoreError::from)?;
    count_failures(conn, key, window_start)
}

pub(super) fn recent_login_failures(store: &Store, key: &str, window_start: i64) -> Result<u32, OAuthError> {
    count_failures(&mut *store.conn()?, key, window_start)
}

pub(super) fn clear_login_failures(store: &Store, key: &str) -> Result<(), OAuthError> {
    diesel::delete(login_failures::table.filter(login_failures::key.eq(key)))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}
