//! Back-channel logout notifications: the durable outbox (`backchannel_logouts`).

use diesel::prelude::*;
use yagona_oidc::client::TokenMetadata;
use yagona_oidc::logout::PendingLogout;
use yagona_oidc::secrets::random_id;
use yagona_oidc::OAuthError;

use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

/// Records a notification for every client of session `sid` that registered a
/// `backchannel_logout_uri`, in the caller's transaction (the one ending the session).
pub(crate) fn enqueue_backchannel_logouts_in(
    conn: &mut DbConnection,
    sid: &str,
    account_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    enqueue_backchannel_logouts_for_in(conn, &[(sid.to_owned(), account_id.to_owned())], now)
}

/// [`enqueue_backchannel_logouts_in`] for many sessions `(sid, account_id)` at once (the purge's
/// batches): one read of their grants and one of the clients, whatever their number.
pub(crate) fn enqueue_backchannel_logouts_for_in(
    conn: &mut DbConnection,
    sessions: &[(String, String)],
    now: i64,
) -> Result<(), StoreError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    // Bound variables per statement stay within SQLite's limit.
    for chunk in sessions.chunks(10_000) {
        let sids: Vec<&String> = chunk.iter().map(|(sid, _)| sid).collect();
        pairs.extend(
            grants::table
                .filter(grants::sid.eq_any(sids))
                .select((grants::sid, grants::client_id))
                .distinct()
                .load::<(String, String)>(conn)?,
        );
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let mut client_ids: Vec<&String> = pairs.iter().map(|(_, client)| client).collect();
    client_ids.sort();
    client_ids.dedup();
    let wanting: std::collections::HashSet<String> = clients::table
        .filter(clients::id.eq_any(client_ids))
        .select((clients::id, clients::metadata))
        .load::<(String, String)>(conn)?
        .into_iter()
        .filter(|(_, metadata)| {
            serde_json::from_str::<TokenMetadata>(metadata).is_ok_and(|m| m.wants_backchannel_logout())
        })
        .map(|(id, _)| id)
        .collect();
    let account_of: std::collections::HashMap<&str, &str> =
        sessions.iter().map(|(sid, account)| (sid.as_str(), account.as_str())).collect();
    for (sid, client_id) in pairs.iter().filter(|(_, client)| wanting.contains(client)) {
        let Some(account_id) = account_of.get(sid.as_str()) else { continue };
        diesel::insert_into(backchannel_logouts::table)
            .values((
                backchannel_logouts::id.eq(random_id()),
                backchannel_logouts::client_id.eq(client_id),
                backchannel_logouts::account_id.eq(*account_id),
                backchannel_logouts::sid.eq(sid),
                backchannel_logouts::attempts.eq(0_i64),
                backchannel_logouts::next_attempt_at.eq(now),
                backchannel_logouts::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub(super) fn due_backchannel_logouts(store: &Store, now: i64, limit: i64) -> Result<Vec<PendingLogout>, OAuthError> {
    let rows: Vec<(String, String, String, String, i64, i64)> = backchannel_logouts::table
        .filter(backchannel_logouts::next_attempt_at.le(now))
        .order(backchannel_logouts::next_attempt_at.asc())
        .limit(limit)
        .select((
            backchannel_logouts::id,
            backchannel_logouts::client_id,
            backchannel_logouts::account_id,
            backchannel_logouts::sid,
            backchannel_logouts::attempts,
            backchannel_logouts::next_attempt_at,
        ))
        .load(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(rows
        .into_iter()
        .map(|(id, client_id, account_id, sid, attempts, next_attempt_at)| PendingLogout {
            id,
            client_id,
            account_id,
            sid,
            attempts,
            next_attempt_at,
        })
        .collect())
}

pub(super) fn claim_backchannel_logout(
    store: &Store,
    pending: &PendingLogout,
    next_attempt_at: i64,
) -> Result<bool, OAuthError> {
    // Only the node whose update still finds the row as it read it sends this attempt.
    let n = diesel::update(
        backchannel_logouts::table
            .find(&pending.id)
            .filter(backchannel_logouts::attempts.eq(pending.attempts))
            .filter(backchannel_logouts::next_attempt_at.eq(pending.next_attempt_at)),
    )
    .set((
        backchannel_logouts::attempts.eq(pending.attempts + 1),
        backchannel_logouts::next_attempt_at.eq(next_attempt_at),
    ))
    .execute(&mut *store.conn()?)
    .map_err(StoreError::from)?;
    Ok(n == 1)
}

pub(super) fn finish_backchannel_logout(store: &Store, id: &str) -> Result<(), OAuthError> {
    diesel::delete(backchannel_logouts::table.find(id)).execute(&mut *store.conn()?).map_err(StoreError::from)?;
    Ok(())
}
