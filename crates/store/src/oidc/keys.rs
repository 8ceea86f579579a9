//! Signing keys.

use diesel::prelude::*;
use yagona_oidc::keys::{KeyState, SigningAlg, StoredKey};
use yagona_oidc::OAuthError;

use crate::rows::*;
use crate::schema::*;
use crate::{Store, StoreError};

/// Whether this version signs with `alg`. A key of another algorithm (written by a later
/// version during a rolling upgrade, or left after a rollback) is left aside, not an error: the
/// node keeps serving with the keys it knows.
fn known(kid: &str, alg: &str) -> bool {
    let known = SigningAlg::try_from(alg).is_ok();
    if !known {
        tracing::warn!(kid, alg, "a signing key of an algorithm this version does not know is left aside");
    }
    known
}

pub(super) fn list_signing_keys(store: &Store) -> Result<Vec<StoredKey>, OAuthError> {
    let rows = signing_keys::table
        .order(signing_keys::created_at.asc())
        .load::<KeyRow>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(rows.into_iter().filter(|r| known(&r.kid, &r.alg)).map(StoredKey::try_from).collect::<Result<_, _>>()?)
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
        .select((signing_keys::kid, signing_keys::alg))
        .load::<(String, String)>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    algs.iter().filter(|(kid, alg)| known(kid, alg)).map(|(_, alg)| SigningAlg::try_from(alg.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection as _;
    use yagona_oidc::keys::{KeyEncryptionKey, StoredKey};
    use yagona_oidc::OidcRepository as _;

    use super::SigningAlg;
    use crate::tests::on_both_backends;
    use crate::DbConnection;

    /// A key row of an algorithm this version does not know (a later version wrote it) neither
    /// breaks loading the keys nor the start's check for missing ones.
    #[test]
    fn keys_of_an_unknown_algorithm_are_left_aside() {
        on_both_backends(|store| {
            let kek = KeyEncryptionKey::generate();
            let key = StoredKey::generate(SigningAlg::EdDsa, &kek, 10).unwrap();
            assert!(store.activate_signing_key(&key, 10, true).unwrap());
            let blob = match &*store.conn().unwrap() {
                DbConnection::Postgres(_) => "'\\x00'",
                DbConnection::Sqlite(_) => "X'00'",
            };
            store
                .conn()
                .unwrap()
                .batch_execute(&format!(
                    "INSERT INTO signing_keys (kid, alg, state, sealed_private_key, kek_id, public_jwk, created_at, activates_at) \
                     VALUES ('future', 'ML-DSA-44', 'active', {blob}, 'k', '{{}}', 11, 11)"
                ))
                .unwrap();
            let listed = store.list_signing_keys().unwrap();
            assert_eq!(listed.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), [key.kid.as_str()]);
            assert_eq!(store.active_key_algs().unwrap(), [SigningAlg::EdDsa]);
        });
    }
}
