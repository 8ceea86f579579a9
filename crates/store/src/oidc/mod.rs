//! [`OidcRepository`] over the authorization server's tables, one module per concern; the trait
//! is implemented here, each method handing over to its module.

mod backchannel;
mod client_requests;
mod clients;
mod consents;
mod dpop;
mod grants;
mod interactions;
mod keys;
pub(crate) mod purge;
mod sessions;
mod throttle;
mod tokens;

pub(crate) use grants::revoke_grant_in;
pub(crate) use sessions::end_session_in;

use yagona_account::{Account, AccountId};
use yagona_oidc::keys::{SigningAlg, StoredKey};
use yagona_oidc::tokens::{AccessTokenClaims, StoredAccessToken};
use yagona_oidc::{
    AuthorizationCode, Client, ClientId, CodeConsumption, Consent, Grant, Interaction, Lifetimes, LoginEvent,
    OAuthError, OidcRepository, RefreshRotation, RefreshToken, Scopes, Session,
};

use crate::Store;

impl OidcRepository for Store {
    fn due_backchannel_logouts(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<yagona_oidc::logout::PendingLogout>, OAuthError> {
        backchannel::due_backchannel_logouts(self, now, limit)
    }

    fn claim_backchannel_logout(
        &self,
        pending: &yagona_oidc::logout::PendingLogout,
        next_attempt_at: i64,
    ) -> Result<bool, OAuthError> {
        backchannel::claim_backchannel_logout(self, pending, next_attempt_at)
    }

    fn finish_backchannel_logout(&self, id: &str) -> Result<(), OAuthError> {
        backchannel::finish_backchannel_logout(self, id)
    }

    fn record_dpop_proof(&self, replay_key: &str, expires_at: i64) -> Result<bool, OAuthError> {
        dpop::record_dpop_proof(self, replay_key, expires_at)
    }

    fn bind_grant_dpop_key(&self, grant_id: &str, jkt: &str) -> Result<(), OAuthError> {
        dpop::bind_grant_dpop_key(self, grant_id, jkt)
    }

    fn grant_dpop_key(&self, grant_id: &str) -> Result<Option<String>, OAuthError> {
        dpop::grant_dpop_key(self, grant_id)
    }

    fn insert_client(&self, client: &Client) -> Result<(), OAuthError> {
        clients::insert_client(self, client)
    }

    fn find_client(&self, id: &ClientId) -> Result<Option<Client>, OAuthError> {
        clients::find_client(self, id)
    }

    fn list_clients(&self) -> Result<Vec<Client>, OAuthError> {
        clients::list_clients(self)
    }

    fn delete_client(&self, id: &ClientId) -> Result<bool, OAuthError> {
        clients::delete_client(self, id)
    }

    fn set_client_scopes(&self, id: &ClientId, scopes: &Scopes) -> Result<bool, OAuthError> {
        clients::set_client_scopes(self, id, scopes)
    }

    fn update_client(&self, client: &Client) -> Result<bool, OAuthError> {
        clients::update_client(self, client)
    }

    fn spend_assertion_jti(&self, hash: &str, expires_at: i64) -> Result<bool, OAuthError> {
        client_requests::spend_assertion_jti(self, hash, expires_at)
    }

    fn insert_pushed_request(
        &self,
        hash: &str,
        client: &ClientId,
        parameters: &str,
        expires_at: i64,
    ) -> Result<(), OAuthError> {
        client_requests::insert_pushed_request(self, hash, client.as_str(), parameters, expires_at)
    }

    fn take_pushed_request(&self, hash: &str, client: &ClientId, now: i64) -> Result<Option<String>, OAuthError> {
        client_requests::take_pushed_request(self, hash, client.as_str(), now)
    }

    fn insert_registration_token(
        &self,
        hash: &str,
        created_at: i64,
        expires_at: i64,
        uses: Option<i64>,
    ) -> Result<(), OAuthError> {
        client_requests::insert_registration_token(self, hash, created_at, expires_at, uses)
    }

    fn use_registration_token(&self, hash: &str, now: i64) -> Result<bool, OAuthError> {
        client_requests::use_registration_token(self, hash, now)
    }

    fn list_signing_keys(&self) -> Result<Vec<StoredKey>, OAuthError> {
        keys::list_signing_keys(self)
    }

    fn activate_signing_key(&self, new: &StoredKey, now: i64, only_if_none: bool) -> Result<bool, OAuthError> {
        keys::activate_signing_key(self, new, now, only_if_none)
    }

    fn active_key_algs(&self) -> Result<Vec<SigningAlg>, OAuthError> {
        keys::active_key_algs(self)
    }

    fn schedule_signing_key(&self, new: &StoredKey) -> Result<bool, OAuthError> {
        keys::schedule_signing_key(self, new)
    }

    fn activate_due_keys(&self, now: i64) -> Result<usize, OAuthError> {
        keys::activate_due_keys(self, now)
    }

    fn insert_session(&self, session: &Session) -> Result<(), OAuthError> {
        sessions::insert_session(self, session)
    }

    fn replace_session(&self, old_id_hash: &str, new: &Session) -> Result<(), OAuthError> {
        sessions::replace_session(self, old_id_hash, new)
    }

    fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError> {
        sessions::find_session(self, id_hash, now)
    }

    fn end_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError> {
        sessions::end_session(self, id_hash, now)
    }

    fn choose_acting_as(&self, id_hash: &str, acting_as: &yagona_oidc::ActingAs) -> Result<bool, OAuthError> {
        sessions::choose_acting_as(self, id_hash, acting_as)
    }

    fn forget_acting_as(&self, id_hash: &str) -> Result<(), OAuthError> {
        sessions::forget_acting_as(self, id_hash)
    }

    fn list_sessions(&self, account: &AccountId, now: i64) -> Result<Vec<Session>, OAuthError> {
        sessions::list_sessions(self, account, now)
    }

    fn end_sessions_of(&self, account: &AccountId, keep: Option<&str>, now: i64) -> Result<usize, OAuthError> {
        sessions::end_sessions_of(self, account, keep, now)
    }

    fn end_session_by_sid(&self, account: &AccountId, sid: &str, now: i64) -> Result<bool, OAuthError> {
        sessions::end_session_by_sid(self, account, sid, now)
    }

    fn session_client_ids(&self, sid: &str) -> Result<Vec<ClientId>, OAuthError> {
        sessions::session_client_ids(self, sid)
    }

    fn record_login(&self, event: &LoginEvent) -> Result<(), OAuthError> {
        sessions::record_login(self, event)
    }

    fn recent_logins(&self, account: &AccountId, limit: i64) -> Result<Vec<LoginEvent>, OAuthError> {
        sessions::recent_logins(self, account, limit)
    }

    fn insert_interaction(&self, interaction: &Interaction) -> Result<(), OAuthError> {
        interactions::insert_interaction(self, interaction)
    }

    fn find_interaction(&self, id_hash: &str, now: i64) -> Result<Option<Interaction>, OAuthError> {
        interactions::find_interaction(self, id_hash, now)
    }

    fn delete_interaction(&self, id_hash: &str) -> Result<(), OAuthError> {
        interactions::delete_interaction(self, id_hash)
    }

    fn mark_interaction(&self, id_hash: &str, login: bool, consent: bool) -> Result<(), OAuthError> {
        interactions::mark_interaction(self, id_hash, login, consent)
    }

    fn find_consent(&self, account: &AccountId, client: &ClientId) -> Result<Option<Consent>, OAuthError> {
        consents::find_consent(self, account, client)
    }

    fn save_consent(&self, consent: &Consent) -> Result<(), OAuthError> {
        consents::save_consent(self, consent)
    }

    fn insert_challenge(&self, hash: &str, browser_hash: &str, expires_at: i64) -> Result<(), OAuthError> {
        interactions::insert_challenge(self, hash, browser_hash, expires_at)
    }

    fn consume_challenge(&self, hash: &str, browser_hash: &str, now: i64) -> Result<bool, OAuthError> {
        interactions::consume_challenge(self, hash, browser_hash, now)
    }

    fn list_consents(&self, account: &AccountId) -> Result<Vec<Consent>, OAuthError> {
        consents::list_consents(self, account)
    }

    fn revoke_consent(&self, account: &AccountId, client: &ClientId, now: i64) -> Result<(), OAuthError> {
        consents::revoke_consent(self, account, client, now)
    }

    fn insert_grant_with_code(&self, grant: &Grant, code: &AuthorizationCode) -> Result<(), OAuthError> {
        grants::insert_grant_with_code(self, grant, code)
    }

    fn consume_authorization_code(&self, hash: &str, now: i64) -> Result<CodeConsumption, OAuthError> {
        grants::consume_authorization_code(self, hash, now)
    }

    fn find_grant(&self, id: &str) -> Result<Option<Grant>, OAuthError> {
        grants::find_grant(self, id)
    }

    fn revoke_grant(&self, id: &str, now: i64) -> Result<(), OAuthError> {
        grants::revoke_grant(self, id, now)
    }

    fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), OAuthError> {
        tokens::insert_refresh_token(self, token)
    }

    fn insert_refresh_and_opaque_access_token(
        &self,
        refresh: &RefreshToken,
        access_hash: &str,
        access: &AccessTokenClaims,
    ) -> Result<(), OAuthError> {
        tokens::insert_refresh_and_opaque_access_token(self, refresh, access_hash, access)
    }

    fn rotate_refresh_token(
        &self,
        old_hash: &str,
        client: &ClientId,
        new_hash: &str,
        lifetimes: &Lifetimes,
        now: i64,
    ) -> Result<RefreshRotation, OAuthError> {
        tokens::rotate_refresh_token(self, old_hash, client, new_hash, lifetimes, now)
    }

    fn find_live_refresh_token(
        &self,
        hash: &str,
        lifetimes: &Lifetimes,
        now: i64,
    ) -> Result<Option<(RefreshToken, Grant)>, OAuthError> {
        tokens::find_live_refresh_token(self, hash, lifetimes, now)
    }

    fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), OAuthError> {
        tokens::revoke_access_token(self, jti, expires_at)
    }

    fn find_live_access(&self, jti: &str, grant_id: &str, now: i64) -> Result<Option<(Grant, Account)>, OAuthError> {
        tokens::find_live_access(self, jti, grant_id, now)
    }

    fn insert_opaque_access_token(&self, hash: &str, claims: &AccessTokenClaims) -> Result<(), OAuthError> {
        tokens::insert_opaque_access_token(self, hash, claims)
    }

    fn find_opaque_access_token(&self, hash: &str, now: i64) -> Result<Option<StoredAccessToken>, OAuthError> {
        tokens::find_opaque_access_token(self, hash, now)
    }

    fn is_access_token_revoked(&self, jti: &str) -> Result<bool, OAuthError> {
        tokens::is_access_token_revoked(self, jti)
    }

    fn reserve_attempt(&self, key: &str, limit: u32, window_start: i64, now: i64) -> Result<bool, OAuthError> {
        throttle::reserve_attempt(self, key, limit, window_start, now)
    }

    fn release_attempt(&self, key: &str) -> Result<(), OAuthError> {
        throttle::release_attempt(self, key)
    }

    fn record_login_failure(&self, key: &str, now: i64, window_start: i64) -> Result<u32, OAuthError> {
        throttle::reserve_attempt(self, key, u32::MAX, window_start, now)?;
        throttle::recent_attempts(self, key, window_start)
    }

    fn recent_login_failures(&self, key: &str, window_start: i64) -> Result<u32, OAuthError> {
        throttle::recent_attempts(self, key, window_start)
    }

    fn clear_login_failures(&self, key: &str) -> Result<(), OAuthError> {
        throttle::clear_attempts(self, key)
    }

    fn purge_expired(&self, now: i64) -> Result<u64, OAuthError> {
        Ok(self.purge_expired_in_batches(now, purge::PurgeBatches::for_backend(self.backend()))?.rows())
    }
}
