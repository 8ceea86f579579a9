//! Registered clients.

use diesel::prelude::*;
use yagona_oidc::{Client, ClientId, OAuthError, Scopes};

use crate::connection::per_backend;
use crate::rows::*;
use crate::schema::*;
use crate::{Store, StoreError};

pub(super) fn insert_client(store: &Store, client: &Client) -> Result<(), OAuthError> {
    let result = diesel::insert_into(clients::table)
        .values(ClientRow::from(client))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from);
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_unique_violation() => {
            Err(OAuthError::invalid_request(format!("a client with id {} already exists", client.id)))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn find_client(store: &Store, id: &ClientId) -> Result<Option<Client>, OAuthError> {
    let row =
        per_backend!(&mut *store.conn()?, |c| clients::table.find(id.as_str()).get_result::<ClientRow>(c).optional())
            .map_err(StoreError::from)?;
    Ok(row.map(Client::try_from).transpose()?)
}

pub(super) fn list_clients(store: &Store) -> Result<Vec<Client>, OAuthError> {
    let rows =
        clients::table.order(clients::id.asc()).load::<ClientRow>(&mut *store.conn()?).map_err(StoreError::from)?;
    Ok(rows.into_iter().map(Client::try_from).collect::<Result<_, _>>()?)
}

pub(super) fn delete_client(store: &Store, id: &ClientId) -> Result<bool, OAuthError> {
    // Foreign keys cascade to consents, grants, codes and refresh tokens.
    let n = diesel::delete(clients::table.find(id.as_str())).execute(&mut *store.conn()?).map_err(StoreError::from)?;
    Ok(n > 0)
}

pub(super) fn set_client_scopes(store: &Store, id: &ClientId, scopes: &Scopes) -> Result<bool, OAuthError> {
    let n = diesel::update(clients::table.find(id.as_str()))
        .set(clients::scopes.eq(scopes.to_string()))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(n > 0)
}

pub(super) fn update_client(store: &Store, client: &Client) -> Result<bool, OAuthError> {
    // Every column but the id and the creation time (the first registration's).
    let row = ClientRow::from(client);
    let n = diesel::update(clients::table.find(&row.id))
        .set((
            clients::name.eq(&row.name),
            clients::secret_hash.eq(&row.secret_hash),
            clients::redirect_uris.eq(&row.redirect_uris),
            clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
            clients::grant_types.eq(&row.grant_types),
            clients::first_party.eq(row.first_party),
            clients::id_token_signing_alg.eq(&row.id_token_signing_alg),
            clients::access_token_format.eq(&row.access_token_format),
            clients::scopes.eq(&row.scopes),
            clients::token_endpoint_auth_method.eq(&row.token_endpoint_auth_method),
            clients::sealed_secret.eq(&row.sealed_secret),
            clients::registration_access_token_hash.eq(&row.registration_access_token_hash),
            clients::metadata.eq(&row.metadata),
        ))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(n > 0)
}
