//! Yagona's OpenID Connect authorization server, as pure domain logic.
//!
//! What lives here: the protocol's values parsed into types ([`ClientId`], [`RedirectUri`],
//! [`Scopes`], [`CodeChallenge`]), the decision of what an authorization request needs next
//! ([`authorize::next_step`]), the tokens and their claims ([`tokens`]), the signing keys and their
//! encryption at rest ([`keys`]), and the storage port ([`OidcRepository`]) of atomic operations.
//!
//! What does not: HTTP, the database, the wall clock. The server passes `now` (unix seconds) in,
//! so every rule here is tested with fixed times.

pub mod assertion;
pub mod assurance;
pub mod authorize;
pub mod claims;
pub mod claims_request;
pub mod client;
pub mod client_metadata;
pub mod dpop;
mod error;
pub mod grant;
pub mod jws;
pub mod keys;
pub mod legacy;
pub mod logout;
mod repository;
pub mod request_object;
pub mod resource;
pub mod secrets;
pub mod subject;
pub mod tokens;
mod types;
/// Constants of the protocol values, for discovery.
pub mod types_export {
    pub use crate::types::SUPPORTED_SCOPES;
}

pub use authorize::Interaction;
pub use client::{
    AccessTokenFormat, AuthMethod, Client, ClientKeys, ClientSecretVerifier, DescriptiveMetadata, GrantType,
    SealedSecret,
};
pub use error::{ErrorCode, OAuthError};
pub use grant::{ActingAs, AuthContext, AuthorizationCode, Consent, Grant, LoginEvent, RefreshToken, Session};
pub use repository::{CodeConsumption, OidcRepository, RefreshRotation};
pub use types::{ClientId, CodeChallenge, Prompt, RedirectUri, ResponseMode, Scopes};

/// Token and session lifetimes, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    pub authorization_code: i64,
    pub access_token: i64,
    pub id_token: i64,
    /// Idle lifetime: each rotation issues a token good for this long.
    pub refresh_token: i64,
    /// Absolute lifetime of a token family: no refresh token of a grant works past the grant's
    /// creation plus this, however often it was rotated.
    pub refresh_token_absolute: i64,
    pub session: i64,
    pub interaction: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            authorization_code: 60,
            access_token: 600,
            id_token: 600,
            refresh_token: 30 * 24 * 3600,
            refresh_token_absolute: 60 * 24 * 3600,
            session: 8 * 3600,
            interaction: 900,
        }
    }
}

impl Lifetimes {
    /// The longest a token signed now can be presented for verification: a retired signing key
    /// stays published this long.
    pub fn longest_signed_token(&self) -> i64 {
        self.access_token.max(self.id_token)
    }

    /// When a refresh token issued `now` for a grant created at `grant_created_at` expires: its
    /// idle lifetime, cut short by the family's absolute lifetime.
    pub fn refresh_token_expiry(&self, grant_created_at: i64, now: i64) -> i64 {
        (now + self.refresh_token).min(grant_created_at + self.refresh_token_absolute)
    }
}
