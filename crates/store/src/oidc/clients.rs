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
