//! Authorization interactions in progress and EDS login challenges.

use diesel::prelude::*;
use yagona_oidc::{Interaction, OAuthError};

use crate::rows::*;
use crate::schema::*;
use crate::{Store, StoreError};

pub(super) fn insert_interaction(store: &Store, interaction: &Interaction) -> Result<(), OAuthError> {
    diesel::insert_into(interactions::table)
        .values(InteractionRow::from(interaction))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn find_interaction(store: &Store, id_hash: &str, now: i64) -> Result<Option<Interaction>, OAuthError> {
    let row = interactions::table
        .find(id_hash)
        .filter(interactions::expires_at.gt(now))
        .get_result::<InteractionRow>(&mut *store.conn()?)
        .optional()
        .map_err(StoreError::from)?;
    Ok(row.map(Interaction::try_from).transpose()?)
}

pub(super) fn delete_interaction(store: &Store, id_hash: &str) -> Result<(), OAuthError> {
    diesel::delete(interactions::table.find(id_hash)).execute(&mut *store.conn()?).map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn mark_interaction(store: &Store, id_hash: &str, login: bool, consent: bool) -> Result<(), OAuthError> {
    let conn = &mut *store.conn()?;
    if login {
        diesel::update(interactions::table.find(id_hash))
            .set(interactions::login_done.eq(true))
            .execute(conn)
            .map_err(StoreError::from)?;
    }
    if consent {
        diesel::update(interactions::table.find(id_hash))
            .set(interactions::consent_done.eq(true))
            .execute(conn)
            .map_err(StoreError::from)?;
    }
    Ok(())
}

pub(super) fn insert_challenge(
    store: &Store,
    hash: &str,
    browser_hash: &str,
    expires_at: i64,
) -> Result<(), OAuthError> {
    diesel::insert_into(eds_challenges::table)
        .values((
            eds_challenges::hash.eq(hash),
            eds_challenges::browser_hash.eq(browser_hash),
            eds_challenges::expires_at.eq(expires_at),
        ))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn consume_challenge(store: &Store, hash: &str, browser_hash: &str, now: i64) -> Result<bool, OAuthError> {
    // One DELETE: of concurrent uses exactly one removes the row.
    let n = diesel::delete(
        eds_challenges::table
            .find(hash)
            .filter(eds_challenges::browser_hash.eq(browser_hash))
            .filter(eds_challenges::expires_at.gt(now)),
    )
    .execute(&mut *store.conn()?)
    .map_err(StoreError::from)?;
    Ok(n == 1)
}
