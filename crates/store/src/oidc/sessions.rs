//! Browser sessions and the login history.

use diesel::prelude::*;
use yagona_account::AccountId;
use yagona_oidc::secrets::random_id;
use yagona_oidc::{ClientId, LoginEvent, OAuthError, Session};

use super::grants::revoke_grant_in;
use crate::rows::*;
use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

/// Deletes a session and revokes the grants made in it, except offline access, which is meant to
/// outlive the browser session (OIDC Core 11).
pub(crate) fn end_session_in(
    conn: &mut DbConnection,
    id_hash: &str,
    now: i64,
) -> Result<Option<SessionRow>, StoreError> {
    // Write first (see rotate_refresh_token).
    let row = diesel::delete(sessions::table.find(id_hash))
        .returning(sessions::all_columns)
        .get_result::<SessionRow>(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    // Back-channel logout: the clients of the session are told, in this transaction.
    super::backchannel::enqueue_backchannel_logouts_in(conn, &row.sid, &row.account_id, now)?;
    let ids: Vec<String> = grants::table
        .filter(grants::sid.eq(&row.sid))
        .filter(grants::revoked_at.is_null())
        .filter(grants::scopes.not_like("%offline_access%"))
        .select(grants::id)
        .load(conn)?;
    for id in &ids {
        revoke_grant_in(conn, id, now)?;
    }
    Ok(Some(row))
}

pub(super) fn insert_session(store: &Store, session: &Session) -> Result<(), OAuthError> {
    diesel::insert_into(sessions::table)
        .values(SessionRow::from(session))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn replace_session(store: &Store, old_id_hash: &str, new: &Session) -> Result<(), OAuthError> {
    store.transaction(|conn| {
        diesel::delete(sessions::table.find(old_id_hash)).execute(conn)?;
        diesel::insert_into(sessions::table).values(SessionRow::from(new)).execute(conn)?;
        Ok(())
    })?;
    Ok(())
}

pub(super) fn find_session(store: &Store, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError> {
    let row = sessions::table
        .find(id_hash)
        .filter(sessions::expires_at.gt(now))
        .get_result::<SessionRow>(&mut *store.conn()?)
        .optional()
        .map_err(StoreError::from)?;
    Ok(row.map(Session::try_from).transpose()?)
}

pub(super) fn end_session(store: &Store, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError> {
    let row = store.transaction(|conn| end_session_in(conn, id_hash, now))?;
    Ok(row.map(Session::try_from).transpose()?)
}

pub(super) fn session_client_ids(store: &Store, sid: &str) -> Result<Vec<ClientId>, OAuthError> {
    let ids: Vec<String> = grants::table
        .filter(grants::sid.eq(sid))
        .select(grants::client_id)
        .distinct()
        .load(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(ids.into_iter().filter_map(|id| ClientId::try_from(id).ok()).collect())
}

pub(super) fn choose_acting_as(
    store: &Store,
    id_hash: &str,
    acting_as: &yagona_oidc::ActingAs,
) -> Result<bool, OAuthError> {
    let value = serde_json::to_string(acting_as).map_err(|e| OAuthError::server_error(e.to_string()))?;
    let n = diesel::update(sessions::table.find(id_hash).filter(sessions::acting_as.is_null()))
        .set(sessions::acting_as.eq(Some(value)))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(n == 1)
}

pub(super) fn forget_acting_as(store: &Store, id_hash: &str) -> Result<(), OAuthError> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::acting_as.eq(None::<String>))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn list_sessions(store: &Store, account: &AccountId, now: i64) -> Result<Vec<Session>, OAuthError> {
    let rows = sessions::table
        .filter(sessions::account_id.eq(account.as_str()))
        .filter(sessions::expires_at.gt(now))
        .order(sessions::created_at.desc())
        .load::<SessionRow>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(rows.into_iter().map(Session::try_from).collect::<Result<_, _>>()?)
}

pub(super) fn end_sessions_of(
    store: &Store,
    account: &AccountId,
    keep: Option<&str>,
    now: i64,
) -> Result<usize, OAuthError> {
    Ok(store.transaction(|conn| {
        let hashes: Vec<String> = sessions::table
            .filter(sessions::account_id.eq(account.as_str()))
            .filter(sessions::id_hash.ne(keep.unwrap_or("")))
            .select(sessions::id_hash)
            .load(conn)?;
        for hash in &hashes {
            end_session_in(conn, hash, now)?;
        }
        Ok(hashes.len())
    })?)
}

pub(super) fn end_session_by_sid(store: &Store, account: &AccountId, sid: &str, now: i64) -> Result<bool, OAuthError> {
    Ok(store.transaction(|conn| {
        let hash = sessions::table
            .filter(sessions::account_id.eq(account.as_str()))
            .filter(sessions::sid.eq(sid))
            .select(sessions::id_hash)
            .get_result::<String>(conn)
            .optional()?;
        match hash {
            Some(hash) => Ok(end_session_in(conn, &hash, now)?.is_some()),
            None => Ok(false),
        }
    })?)
}

pub(super) fn record_login(store: &Store, event: &LoginEvent) -> Result<(), OAuthError> {
    diesel::insert_into(login_events::table)
        .values(LoginEventRow {
            id: random_id(),
            account_id: event.account_id.as_str().to_owned(),
            at: event.at,
            method: event.method.clone(),
            client_id: event.client_id.as_ref().map(|c| c.as_str().to_owned()),
            address: event.address.clone(),
        })
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn recent_logins(store: &Store, account: &AccountId, limit: i64) -> Result<Vec<LoginEvent>, OAuthError> {
    let rows = login_events::table
        .filter(login_events::account_id.eq(account.as_str()))
        .order(login_events::at.desc())
        .limit(limit)
        .load::<LoginEventRow>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(rows.into_iter().map(LoginEvent::try_from).collect::<Result<_, _>>()?)
}
