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

pub(super) fn active_key_algs(store: &Store) -> Result<Vec<SigningAlg>, OAuthError> {
    let algs = signing_keys::table
        .filter(signing_keys::state.eq(KeyState::Active.as_str()))
        .select(signing_keys::alg)
        .load::<String>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    algs.iter().map(|a| SigningAlg::try_from(a.as_str())).collect()
}
