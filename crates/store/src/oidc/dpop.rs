//! DPoP (RFC 9449): proofs seen (replay detection) and the keys grants are bound to.

use diesel::prelude::*;
use yagona_oidc::OAuthError;

use crate::connection::per_backend;
use crate::schema::*;
use crate::{Store, StoreError};

pub(super) fn record_dpop_proof(store: &Store, replay_key: &str, expires_at: i64) -> Result<bool, OAuthError> {
    let result = per_backend!(&mut *store.conn()?, |c| diesel::insert_into(dpop_proofs::table)
        .values((dpop_proofs::key.eq(replay_key), dpop_proofs::expires_at.eq(expires_at)))
        .execute(c))
    .map_err(StoreError::from);
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn bind_grant_dpop_key(store: &Store, grant_id: &str, jkt: &str) -> Result<(), OAuthError> {
    diesel::insert_into(grant_dpop_keys::table)
        .values((grant_dpop_keys::grant_id.eq(grant_id), grant_dpop_keys::jkt.eq(jkt)))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn grant_dpop_key(store: &Store, grant_id: &str) -> Result<Option<String>, OAuthError> {
    Ok(per_backend!(&mut *store.conn()?, |c| grant_dpop_keys::table
        .find(grant_id)
        .select(grant_dpop_keys::jkt)
        .get_result::<String>(c)
        .optional())
    .map_err(StoreError::from)?)
}
