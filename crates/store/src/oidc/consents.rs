//! Consents a person gave clients.

use diesel::prelude::*;
use yagona_account::AccountId;
use yagona_oidc::{ClientId, Consent, OAuthError};

use super::grants::revoke_grant_in;
use crate::rows::*;
use crate::schema::*;
use crate::{Store, StoreError};

pub(super) fn find_consent(
    store: &Store,
    account: &AccountId,
    client: &ClientId,
) -> Result<Option<Consent>, OAuthError> {
    let row = consents::table
        .find((account.as_str(), client.as_str()))
        .get_result::<ConsentRow>(&mut *store.conn()?)
        .optional()
        .map_err(StoreError::from)?;
    Ok(row.map(Consent::try_from).transpose()?)
}

pub(super) fn save_consent(store: &Store, consent: &Consent) -> Result<(), OAuthError> {
    let row = ConsentRow::from(consent);
    store.transaction(|conn| {
        diesel::delete(consents::table.find((&row.account_id, &row.client_id))).execute(conn)?;
        diesel::insert_into(consents::table).values(&row).execute(conn)?;
        Ok(())
    })?;
    Ok(())
}

pub(super) fn list_consents(store: &Store, account: &AccountId) -> Result<Vec<Consent>, OAuthError> {
    let rows = consents::table
        .filter(consents::account_id.eq(account.as_str()))
        .order(consents::granted_at.desc())
        .load::<ConsentRow>(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(rows.into_iter().map(Consent::try_from).collect::<Result<_, _>>()?)
}

pub(super) fn revoke_consent(
    store: &Store,
    account: &AccountId,
    client: &ClientId,
    now: i64,
) -> Result<(), OAuthError> {
    store.transaction(|conn| {
        diesel::delete(consents::table.find((account.as_str(), client.as_str()))).execute(conn)?;
        let ids: Vec<String> = grants::table
            .filter(grants::account_id.eq(account.as_str()))
            .filter(grants::client_id.eq(client.as_str()))
            .filter(grants::revoked_at.is_null())
            .select(grants::id)
            .load(conn)?;
        for id in &ids {
            revoke_grant_in(conn, id, now)?;
        }
        Ok(())
    })?;
    Ok(())
}
