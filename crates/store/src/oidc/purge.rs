//! Deleting what has expired.

use diesel::prelude::*;
use yagona_oidc::OAuthError;

use crate::schema::*;
use crate::Store;

pub(super) fn purge_expired(store: &Store, now: i64) -> Result<u64, OAuthError> {
    let n = store.transaction(|conn| {
        let mut n = 0;
        n +=
            diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(grants::table.filter(grants::expires_at.le(now))).execute(conn)?;
        // An expired session ends here: its clients get back-channel logout notifications.
        let expired: Vec<(String, String)> = sessions::table
            .filter(sessions::expires_at.le(now))
            .select((sessions::sid, sessions::account_id))
            .load(conn)?;
        for (sid, account_id) in &expired {
            super::backchannel::enqueue_backchannel_logouts_in(conn, sid, account_id, now)?;
        }
        n += diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(interactions::table.filter(interactions::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(eds_challenges::table.filter(eds_challenges::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(registrations::table.filter(registrations::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(pending_signatures::table.filter(pending_signatures::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.le(now)))
            .execute(conn)?;
        n += diesel::delete(opaque_access_tokens::table.filter(opaque_access_tokens::expires_at.le(now)))
            .execute(conn)?;
        n += diesel::delete(client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.le(now)))
            .execute(conn)?;
        n += diesel::delete(
            pushed_authorization_requests::table.filter(pushed_authorization_requests::expires_at.le(now)),
        )
        .execute(conn)?;
        n +=
            diesel::delete(registration_tokens::table.filter(registration_tokens::expires_at.le(now))).execute(conn)?;
        n += diesel::delete(dpop_proofs::table.filter(dpop_proofs::expires_at.le(now))).execute(conn)?;
        // A counter untouched for a day is past every throttle window.
        n += diesel::delete(throttle_counters::table.filter(throttle_counters::last_attempt.le(now - 86_400)))
            .execute(conn)?;
        Ok(n as u64)
    })?;
    Ok(n)
}
