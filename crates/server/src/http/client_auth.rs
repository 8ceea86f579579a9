//! Client authentication at the token, introspection, revocation and PAR endpoints: one
//! function, [`authenticate`], whatever the method (RFC 6749 2.3, RFC 7523, OIDC Core 9):
//!
//! - `client_secret_basic` / `client_secret_post`: the secret in the Basic header or the body
//!   (a client registered with either may use both, as before);
//! - `client_secret_jwt`: an assertion signed HS256/384/512 with the secret;
//! - `private_key_jwt`: an assertion signed with one of the client's registered keys;
//! - `none`: a public client names itself.
//!
//! The method presented must be the client's registered one. An assertion's `jti` is spent on
//! first use; a replay is `invalid_client`.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use yagona_oidc::assertion::{
    check_assertion_claims, unverified_claims, verify_signature, ClientKey, JwtRejection, ASYMMETRIC_ALGS,
    CLIENT_ASSERTION_TYPE, HMAC_ALGS,
};
use yagona_oidc::authorize::Params;
use yagona_oidc::{AuthMethod, Client, ClientId, ErrorCode, OAuthError, OidcRepository as _};

use crate::client_keys::Freshness;
use crate::discovery::TOKEN_PATH;
use crate::state::{now, AppState};

/// The credentials a client presented.
pub enum Credentials {
    /// A secret, in the Basic header or the body.
    Secret { client_id: String, secret: String },
    /// A JWT client assertion (the client id is its `sub`, checked against `client_id` if sent).
    Assertion { client_id: String, assertion: String },
    /// Only a client id: a public client.
    Id { client_id: String },
}

impl Credentials {
    pub(super) fn client_id(&self) -> &str {
        match self {
            Self::Secret { client_id, .. } | Self::Assertion { client_id, .. } | Self::Id { client_id } => client_id,
        }
    }
}

/// Reads client credentials from the Authorization header or the body, one method only.
pub fn credentials(req: &HttpRequest, params: &Params<'_>) -> Result<Credentials, OAuthError> {
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    let assertion_type = params.get("client_assertion_type")?;
    let assertion = params.get("client_assertion")?;
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let methods = usize::from(header.is_some()) + usize::from(body_secret.is_some()) + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request("use one client authentication method, not two"));
    }
    if let Some(header) = header {
        let Some(encoded) = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic ")) else {
            return Err(OAuthError::invalid_client("only HTTP Basic client authentication is accepted in the header"));
        };
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| OAuthError::invalid_client("the Basic credentials are not valid base64"))?;
        let (id, secret) =
            decoded.split_once(':').ok_or_else(|| OAuthError::invalid_client("the Basic credentials lack a ':'"))?;
        // RFC 6749 2.3.1: both parts are form-urlencoded before base64.
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (unescape(id), unescape(secret));
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
        }
        return Ok(Credentials::Secret { client_id: id, secret });
    }
    if let Some(assertion) = assertion {
        if assertion_type != Some(CLIENT_ASSERTION_TYPE) {
            return Err(OAuthError::invalid_client(format!("client_assertion_type must be {CLIENT_ASSERTION_TYPE}")));
        }
        // RFC 7523 3: the client is the assertion's subject; client_id, if sent, must agree.
        let sub = unverified_claims(assertion)
            .and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a JWT with a sub"))?;
        if body_id.is_some_and(|b| b != sub) {
            return Err(OAuthError::invalid_client("client_id differs from the client assertion's sub"));
        }
        return Ok(Credentials::Assertion { client_id: sub, assertion: assertion.to_owned() });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Credentials::Secret { client_id: id.to_owned(), secret: secret.to_owned() }),
        (Some(id), None) => Ok(Credentials::Id { client_id: id.to_owned() }),
        (None, _) => Err(OAuthError::invalid_client("client authentication is required")),
    }
}

/// The address client authentication failures are counted under (`http.trusted_proxies` apply).
pub fn client_address(req: &HttpRequest, state: &AppState) -> String {
    super::client_address::client_address(req, &state.settings.trusted_proxies)
}

/// Authenticates the client by whichever method it presented, which must be its registered
/// one. `endpoint` is the path called: an assertion's `aud` may name it, the token endpoint or
/// the issuer. The one place client authentication is decided (token, introspection,
/// revocation, PAR and the legacy API call it).
///
/// A secret this node verified before passes at once. Any other check is throttled (issue 14,
/// item 5): an attempt is reserved under the client (`client:<id>`) and the `address`
/// (`client-address:<address>`) before argon2 or the signature check runs, and given back when
/// it succeeds, so failures are counted and, over `client_auth.max_failures_per_*` within
/// `client_auth.window_seconds`, refused unchecked (`invalid_client`, 429, `Retry-After`). A
/// client that keeps using its known secret is not locked out by someone guessing it. Unknown
/// client ids count under the address. No lock is shared between clients.
pub fn authenticate(
    s: &AppState,
    credentials: Credentials,
    endpoint: &str,
    address: &str,
) -> Result<Client, OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let limits = &s.settings.client_auth;
    let now = now();
    let window_start = now - limits.window_seconds;
    let address_key = format!("client-address:{address}");
    let throttled = |key: &'static str| {
        tracing::warn!(key, "client authentication throttled");
        crate::metrics::throttle_hit(key);
        OAuthError::new(ErrorCode::InvalidClientThrottled, "too many failed client authentications; retry later")
    };
    let found = match ClientId::try_from(credentials.client_id()) {
        Ok(id) => s.clients.find(&s.store, &id)?,
        Err(_) => None,
    };
    let Some(client) = found else {
        if !s.store.reserve_attempt(&address_key, limits.max_failures_per_address, window_start, now)? {
            return Err(throttled("client_address"));
        }
        return Err(failed());
    };
    let method = client.auth_method;
    // What must be checked; a public client naming itself and a secret verified before pass.
    enum Proof {
        Secret(String),
        Assertion(String),
    }
    let proof = match credentials {
        Credentials::Id { .. } if method == AuthMethod::None => return Ok(client),
        Credentials::Secret { secret, .. } if method.presents_secret() => {
            if s.client_secrets.is_known(&client, &secret) {
                return Ok(client);
            }
            Proof::Secret(secret)
        }
        Credentials::Assertion { assertion, .. }
            if matches!(method, AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt) =>
        {
            Proof::Assertion(assertion)
        }
        _ => {
            let e = OAuthError::invalid_client(format!(
                "the client is registered to authenticate with {}",
                method.as_str()
            ));
            tracing::info!(client_id = %client.id, method = method.as_str(), reason = %e.description, "client authentication failed");
            return Err(e);
        }
    };
    let client_key = format!("client:{}", client.id);
    if !s.store.reserve_attempt(&client_key, limits.max_failures_per_client, window_start, now)? {
        return Err(throttled("client"));
    }
    if !s.store.reserve_attempt(&address_key, limits.max_failures_per_address, window_start, now)? {
        s.store.release_attempt(&client_key)?;
        return Err(throttled("client_address"));
    }
    let outcome = match proof {
        Proof::Secret(secret) => {
            if s.client_secrets.verify(&client, &secret) {
                Ok(())
            } else {
                Err(failed())
            }
        }
        Proof::Assertion(assertion) => verify_assertion(s, &client, &assertion, endpoint),
    };
    match outcome {
        Ok(()) => {
            s.store.release_attempt(&client_key)?;
            s.store.release_attempt(&address_key)?;
            Ok(client)
        }
        Err(e) => {
            tracing::info!(client_id = %client.id, method = method.as_str(), reason = %e.description, "client authentication failed");
            // The reason is the client developer's to see: it names no secret.
            Err(e)
        }
    }
}

fn verify_assertion(s: &AppState, client: &Client, assertion: &str, endpoint: &str) -> Result<(), OAuthError> {
    let claims = match client.auth_method {
        AuthMethod::ClientSecretJwt => {
            let secret = client.open_secret(&s.kek)?;
            verify_signature(assertion, &ClientKey::Secret(&secret), &HMAC_ALGS)
                .map_err(|r| r.into_error(ErrorCode::InvalidClient, "client_assertion"))?
        }
        _ => verify_with_client_keys(
            s,
            client,
            assertion,
            &ASYMMETRIC_ALGS,
            ErrorCode::InvalidClient,
            "client_assertion",
        )?,
    };
    let issuer = s.settings.issuer.as_str();
    let token_endpoint = format!("{issuer}{TOKEN_PATH}");
    let this_endpoint = format!("{issuer}{endpoint}");
    let audiences = [issuer, token_endpoint.as_str(), this_endpoint.as_str()];
    let now = now();
    let verified = check_assertion_claims(&claims, client.id.as_str(), &audiences, now)
        .map_err(|r| r.into_error(ErrorCode::InvalidClient, "client_assertion"))?;
    let key = hex(&Sha256::digest(format!("{}\0{}", client.id, verified.jti)));
    if !s.store.spend_assertion_jti(&key, verified.exp)? {
        return Err(OAuthError::invalid_client("client_assertion: its jti has been used before (a replay)"));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies a JWT the client signed with one of its registered keys; a `kid` the keys lack
/// makes them be fetched again once (a `jwks_uri` client may have rotated). Errors carry `code`
/// and name `what`.
pub fn verify_with_client_keys(
    s: &AppState,
    client: &Client,
    token: &str,
    allowed: &[&str],
    code: ErrorCode,
    what: &str,
) -> Result<Map<String, Value>, OAuthError> {
    type Verified = Result<Map<String, Value>, JwtRejection>;
    let with = |refresh: bool| -> Result<(Verified, Freshness), OAuthError> {
        let (keys, freshness) =
            s.client_keys.keys(client, refresh).map_err(|e| OAuthError::new(code, e.description))?;
        Ok((verify_signature(token, &ClientKey::Jwks(&keys), allowed), freshness))
    };
    let result = match with(false)? {
        (Err(JwtRejection::UnknownKey), Freshness::Cached) => with(true)?.0,
        (result, _) => result,
    };
    result.map_err(|r| r.into_error(code, what))
}
