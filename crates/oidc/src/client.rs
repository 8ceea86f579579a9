//! Registered clients (relying parties) and how they authenticate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::keys::{KeyEncryptionKey, SigningAlg};
use crate::secrets::constant_time_eq;
use crate::{ClientId, ErrorCode, OAuthError, RedirectUri, Scopes};

/// The grant types a client may use (RFC 6749).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

impl TryFrom<&str> for GrantType {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::ALL.into_iter().find(|g| g.as_str() == value).ok_or_else(|| {
            OAuthError::new(ErrorCode::UnsupportedGrantType, format!("unsupported grant_type {value:?}"))
        })
    }
}

/// How a client authenticates at the token, introspection, revocation and PAR endpoints
/// (RFC 7591 2, OIDC Core 9).
///
/// The two secret methods are one credential presented in two places: a client registered with
/// either may send its secret in the Basic header or in the body, as Yagona has always accepted
/// (Keycloak does the same); the JWT methods and `none` are strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// An assertion signed with HMAC under the client secret (the secret is kept sealed under
    /// the key-encryption key, since an argon2 hash cannot key an HMAC).
    ClientSecretJwt,
    /// An assertion signed with one of the client's registered keys (RFC 7523).
    PrivateKeyJwt,
    /// A public client (a browser or native app): no credential, PKCE required.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 5] =
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::ClientSecretJwt, Self::PrivateKeyJwt, Self::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Whether the client has a secret it presents as such (Basic or body).
    pub fn presents_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

impl TryFrom<&str> for AuthMethod {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, OAuthError> {
        Self::ALL.into_iter().find(|m| m.as_str() == value).ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidClientMetadata,
                format!(
                    "token_endpoint_auth_method {value:?} is not supported (supported: {})",
                    Self::ALL.map(Self::as_str).join(", ")
                ),
            )
        })
    }
}

/// Where a client's public keys are (RFC 7591 2: `jwks` and `jwks_uri` are exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientKeys {
    #[default]
    None,
    /// A JWK Set, as registered (JSON text).
    Jwks(String),
    /// A URL the JWK Set is fetched from (cached, fetched again for an unknown `kid`).
    JwksUri(String),
}

/// The client secret sealed under the key-encryption key, for clients that sign assertions
/// with it (`client_secret_jwt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub kek_id: String,
    pub sealed: Vec<u8>,
}

/// Metadata that describes a client to people and changes nothing in the protocol (RFC 7591 2),
/// stored together and echoed back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DescriptiveMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// `web` (default) or `native` (OIDC Registration 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

/// A registered client. A client without a secret is public (a browser or native app): it
/// authenticates with `none` and must use PKCE.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    /// Argon2id PHC string of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    /// First-party clients (the operator's own services) skip the consent page.
    pub first_party: bool,
    pub id_token_signing_alg: SigningAlg,
    pub created_at: i64,
    pub access_token_format: AccessTokenFormat,
    /// The scopes the client may be granted on its own behalf (`client_credentials`): the
    /// permissions of its own API calls, registered with `client add --scope`.
    pub scopes: Scopes,
    /// May use the legacy OneID API (`/sso/oauth/Authorization.do`, docs/legacy-oneid.md): no
    /// PKCE, no nonce, secrets in query strings, so only for clients an operator marks legacy.
    pub legacy: bool,
    pub auth_method: AuthMethod,
    pub keys: ClientKeys,
    pub sealed_secret: Option<SealedSecret>,
    /// RFC 9126 6: authorization requests only through the PAR endpoint.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 10.5: authorization requests only as signed request objects.
    pub require_signed_request_object: bool,
    /// SHA-256 of the RFC 7592 registration access token (clients registered dynamically).
    pub registration_access_token_hash: Option<String>,
    pub descriptive: DescriptiveMetadata,
    /// The metadata of the token and logout standards (issue 15, items 5-10).
    pub token_metadata: TokenMetadata,
}

/// Client metadata of the token and logout standards, under their registration names (RFC 7591
/// and the specifications that define them), so dynamic registration can accept them as they
/// come; stored as one JSON object (`clients.token_metadata`). A member absent is its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenMetadata {
    /// RFC 9449 5.2: every token request of this client must carry a DPoP proof, so all its
    /// tokens are bound to a key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// OpenID Connect Back-Channel Logout 1.0: where the client receives logout tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (Yagona always sends it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// OpenID Connect Front-Channel Logout 1.0: the page the logged-out page loads in a hidden
    /// iframe, in the person's browser, so the client can clear its own session there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// The client needs `iss` and `sid` on the front-channel logout URL.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_session_required: bool,
    /// OIDC Core 8: `public` or `pairwise`; absent, the server's default (`subjects.default_type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<crate::subject::SubjectType>,
    /// OIDC Core 8.1: the URL of a JSON array listing the client's redirect URIs (checked at
    /// registration); its host is the client's sector for pairwise subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// OIDC Core 5.3.2 / Dynamic Registration 2: userinfo answers as a JWT signed with this
    /// algorithm (`application/jwt`, with `iss` and `aud`); absent, plain JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<SigningAlg>,
    /// RFC 9701 6: introspection answers this client as a JWT signed with this algorithm
    /// (`application/token-introspection+jwt`) even when the request does not ask for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_signed_response_alg: Option<SigningAlg>,
    /// RFC 8707: the resources (APIs, absolute URIs) the client may name with `resource`; an
    /// access token requested for one has it as `aud`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_resources: Vec<String>,
}

/// What the client's access tokens are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessTokenFormat {
    /// RFC 9068 JWTs signed RS256: resource servers verify them against the JWKS without asking
    /// Yagona (revocation is then seen only through introspection).
    #[default]
    Jwt,
    /// Random handles stored hashed: resource servers introspect them (RFC 7662). Issuing one
    /// costs a database write instead of an RSA signature.
    Opaque,
}

impl AccessTokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }
}

impl TryFrom<&str> for AccessTokenFormat {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, OAuthError> {
        match value {
            "jwt" => Ok(Self::Jwt),
            "opaque" => Ok(Self::Opaque),
            other => Err(OAuthError::invalid_request(format!("access token format {other:?}: expected jwt or opaque"))),
        }
    }
}

impl Client {
    /// A public client with no redirect URI and every other setting at its default: the base
    /// that registration (and tests) fill in, so a field added later has one default.
    pub fn new(id: ClientId, created_at: i64) -> Self {
        Self {
            name: id.to_string(),
            id,
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            first_party: false,
            id_token_signing_alg: SigningAlg::Rs256,
            created_at,
            access_token_format: AccessTokenFormat::Jwt,
            scopes: Scopes::default(),
            auth_method: AuthMethod::None,
            keys: ClientKeys::None,
            sealed_secret: None,
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            registration_access_token_hash: None,
            descriptive: DescriptiveMetadata::default(),
            legacy: false,
            token_metadata: TokenMetadata::default(),
        }
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Whether registering this client makes it a secret (shown once to its developer).
    pub fn needs_secret(&self) -> bool {
        self.auth_method.presents_secret() || self.auth_method == AuthMethod::ClientSecretJwt
    }

    /// Gives the client its secret: an argon2 hash for a client that presents it, or, for
    /// `client_secret_jwt`, the secret sealed under the key-encryption key (an HMAC needs the
    /// secret itself; the client id is the associated data, so a sealed secret cannot be moved
    /// to another client).
    pub fn provision_secret(
        &mut self,
        secret: &str,
        hasher: &ClientSecretVerifier,
        kek: Option<&KeyEncryptionKey>,
    ) -> Result<(), OAuthError> {
        self.secret_hash = None;
        self.sealed_secret = None;
        if self.auth_method.presents_secret() {
            self.secret_hash = Some(hasher.hash(secret)?);
        } else if self.auth_method == AuthMethod::ClientSecretJwt {
            let kek = kek.ok_or_else(|| OAuthError::server_error("client_secret_jwt needs the key-encryption key"))?;
            let sealed = kek.seal(secret.as_bytes(), self.id.as_str().as_bytes())?;
            self.sealed_secret = Some(SealedSecret { kek_id: kek.id().to_owned(), sealed });
        }
        Ok(())
    }

    /// The secret of a `client_secret_jwt` client, unsealed.
    pub fn open_secret(&self, kek: &KeyEncryptionKey) -> Result<Vec<u8>, OAuthError> {
        let sealed =
            self.sealed_secret.as_ref().ok_or_else(|| OAuthError::invalid_client("the client has no secret"))?;
        if sealed.kek_id != kek.id() {
            return Err(OAuthError::server_error(format!(
                "client {}'s secret is sealed under key-encryption key {}, not the configured one",
                self.id, sealed.kek_id
            )));
        }
        kek.open(&sealed.sealed, self.id.as_str().as_bytes())
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI equal to `uri`, compared as exact strings (no normalisation:
    /// OAuth 2.0 Security BCP 4.1.3).
    pub fn registered_redirect_uri(&self, uri: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.as_str() == uri)
    }

    pub fn registered_post_logout_uri(&self, uri: &str) -> Option<&RedirectUri> {
        self.post_logout_redirect_uris.iter().find(|r| r.as_str() == uri)
    }

    /// The scopes a `client_credentials` request gets: the registered ones when it names none
    /// (RFC 6749 3.3 lets the server choose a default), else exactly those it names, each of
    /// which must be registered (`invalid_scope` names the others).
    pub fn client_credentials_scopes(&self, requested: Option<&str>) -> Result<Scopes, OAuthError> {
        let Some(requested) = requested else { return Ok(self.scopes.clone()) };
        let requested = Scopes::try_from(requested)?;
        let unregistered: Vec<&str> = requested.iter().filter(|s| !self.scopes.contains(s)).collect();
        if !unregistered.is_empty() {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope {} is not registered for this client", unregistered.join(" ")),
            ));
        }
        Ok(requested)
    }
}

/// The scopes to register for a client (`client add --scope`, repeated or space-separated).
/// Yagona's own scopes describe a person and never go into a client's own token, so they are
/// refused.
pub fn registered_scopes<S: AsRef<str>>(values: &[S]) -> Result<Scopes, OAuthError> {
    let joined = values.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ");
    let scopes = Scopes::try_from(joined.as_str())?;
    if let Some(person) = scopes.iter().find(|s| crate::types_export::SUPPORTED_SCOPES.contains(s)) {
        return Err(OAuthError::invalid_request(format!(
            "scope {person} is about a person: a client cannot be granted it on its own behalf"
        )));
    }
    Ok(scopes)
}

/// Hashes client secrets with argon2id and verifies them.
///
/// An argon2 verification per token request would make the token endpoint as slow as a password
/// login, so a successful verification is remembered as SHA-256 of the presented secret, keyed by
/// the client and its stored hash (a changed secret never matches an old entry). Wrong secrets
/// always pay the full argon2 cost, which is also what slows down guessing.
///
/// There is no lock around verification as a whole (one used to serialise every client's first
/// request behind every other's, wrong secrets included: 40 wrong-secret requests stalled other
/// clients' first requests for 1.7 s). Concurrent verifications of the *same* presented secret
/// for the same client wait for the first and then find it cached; any other verification runs at
/// once. Guessing is bounded by the server's client-authentication throttle, not here.
pub struct ClientSecretVerifier {
    argon2: Argon2<'static>,
    /// Verification in pooled memory (one argon2 buffer per core, reused), as for passwords:
    /// `Argon2::verify_password` allocated 19 MiB per call, and each distinct client's first
    /// verification left its block in the heap (100 clients verified one after the other grew
    /// the server from 27 MiB to 1.9 GiB; docs/performance.md, "Cost as data grows").
    pooled: Option<yagona_account::PasswordHasher>,
    verified: Mutex<HashMap<(String, String), [u8; 32]>>,
    /// Verifications under way, by client id and SHA-256 of the presented secret.
    in_flight: Mutex<HashMap<(String, [u8; 32]), SameSecretGate>>,
}

/// Held while one presented secret of one client is being verified.
type SameSecretGate = Arc<Mutex<()>>;

impl Default for ClientSecretVerifier {
    fn default() -> Self {
        Self {
            argon2: Argon2::default(),
            // Argon2's defaults, the parameters `hash` uses (19 MiB, 2 passes, 1 lane); valid, so
            // `None` (argon2's own allocating path) is never taken in practice.
            pooled: yagona_account::PasswordHasher::new(yagona_account::PasswordParams::default()).ok(),
            verified: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl ClientSecretVerifier {
    pub fn hash(&self, secret: &str) -> Result<String, OAuthError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon2
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| OAuthError::server_error(format!("hashing a client secret: {e}")))
    }

    /// Whether `secret` is the client's secret as verified before on this node (no argon2).
    pub fn is_known(&self, client: &Client, secret: &str) -> bool {
        let Some(stored) = &client.secret_hash else { return false };
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        self.cached(client, stored, &presented)
    }

    fn cached(&self, client: &Client, stored: &str, presented: &[u8; 32]) -> bool {
        let key = (client.id.as_str().to_owned(), stored.to_owned());
        let Ok(cache) = self.verified.lock() else { return false };
        cache.get(&key).is_some_and(|known| constant_time_eq(known, presented))
    }

    /// Checks `secret` against the client's stored hash.
    pub fn verify(&self, client: &Client, secret: &str) -> bool {
        let Some(stored) = &client.secret_hash else { return false };
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        // Only a match is answered from the cache: a wrong secret always pays argon2's cost.
        if self.cached(client, stored, &presented) {
            return true;
        }
        let flight = (client.id.as_str().to_owned(), presented);
        let gate = match self.in_flight.lock() {
            Ok(mut map) => map.entry(flight.clone()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let ok = {
            let _same_secret = gate.lock().unwrap_or_else(|p| p.into_inner());
            self.cached(client, stored, &presented) || {
                let ok = match (&self.pooled, argon2::PasswordHash::new(stored)) {
                    (Some(pooled), Ok(_)) => {
                        pooled.verify(secret, &yagona_account::PasswordHash::from_phc(stored.clone()))
                    }
                    (None, Ok(parsed)) => self.argon2.verify_password(secret.as_bytes(), &parsed).is_ok(),
                    (_, Err(_)) => false,
                };
                if ok {
                    if let Ok(mut cache) = self.verified.lock() {
                        cache.insert((client.id.as_str().to_owned(), stored.clone()), presented);
                    }
                }
                ok
            }
        };
        // The last one out removes the entry (others clone it only under the map's lock).
        if let Ok(mut map) = self.in_flight.lock() {
            if Arc::strong_count(&gate) <= 2 {
                map.remove(&flight);
            }
        }
        ok
    }
}

/// A client for the domain's unit tests: `id`, its redirect URIs and token metadata.
#[cfg(test)]
pub(crate) fn test_client(id: &str, redirect_uris: &[&str], token_metadata: TokenMetadata) -> Client {
    Client {
        redirect_uris: redirect_uris.iter().map(|r| RedirectUri::try_from(*r).unwrap()).collect(),
        grant_types: vec![GrantType::AuthorizationCode],
        token_metadata,
        ..Client::new(ClientId::try_from(id).unwrap(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(secret_hash: Option<String>) -> Client {
        Client {
            id: ClientId::try_from("rp").unwrap(),
            name: "RP".into(),
            secret_hash,
            redirect_uris: vec![RedirectUri::try_from("https://rp.example/cb").unwrap()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            first_party: false,
            id_token_signing_alg: SigningAlg::Rs256,
            created_at: 0,
            access_token_format: Default::default(),
            scopes: Scopes::try_from("reports.read reports.write").unwrap(),
            ..Client::new(ClientId::try_from("rp").unwrap(), 0)
        }
    }

    #[test]
    fn secret_verification_and_cache() {
        let v = ClientSecretVerifier::default();
        let c = client(Some(v.hash("s3cret-value").unwrap()));
        assert!(!v.verify(&c, "wrong"));
        assert!(v.verify(&c, "s3cret-value"));
        // served from the cache now, and a wrong secret still fails
        assert!(v.verify(&c, "s3cret-value"));
        assert!(!v.verify(&c, "s3cret-valuE"));
        assert!(!v.verify(&client(None), "anything"));
    }

    #[test]
    fn concurrent_verifications_of_one_secret_all_succeed_and_leave_nothing_behind() {
        let v = std::sync::Arc::new(ClientSecretVerifier::default());
        let c = std::sync::Arc::new(client(Some(v.hash("s3cret-value").unwrap())));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (v, c) = (v.clone(), c.clone());
                std::thread::spawn(move || v.verify(&c, if i % 2 == 0 { "s3cret-value" } else { "wrong" }))
            })
            .collect();
        let results: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results, [true, false, true, false, true, false, true, false]);
        assert!(v.in_flight.lock().unwrap().is_empty());
        assert!(v.is_known(&c, "s3cret-value") && !v.is_known(&c, "wrong"));
    }

    #[test]
    fn client_credentials_get_only_registered_scopes() {
        let c = client(Some("h".into()));
        assert_eq!(c.client_credentials_scopes(None).unwrap().to_string(), "reports.read reports.write");
        assert_eq!(c.client_credentials_scopes(Some("reports.read")).unwrap().to_string(), "reports.read");
        let e = c.client_credentials_scopes(Some("reports.read reports.delete openid")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        assert!(e.description.contains("openid reports.delete"), "{}", e.description);
        assert!(registered_scopes(&["a b", "c"]).unwrap().to_string() == "a b c");
        assert!(registered_scopes(&["reports.read profile"]).is_err());
    }

    #[test]
    fn redirect_uri_match_is_exact() {
        let c = client(None);
        assert!(c.registered_redirect_uri("https://rp.example/cb").is_some());
        assert!(c.registered_redirect_uri("https://rp.example/cb/").is_none());
        assert!(c.registered_redirect_uri("https://RP.example/cb").is_none());
        assert!(c.registered_redirect_uri("https://rp.example/cb?x=1").is_none());
    }
}
