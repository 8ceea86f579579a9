//! Registered clients (relying parties) and how they authenticate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::keys::SigningAlg;
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
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
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
    verified: Mutex<HashMap<(String, String), [u8; 32]>>,
    /// Verifications under way, by client id and SHA-256 of the presented secret.
    in_flight: Mutex<HashMap<(String, [u8; 32]), SameSecretGate>>,
}

/// Held while one presented secret of one client is being verified.
type SameSecretGate = Arc<Mutex<()>>;

impl Default for ClientSecretVerifier {
    fn default() -> Self {
        Self { argon2: Argon2::default(), verified: Mutex::new(HashMap::new()), in_flight: Mutex::new(HashMap::new()) }
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
                let ok = match argon2::PasswordHash::new(stored) {
                    Ok(parsed) => self.argon2.verify_password(secret.as_bytes(), &parsed).is_ok(),
                    Err(_) => false,
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
