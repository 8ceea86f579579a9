//! The storage port of the authorization server. Every method is one atomic operation, so the
//! protocol's single-use rules hold under concurrent requests without the domain seeing
//! transactions.

use yagona_account::{Account, AccountId};

use crate::keys::{SigningAlg, StoredKey};
use crate::tokens::{AccessTokenClaims, StoredAccessToken};
use crate::{
    AuthorizationCode, Client, ClientId, Consent, Grant, Interaction, Lifetimes, LoginEvent, OAuthError, RefreshToken,
    Session,
};

/// The outcome of redeeming an authorization code.
#[derive(Debug)]
pub enum CodeConsumption {
    /// The code was live and is now spent; this caller is the only one to see it.
    Consumed(Box<(AuthorizationCode, Grant)>),
    /// The code had been redeemed before: the caller must revoke the grant (RFC 6749 4.1.2).
    AlreadyUsed { grant_id: String },
    /// No such code, or it expired.
    Invalid,
}

/// The outcome of rotating a refresh token.
#[derive(Debug)]
pub enum RefreshRotation {
    /// The old token is spent and the new one stored, in one transaction.
    Rotated(Box<Grant>),
    /// The token had been used before: the grant (the token family) must be revoked.
    Reused { grant_id: String },
    /// No such token, expired, or its grant is revoked.
    Invalid,
}

pub trait OidcRepository {
    // clients
    fn insert_client(&self, client: &Client) -> Result<(), OAuthError>;
    fn find_client(&self, id: &ClientId) -> Result<Option<Client>, OAuthError>;
    fn list_clients(&self) -> Result<Vec<Client>, OAuthError>;
    /// Replaces a client's registration (RFC 7592 update), keeping its id and creation time;
    /// false if there is no such client.
    fn update_client(&self, client: &Client) -> Result<bool, OAuthError>;
    /// Records a client assertion's `jti` (by `hash`) until `expires_at`; false if it was seen
    /// before: a replay.
    fn spend_assertion_jti(&self, hash: &str, expires_at: i64) -> Result<bool, OAuthError>;
    /// Stores a pushed authorization request's parameters (JSON) under the hash of its
    /// `request_uri`.
    fn insert_pushed_request(
        &self,
        hash: &str,
        client: &ClientId,
        parameters: &str,
        expires_at: i64,
    ) -> Result<(), OAuthError>;
    /// Spends a live pushed request of `client`: its parameters, once.
    fn take_pushed_request(&self, hash: &str, client: &ClientId, now: i64) -> Result<Option<String>, OAuthError>;
    /// Stores an initial access token (by hash) for dynamic registration; `uses`: how many
    /// registrations it authorizes (`None`: any number until it expires).
    fn insert_registration_token(
        &self,
        hash: &str,
        created_at: i64,
        expires_at: i64,
        uses: Option<i64>,
    ) -> Result<(), OAuthError>;
    /// Spends one use of a live initial access token; false if unknown, expired or used up.
    fn use_registration_token(&self, hash: &str, now: i64) -> Result<bool, OAuthError>;
    /// Removes a client and everything issued to it; `false` when there was no such client.
    fn delete_client(&self, id: &ClientId) -> Result<bool, OAuthError>;
    /// Replaces the scopes a client may be granted on its own behalf; `false` when there was no
    /// such client.
    fn set_client_scopes(&self, id: &ClientId, scopes: &crate::Scopes) -> Result<bool, OAuthError>;

    // signing keys
    fn list_signing_keys(&self) -> Result<Vec<StoredKey>, OAuthError>;
    /// Stores `new` as the active key of its algorithm and retires the previous active key, in
    /// one transaction. With `only_if_none`, does nothing when an active key exists (first start
    /// of several replicas at once) and returns `false`.
    fn activate_signing_key(&self, new: &StoredKey, now: i64, only_if_none: bool) -> Result<bool, OAuthError>;
    fn active_key_algs(&self) -> Result<Vec<SigningAlg>, OAuthError>;
    /// Stores a `next` key; refused (`Ok(false)`) while another key of its algorithm waits.
    fn schedule_signing_key(&self, new: &StoredKey) -> Result<bool, OAuthError>;
    /// Records the activation of every `next` key whose time has come (the previous active key
    /// of its algorithm is retired at that time). Idempotent; nodes may race on it.
    fn activate_due_keys(&self, now: i64) -> Result<usize, OAuthError>;

    // sessions and interactions
    fn insert_session(&self, session: &Session) -> Result<(), OAuthError>;
    /// Stores `new` and deletes the session it replaces (a new login in the same browser), in one
    /// transaction.
    fn replace_session(&self, old_id_hash: &str, new: &Session) -> Result<(), OAuthError>;
    fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError>;
    /// Deletes a session and revokes the grants made in it; returns it if it existed.
    fn end_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError>;
    /// Records whom the person acts for in this session (once: changing it needs a new login);
    /// `false` when the session already has a choice.
    fn choose_acting_as(&self, id_hash: &str, acting_as: &crate::ActingAs) -> Result<bool, OAuthError>;
    /// Forgets whom the person acts for in this session (the membership chosen ended): the
    /// person is asked again at the next authorization.
    fn forget_acting_as(&self, id_hash: &str) -> Result<(), OAuthError>;
    /// The live sessions of a person, newest first.
    fn list_sessions(&self, account: &AccountId, now: i64) -> Result<Vec<Session>, OAuthError>;
    /// Ends every session of a person but `keep` (an id hash), revoking their grants as
    /// [`OidcRepository::end_session`] does; returns how many ended.
    fn end_sessions_of(&self, account: &AccountId, keep: Option<&str>, now: i64) -> Result<usize, OAuthError>;
    /// Ends a person's session named by its public `sid`; `false` if they have none such.
    fn end_session_by_sid(&self, account: &AccountId, sid: &str, now: i64) -> Result<bool, OAuthError>;
    /// The clients that were given a grant in session `sid` (live or revoked, so also after the
    /// session ended): the ones to tell of its end.
    fn session_client_ids(&self, sid: &str) -> Result<Vec<ClientId>, OAuthError>;
    fn record_login(&self, event: &LoginEvent) -> Result<(), OAuthError>;
    fn recent_logins(&self, account: &AccountId, limit: i64) -> Result<Vec<LoginEvent>, OAuthError>;
    fn insert_interaction(&self, interaction: &Interaction) -> Result<(), OAuthError>;
    fn find_interaction(&self, id_hash: &str, now: i64) -> Result<Option<Interaction>, OAuthError>;
    fn delete_interaction(&self, id_hash: &str) -> Result<(), OAuthError>;
    /// Records that the person logged in (`login`) or consented (`consent`) in an interaction.
    fn mark_interaction(&self, id_hash: &str, login: bool, consent: bool) -> Result<(), OAuthError>;

    // EDS challenges
    /// Stores a challenge (its hash), bound to a browser, live until `expires_at`.
    fn insert_challenge(&self, hash: &str, browser_hash: &str, expires_at: i64) -> Result<(), OAuthError>;
    /// Spends a live challenge of this browser exactly once; `false` when it is unknown, expired,
    /// already used or another browser's.
    fn consume_challenge(&self, hash: &str, browser_hash: &str, now: i64) -> Result<bool, OAuthError>;

    // consent
    fn find_consent(&self, account: &AccountId, client: &ClientId) -> Result<Option<Consent>, OAuthError>;
    fn save_consent(&self, consent: &Consent) -> Result<(), OAuthError>;
    fn list_consents(&self, account: &AccountId) -> Result<Vec<Consent>, OAuthError>;
    /// Forgets a consent and revokes every grant (and so every refresh token) the person gave the
    /// client.
    fn revoke_consent(&self, account: &AccountId, client: &ClientId, now: i64) -> Result<(), OAuthError>;

    // grants, codes, tokens
    /// Stores a grant and its authorization code together.
    fn insert_grant_with_code(&self, grant: &Grant, code: &AuthorizationCode) -> Result<(), OAuthError>;
    /// Spends a code exactly once, even under concurrent redemption.
    fn consume_authorization_code(&self, hash: &str, now: i64) -> Result<CodeConsumption, OAuthError>;
    fn find_grant(&self, id: &str) -> Result<Option<Grant>, OAuthError>;
    /// Revokes a grant and every refresh token of it; access tokens carry the grant id and are
    /// refused once it is revoked.
    fn revoke_grant(&self, id: &str, now: i64) -> Result<(), OAuthError>;
    /// Stores a grant's new refresh token and extends the grant to the token's expiry.
    fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), OAuthError>;
    /// [`insert_refresh_token`](Self::insert_refresh_token) and
    /// [`insert_opaque_access_token`](Self::insert_opaque_access_token) in one transaction: the
    /// two writes of a code exchange for an opaque-token client.
    fn insert_refresh_and_opaque_access_token(
        &self,
        refresh: &RefreshToken,
        access_hash: &str,
        access: &AccessTokenClaims,
    ) -> Result<(), OAuthError>;
    /// Spends `old_hash` and stores its successor (hash `new_hash`, same grant, expiring as
    /// [`Lifetimes::refresh_token_expiry`] says) in one transaction, exactly once under
    /// concurrency. The grant must be live: not revoked, within its absolute lifetime, and,
    /// unless it has `offline_access`, made in a session that is still live.
    fn rotate_refresh_token(
        &self,
        old_hash: &str,
        client: &ClientId,
        new_hash: &str,
        lifetimes: &Lifetimes,
        now: i64,
    ) -> Result<RefreshRotation, OAuthError>;
    /// A live (unused, unexpired, its grant live as for rotation, its membership live) refresh
    /// token and its grant.
    fn find_live_refresh_token(
        &self,
        hash: &str,
        lifetimes: &Lifetimes,
        now: i64,
    ) -> Result<Option<(RefreshToken, Grant)>, OAuthError>;
    fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), OAuthError>;
    fn is_access_token_revoked(&self, jti: &str) -> Result<bool, OAuthError>;
    /// Stores an opaque access token under `hash` with the claims a JWT would have carried: a
    /// person's token as its grant id and [`crate::tokens::GrantTokenPart`], a client's whole.
    fn insert_opaque_access_token(&self, hash: &str, claims: &AccessTokenClaims) -> Result<(), OAuthError>;
    /// An unexpired opaque access token, with its grant when it is a person's and, when the
    /// token is live by [`Self::find_live_access`]'s rules, the grant's account: one round trip
    /// where a JWT needs one too. `None` also when its grant is gone.
    fn find_opaque_access_token(&self, hash: &str, now: i64) -> Result<Option<StoredAccessToken>, OAuthError>;
    /// The grant and account behind a person's access token, in one round trip: `None` when the
    /// token `jti` was revoked, the grant was revoked or is gone, or the membership it acts under
    /// is no longer live at `now`.
    fn find_live_access(&self, jti: &str, grant_id: &str, now: i64) -> Result<Option<(Grant, Account)>, OAuthError>;

    // DPoP (RFC 9449)
    /// Remembers a DPoP proof (its replay key) until `expires_at`; `false` when it was seen
    /// before: a replay. One conditional insert, so of concurrent uses exactly one succeeds.
    fn record_dpop_proof(&self, replay_key: &str, expires_at: i64) -> Result<bool, OAuthError>;
    /// Binds a grant (a public client's refresh token family) to a DPoP key thumbprint.
    fn bind_grant_dpop_key(&self, grant_id: &str, jkt: &str) -> Result<(), OAuthError>;
    /// The DPoP key thumbprint a grant is bound to, if any.
    fn grant_dpop_key(&self, grant_id: &str) -> Result<Option<String>, OAuthError>;

    // back-channel logout (the outbox is filled by the store when sessions end)
    /// Notifications due at `now`, oldest first, at most `limit`.
    fn due_backchannel_logouts(&self, now: i64, limit: i64) -> Result<Vec<crate::logout::PendingLogout>, OAuthError>;
    /// Claims one attempt of `pending` (as read) by moving its next attempt to `next_attempt_at`:
    /// `false` when another node claimed it first.
    fn claim_backchannel_logout(
        &self,
        pending: &crate::logout::PendingLogout,
        next_attempt_at: i64,
    ) -> Result<bool, OAuthError>;
    /// Deletes a delivered (or abandoned) notification.
    fn finish_backchannel_logout(&self, id: &str) -> Result<(), OAuthError>;

    // throttling (logins, password checks, client authentication, registration look-ups)
    /// Reserves one attempt under `key` before the secret is checked, atomically: `true` when
    /// fewer than `limit` attempts were counted in the key's window (a window that started
    /// before `window_start` starts over), and this one is now counted; `false` when the key is
    /// throttled (nothing is counted).
    fn reserve_attempt(&self, key: &str, limit: u32, window_start: i64, now: i64) -> Result<bool, OAuthError>;
    /// Gives back one reserved attempt of `key`: the attempt succeeded.
    fn release_attempt(&self, key: &str) -> Result<(), OAuthError>;
    /// Records a failed attempt under `key` without a limit and returns the attempts counted in
    /// the window that started at `window_start`.
    fn record_login_failure(&self, key: &str, now: i64, window_start: i64) -> Result<u32, OAuthError>;
    fn recent_login_failures(&self, key: &str, window_start: i64) -> Result<u32, OAuthError>;
    fn clear_login_failures(&self, key: &str) -> Result<(), OAuthError>;

    /// Deletes expired codes, sessions, interactions, refresh tokens and revocation entries.
    fn purge_expired(&self, now: i64) -> Result<u64, OAuthError>;
}
