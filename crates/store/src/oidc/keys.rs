//! Signing keys.

use diesel::prelude::*;
use yagona_oidc::keys::{KeyState, SigningAlg, StoredKey};
use yagona_oidc::OAuthError;

use crate::rows::*;
use crate::schema::*;
use crate::{Store, StoreError};

pub(super) fn list_signing_keys(store: &Store) -> Result<Vec<StoredKey>, OAuthError> {
    let rows = signing_keys::table
        .order(signing_keys::created_at.asc())
        .load::<KeyRow>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(rows.into_iter().map(StoredKey::try_from).collect::<Result<_, _>>()?)
}

pub(super) fn activate_signing_key(
    store: &Store,
    new: &StoredKey,
    now: i64,
    only_if_none: bool,
) -> Result<bool, OAuthError> {
    let result = store.transaction(|conn| {
        if !only_if_none {
            diesel::update(
                signing_keys::table
                    .filter(signing_keys::alg.eq(new.alg.as_str()))
                    .filter(signing_keys::state.eq(KeyState::Active.as_str())),
            )
            .set((signing_keys::state.eq(KeyState::Retired.as_str()), signing_keys::retired_at.eq(Some(now))))
            .execute(conn)?;
        }
        // The partial unique index allows one active key per algorithm: when replicas race
        // on first start, one insert wins and the others fail here.
        diesel::insert_into(signing_keys::table).values(KeyRow::from(new)).execute(conn)?;
        Ok(())
    });
    match result {
        Ok(()) => Ok(true),
        Err(e) if only_if_none && e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn schedule_signing_key(store: &Store, new: &StoredKey) -> Result<bool, OAuthError> {
    Ok(store.transaction(|conn| {
        let waiting = signing_keys::table
            .filter(signing_keys::alg.eq(new.alg.as_str()))
            .filter(signing_keys::state.eq(KeyState::Next.as_str()))
            .count()
            .get_result::<i64>(conn)?;
        if waiting > 0 {
            return Ok(false);
        }
        diesel::insert_into(signing_keys::table).values(KeyRow::from(new)).execute(conn)?;
        Ok(true)
    })?)
}

pub(super) fn activate_due_keys(store: &Store, now: i64) -> Result<usize, OAuthError> {
    // Cheap when nothing is due (the usual case): one indexed read, no write.
    let due: Vec<(String, String, i64)> = signing_keys::table
        .filter(signing_keys::state.eq(KeyState::Next.as_str()))
        .filter(signing_keys::activates_at.le(now))
        .select((signing_keys::kid, signing_keys::alg, signing_keys::activates_at))
        .load(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    let mut activated = 0;
    for (kid, alg, at) in due {
        activated += store.transaction(|conn| {
            // Another node may have done it: both updates match nothing then.
            let promoted =
                diesel::update(signing_keys::table.find(&kid).filter(signing_keys::state.eq(KeyState::Next.as_str())))
                    .set(signing_keys::state.eq("activating"))
                    .execute(conn)?;
            if promoted == 0 {
                return Ok(0);
            }
            diesel::update(
                signing_keys::table
                    .filter(signing_keys::alg.eq(&alg))
                    .filter(signing_keys::state.eq(KeyState::Active.as_str())),
            )
            .set((signing_keys::state.eq(KeyState::Retired.as_str()), signing_keys::retired_at.eq(Some(at))))
            .execute(conn)?;
            diesel::update(signing_keys::table.find(&kid))
                .set(signing_keys::state.eq(KeyState::Active.as_str()))
                .execute(conn)?;
            Ok(1)
        })?;
    }
    Ok(activated)
}

pub(super) fn active_key_algs(store: &Store) -> Result<Vec<SigningAlg>, OAuthError> {
    let algs = signing_keys::table
        .filter(signing_keys::state.eq(KeyState::Active.as_str()))
        .select(signing_keys::alg)
        .load::<String>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    algs.iter().map(|a| SigningAlg::try_from(a.as_str())).collect()
}
