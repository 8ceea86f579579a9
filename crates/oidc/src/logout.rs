//! OpenID Connect Back-Channel Logout 1.0: the logout token and the delivery schedule.
//!
//! When a session ends (RP-initiated logout, the cabinet, a new login of another person, the
//! account disabled, the session expired), the store records one pending notification per
//! client of the session that registered a `backchannel_logout_uri`, in the transaction that
//! ends the session (a durable outbox). A worker on every node delivers them: it claims a due
//! notification by moving its next attempt forward (one conditional update, so two nodes never
//! send the same attempt), signs a fresh logout token and POSTs it; a 200 (or 204) ends it,
//! anything else waits for the next attempt, with exponential back-off, until
//! [`MAX_ATTEMPTS`].

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::client::TokenMetadata;
use crate::secrets::random_id;
use crate::tokens::TokenIssuer;
use crate::{Client, OAuthError, RedirectUri};

/// The JWT `typ` of a logout token (Back-Channel Logout 1.0, 2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is short-lived: it is signed anew at every attempt.
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;
/// Attempts before a notification is given up (logged): with the back-off below, about 1.5 h.
pub const MAX_ATTEMPTS: i64 = 10;

/// A logout notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogout {
    pub id: String,
    pub client_id: String,
    pub account_id: String,
    pub sid: String,
    /// Attempts made so far.
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// When the attempt after `attempts` failed ones is due: 5 s, 10 s, 20 s, ... doubling, at most
/// an hour apart; `None` once [`MAX_ATTEMPTS`] have been made.
pub fn next_attempt_at(attempts: i64, now: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| now + (5_i64 << attempts.clamp(0, 20)).min(3600))
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: Value,
}

impl TokenMetadata {
    /// Whether the client is notified of logouts over the back channel.
    pub fn wants_backchannel_logout(&self) -> bool {
        self.backchannel_logout_uri.is_some()
    }
}

impl TokenIssuer<'_> {
    /// A logout token for `client` (Back-Channel Logout 1.0, 2.4): `sub` and `sid` always (so
    /// `backchannel_logout_session_required` is always met), never a `nonce`; signed with the
    /// algorithm of the client's ID tokens, `typ: logout+jwt`.
    pub fn logout_token(&self, client: &Client, account_id: &str, sid: &str, now: i64) -> Result<String, OAuthError> {
        let sub = self.subjects.subject(client, account_id);
        let claims = LogoutClaims {
            iss: self.issuer,
            aud: client.id.as_str(),
            iat: now,
            exp: now + LOGOUT_TOKEN_LIFETIME,
            jti: random_id(),
            sub: &sub,
            sid,
            events: json!({ BACKCHANNEL_LOGOUT_EVENT: Map::new() }),
        };
        self.keys.sign(client.id_token_signing_alg, LOGOUT_TOKEN_TYP, &claims)
    }
}

/// Checks a `backchannel_logout_uri` (Back-Channel Logout 1.0, 2.2) or a
/// `frontchannel_logout_uri` (Front-Channel Logout 1.0, 2), named `field`: the rules of redirect
/// URIs (absolute, no fragment, http only on a loopback host), and a web scheme.
pub fn validate_logout_uri(field: &str, uri: &str) -> Result<(), OAuthError> {
    let described = |e: OAuthError| OAuthError::invalid_request(e.description.replacen("redirect URI", field, 1));
    RedirectUri::try_from(uri).map_err(described)?;
    if !(uri.starts_with("https://") || uri.starts_with("http://")) {
        return Err(OAuthError::invalid_request(format!("{field} must be an http(s) URL")));
    }
    Ok(())
}

/// The URL a logged-out page loads in a hidden iframe for `client` (Front-Channel Logout 1.0,
/// 2-3): its `frontchannel_logout_uri`, with `iss` and `sid` added when it asked for them
/// (`frontchannel_logout_session_required`); `None` for a client without one.
pub fn frontchannel_logout_url(client: &Client, issuer: &str, sid: &str) -> Option<url::Url> {
    let token = &client.token_metadata;
    let mut url = url::Url::parse(token.frontchannel_logout_uri.as_deref()?).ok()?;
    if token.frontchannel_logout_session_required {
        url.query_pairs_mut().append_pair("iss", issuer).append_pair("sid", sid);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_back_off_and_end() {
        assert_eq!(next_attempt_at(0, 1000), Some(1005));
        assert_eq!(next_attempt_at(1, 1000), Some(1010));
        assert_eq!(next_attempt_at(4, 1000), Some(1080));
        assert_eq!(next_attempt_at(9, 1000), Some(1000 + 2560));
        assert_eq!(next_attempt_at(MAX_ATTEMPTS, 1000), None);
    }

    #[test]
    fn logout_uris_are_checked() {
        let valid = |uri| validate_logout_uri("backchannel_logout_uri", uri);
        assert!(valid("https://rp.example/logout").is_ok());
        assert!(valid("http://127.0.0.1:8000/logout").is_ok());
        assert!(valid("http://rp.example/logout").is_err());
        assert!(valid("https://rp.example/logout#x").is_err());
        assert!(valid("/logout").is_err());
        let refused = valid("com.example.app:/logout").unwrap_err();
        assert_eq!(refused.description, "backchannel_logout_uri must be an http(s) URL");
    }

    #[test]
    fn frontchannel_logout_urls_carry_iss_and_sid_when_asked() {
        let mut client = Client::new(crate::ClientId::try_from("rp").unwrap(), 0);
        assert_eq!(frontchannel_logout_url(&client, "https://id.example", "s1"), None);
        client.token_metadata.frontchannel_logout_uri = Some("https://rp.example/fc?x=1".into());
        let plain = frontchannel_logout_url(&client, "https://id.example", "s 1").unwrap();
        assert_eq!(plain.as_str(), "https://rp.example/fc?x=1");
        client.token_metadata.frontchannel_logout_session_required = true;
        let with_session = frontchannel_logout_url(&client, "https://id.example", "s 1").unwrap();
        assert_eq!(with_session.as_str(), "https://rp.example/fc?x=1&iss=https%3A%2F%2Fid.example&sid=s+1");
    }
}
