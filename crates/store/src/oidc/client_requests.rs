//! What clients present beside their requests: the `jti`s of client assertions (single use),
//! pushed authorization requests (RFC 9126) and the initial access tokens of dynamic client
//! registration (RFC 7591). Each use is one conditional statement, so concurrent uses of one
//! value find exactly one winner.

use diesel::prelude::*;
use yagona_oidc::OAuthError;

use crate::schema::*;
use crate::{Store, StoreError};

pub(super) fn spend_assertion_jti(store: &Store, hash: &str, expires_at: i64) -> Result<bool, OAuthError> {
    let inserted = diesel::insert_into(client_assertion_jtis::table)
        .values((client_assertion_jtis::hash.eq(hash), client_assertion_jtis::expires_at.eq(expires_at)))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from);
    match inserted {
        Ok(_) => Ok(true),
        // Seen before: a replay (an expired one is refused by its `exp` before it gets here).
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn insert_pushed_request(
    store: &Store,
    hash: &str,
    client_id: &str,
    parameters: &str,
    expires_at: i64,
) -> Result<(), OAuthError> {
    diesel::insert_into(pushed_authorization_requests::table)
        .values((
            pushed_authorization_requests::hash.eq(hash),
            pushed_authorization_requests::client_id.eq(client_id),
            pushed_authorization_requests::parameters.eq(parameters),
            pushed_authorization_requests::expires_at.eq(expires_at),
        ))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn take_pushed_request(
    store: &Store,
    hash: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<String>, OAuthError> {
    // One DELETE: of concurrent uses of a request_uri exactly one gets its parameters.
    let found = diesel::delete(
        pushed_authorization_requests::table
            .find(hash)
            .filter(pushed_authorization_requests::client_id.eq(client_id))
            .filter(pushed_authorization_requests::expires_at.gt(now)),
    )
    .returning(pushed_authorization_requests::parameters)
    .get_result::<String>(&mut *store.conn()?)
    .optional()
    .map_err(StoreError::from)?;
    Ok(found)
}

pub(super) fn insert_registration_token(
    store: &Store,
    hash: &str,
    created_at: i64,
    expires_at: i64,
    uses: Option<i64>,
) -> Result<(), OAuthError> {
    diesel::insert_into(registration_tokens::table)
        .values((
            registration_tokens::hash.eq(hash),
            registration_tokens::created_at.eq(created_at),
            registration_tokens::expires_at.eq(expires_at),
            registration_tokens::uses_left.eq(uses),
        ))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from)?;
    Ok(())
}

pub(super) fn use_registration_token(store: &Store, hash: &str, now: i64) -> Result<bool, OAuthError> {
    // One UPDATE: a token with one use left registers one client however many try at once.
    let n = diesel::update(
        registration_tokens::table
            .find(hash)
            .filter(registration_tokens::expires_at.gt(now))
            .filter(registration_tokens::uses_left.is_null().or(registration_tokens::uses_left.gt(0))),
    )
    .set(registration_tokens::uses_left.eq(registration_tokens::uses_left - 1))
    .execute(&mut *store.conn()?)
    .map_err(StoreError::from)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use yagona_oidc::{ClientId, OidcRepository as _};

    use crate::tests::{insert_public_client, on_both_backends};

    #[test]
    fn assertion_ids_pushed_requests_and_registration_tokens_are_spent_once() {
        on_both_backends(|store| {
            assert!(store.spend_assertion_jti("j1", 100).unwrap());
            assert!(!store.spend_assertion_jti("j1", 100).unwrap(), "a replay");
            assert!(store.spend_assertion_jti("j2", 100).unwrap());

            let (client, _) = insert_public_client(store);
            let other = ClientId::try_from("other").unwrap();
            store.insert_pushed_request("p1", &client, "[]", 100).unwrap();
            assert_eq!(store.take_pushed_request("p1", &other, 50).unwrap(), None, "another client's");
            assert_eq!(store.take_pushed_request("p1", &client, 100).unwrap(), None, "expired");
            assert_eq!(store.take_pushed_request("p1", &client, 50).unwrap().as_deref(), Some("[]"));
            assert_eq!(store.take_pushed_request("p1", &client, 50).unwrap(), None, "spent");

            store.insert_registration_token("t1", 0, 100, Some(2)).unwrap();
            assert!(!store.use_registration_token("t1", 100).unwrap(), "expired");
            assert!(store.use_registration_token("t1", 50).unwrap());
            assert!(store.use_registration_token("t1", 50).unwrap());
            assert!(!store.use_registration_token("t1", 50).unwrap(), "used up");
            assert!(!store.use_registration_token("unknown", 50).unwrap());

            store.insert_pushed_request("p2", &client, "[]", 100).unwrap();
            assert!(store.purge_expired(200).unwrap() >= 4, "jtis, the pushed request and the token purged");
            assert!(store.spend_assertion_jti("j1", 300).unwrap(), "purged once expired");
        });
    }
}
