//! Signing keys: generation, encryption at rest, the published JWKS (RFC 7517) and JWT signing
//! and verification.
//!
//! A key's life: `next` -> `active` -> `retired`. `yagona keys rotate` adds a `next` key with an
//! activation time `keys.publish_delay` ahead: from then on every node publishes it in the JWKS
//! and accepts it, but none signs with it, so every node and every relying party's cached JWKS
//! (max-age 300 s) knows the key before the first token signed with it appears ("publish before
//! use"). At the activation time every node switches to it by itself (the choice is made from
//! the stored times, so nodes agree without talking), and the previous key is retired. A retired
//! key no longer signs but stays published until every token it signed has expired
//! (`retired_at + longest token lifetime + propagation`), so tokens issued before the rotation,
//! by any node, keep verifying. The first keys of a new installation, and `keys rotate --now`
//! (a compromised key), are active at once.
//!
//! Private keys are stored as PKCS#8, sealed with AES-256-GCM under the key-encryption key (KEK)
//! from the configuration; the key id is the associated data, so a sealed key cannot be moved to
//! another row. The KEK's own id (a hash prefix) is stored with each key to name a wrong KEK.

use std::collections::HashMap;

use aws_lc_rs::signature::ParsedPublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, Header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secrets::random_id;
use crate::OAuthError;
use material::{parse_public_jwk, PrivateKey};

mod kek;
mod material;

pub use kek::KeyEncryptionKey;

/// The JWS algorithms Yagona signs with, each with its own key. RS256 is mandatory for OpenID
/// providers; EdDSA is Ed25519 (RFC 8037), under the name relying parties know today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "PS256")]
    Ps256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [Self::Rs256, Self::Es256, Self::Ps256, Self::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::Ps256 => "PS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The names of [`Self::ALL`], as discovery lists them.
    pub fn names() -> [&'static str; 4] {
        Self::ALL.map(Self::as_str)
    }

    fn jwt_algorithm(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
            Self::Ps256 => Algorithm::PS256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl TryFrom<&str> for SigningAlg {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::ALL.into_iter().find(|a| a.as_str() == value).ok_or_else(|| {
            OAuthError::invalid_request(format!(
                "unsupported signing algorithm {value:?} (supported: {})",
                Self::names().join(", ")
            ))
        })
    }
}

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published and accepted; signs from its activation time.
    Next,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
}

impl TryFrom<&str> for KeyState {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        match value {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            other => Err(OAuthError::server_error(format!("unknown key state {other:?}"))),
        }
    }
}

/// A signing key as stored.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    /// PKCS#8, sealed by [`KeyEncryptionKey::seal`] with the kid as associated data.
    pub sealed_private_key: Vec<u8>,
    pub kek_id: String,
    /// The public JWK, as published.
    pub public_jwk: String,
    pub created_at: i64,
    /// When the key signs: at once for an active key, in the future for a `next` one.
    pub activates_at: i64,
    pub retired_at: Option<i64>,
}

impl StoredKey {
    /// Makes this (new) key `next`: published now, signing from `activates_at`.
    pub fn scheduled(mut self, activates_at: i64) -> Self {
        self.state = KeyState::Next;
        self.activates_at = activates_at;
        self
    }

    /// Whether the key signs at `now` (before any node has recorded its activation).
    fn signs_at(&self, now: i64) -> bool {
        match self.state {
            KeyState::Active => true,
            KeyState::Next => self.activates_at <= now,
            KeyState::Retired => false,
        }
    }

    /// Generates a new active key for `alg`, sealed under `kek`.
    pub fn generate(alg: SigningAlg, kek: &KeyEncryptionKey, now: i64) -> Result<Self, OAuthError> {
        let kid = random_id();
        let (pkcs8, jwk) = material::generate(alg, &kid)?;
        Ok(Self {
            sealed_private_key: kek.seal(&pkcs8, kid.as_bytes())?,
            kek_id: kek.id().to_owned(),
            kid,
            alg,
            state: KeyState::Active,
            public_jwk: jwk.to_string(),
            created_at: now,
            activates_at: now,
            retired_at: None,
        })
    }

    /// Whether the key is still published at `now`.
    pub fn is_published(&self, now: i64, keep_retired_for: i64) -> bool {
        match (self.state, self.retired_at) {
            (KeyState::Active | KeyState::Next, _) => true,
            (KeyState::Retired, Some(at)) => now < at + keep_retired_for,
            (KeyState::Retired, None) => false,
        }
    }
}

struct ActiveKey {
    kid: String,
    key: PrivateKey,
    /// The base64url JOSE header for each `typ`, made once.
    headers: std::sync::Mutex<HashMap<String, String>>,
}

/// The keys in use: one active signing key per algorithm, every published key for verification,
/// and the JWKS document, built once per load.
pub struct KeyRing {
    active: HashMap<SigningAlg, ActiveKey>,
    /// The earliest activation time of a published key that does not sign yet: the ring must be
    /// loaded again then.
    next_activation: Option<i64>,
    /// Public keys parsed once (`ParsedPublicKey` keeps aws-lc's key with its Montgomery
    /// context): parsing the key at every verification was a third of a userinfo request.
    verifying: HashMap<String, (SigningAlg, ParsedPublicKey)>,
    jwks: String,
}

/// What a JWT must satisfy when Yagona verifies one of its own.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    pub issuer: &'a str,
    /// `false` for `id_token_hint`, which may have expired (OIDC Core 3.1.2.1).
    pub check_expiry: bool,
    /// The required `typ` header (`at+jwt` for access tokens).
    pub typ: Option<&'a str>,
}

impl KeyRing {
    /// Decrypts and loads `keys`. Every algorithm needs an active key.
    pub fn load(
        keys: &[StoredKey],
        kek: &KeyEncryptionKey,
        now: i64,
        keep_retired_for: i64,
    ) -> Result<Self, OAuthError> {
        let mut active = HashMap::new();
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        // The signing key per algorithm: of those that sign now, the latest activated (a due
        // `next` key wins over the `active` one it replaces, even before the store records it).
        let mut signing: HashMap<SigningAlg, &StoredKey> = HashMap::new();
        for key in keys.iter().filter(|k| k.signs_at(now)) {
            let newer = signing
                .get(&key.alg)
                .is_none_or(|k| (key.activates_at, key.created_at) > (k.activates_at, k.created_at));
            if newer {
                signing.insert(key.alg, key);
            }
        }
        let next_activation =
            keys.iter().filter(|k| k.state == KeyState::Next && k.activates_at > now).map(|k| k.activates_at).min();
        for key in keys.iter().filter(|k| k.is_published(now, keep_retired_for)) {
            let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk)
                .map_err(|e| OAuthError::server_error(format!("stored JWK {}: {e}", key.kid)))?;
            let parsed = parse_public_jwk(key.alg, &jwk)
                .map_err(|e| OAuthError::server_error(format!("stored JWK {}: {e}", key.kid)))?;
            verifying.insert(key.kid.clone(), (key.alg, parsed));
            if signing.get(&key.alg).is_some_and(|k| k.kid == key.kid) {
                if key.kek_id != kek.id() {
                    return Err(OAuthError::server_error(format!(
                        "signing key {} was sealed with key-encryption key {} but {} is configured",
                        key.kid,
                        key.kek_id,
                        kek.id()
                    )));
                }
                let pkcs8 = kek.open(&key.sealed_private_key, key.kid.as_bytes())?;
                let parsed = PrivateKey::parse(key.alg, &pkcs8, &key.kid)?;
                active.insert(
                    key.alg,
                    ActiveKey { kid: key.kid.clone(), key: parsed, headers: std::sync::Mutex::new(HashMap::new()) },
                );
            }
            published.push(jwk);
        }
        for alg in SigningAlg::ALL {
            if !active.contains_key(&alg) {
                return Err(OAuthError::server_error(format!("no active {} signing key", alg.as_str())));
            }
        }
        let jwks = serde_json::json!({ "keys": published }).to_string();
        Ok(Self { active, next_activation, verifying, jwks })
    }

    /// When a published key starts signing (the ring must be loaded again at that time).
    pub fn next_activation(&self) -> Option<i64> {
        self.next_activation
    }

    /// The JWKS document (RFC 7517 5).
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    pub fn active_kid(&self, alg: SigningAlg) -> Option<&str> {
        self.active.get(&alg).map(|k| k.kid.as_str())
    }

    /// Signs `claims` as a JWS with the active key for `alg`.
    pub fn sign<T: Serialize>(&self, alg: SigningAlg, typ: &str, claims: &T) -> Result<String, OAuthError> {
        let key =
            self.active.get(&alg).ok_or_else(|| OAuthError::server_error(format!("no active {} key", alg.as_str())))?;
        let header = {
            let mut cache = key.headers.lock().map_err(|_| OAuthError::server_error("header cache poisoned"))?;
            match cache.get(typ) {
                Some(h) => h.clone(),
                None => {
                    let mut header = Header::new(alg.jwt_algorithm());
                    header.kid = Some(key.kid.clone());
                    header.typ = Some(typ.to_owned());
                    let json = serde_json::to_vec(&header).map_err(|e| OAuthError::server_error(e.to_string()))?;
                    let encoded = URL_SAFE_NO_PAD.encode(json);
                    cache.insert(typ.to_owned(), encoded.clone());
                    encoded
                }
            }
        };
        let payload = serde_json::to_vec(claims).map_err(|e| OAuthError::server_error(format!("JWT claims: {e}")))?;
        let mut jwt = header;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = key.key.sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }

    /// Verifies a JWT signed by one of the published keys: compact form, `typ`, a known `kid`
    /// whose algorithm is the header's `alg`, the signature, `iss`, and `exp` (no leeway: a
    /// token is expired once `exp` is in the past) when asked.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, options: VerifyOptions<'_>) -> Result<T, OAuthError> {
        let invalid = |why: &str| OAuthError::invalid_token(why.to_owned());
        let not_jwt = || invalid("the token is not a JWT");
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(not_jwt());
        };
        let header: JoseHeader = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| not_jwt())?)
            .map_err(|_| not_jwt())?;
        if let Some(typ) = options.typ {
            if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
                return Err(invalid("the token is not of the expected type"));
            }
        }
        let kid = header.kid.ok_or_else(|| invalid("the token names no key"))?;
        let (alg, key) = self.verifying.get(&kid).ok_or_else(|| invalid("the token's key is unknown"))?;
        if header.alg != alg.as_str() {
            return Err(invalid("the token's algorithm does not match its key"));
        }
        let does_not_verify = || invalid("the token does not verify");
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| does_not_verify())?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verify_sig(signing_input.as_bytes(), &signature).map_err(|_| does_not_verify())?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| does_not_verify())?;
        let registered: RegisteredClaims = serde_json::from_slice(&payload).map_err(|_| does_not_verify())?;
        if registered.iss.as_deref() != Some(options.issuer) {
            return Err(does_not_verify());
        }
        if options.check_expiry {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(i64::MAX);
            match registered.exp {
                None => return Err(does_not_verify()),
                Some(exp) if exp < now => return Err(invalid("the token has expired")),
                Some(_) => {}
            }
        }
        serde_json::from_slice(&payload).map_err(|_| does_not_verify())
    }
}

/// The JOSE header members Yagona's verification reads.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

/// The registered claims every verification checks, whatever the token's claims type.
#[derive(Deserialize)]
struct RegisteredClaims {
    iss: Option<String>,
    exp: Option<i64>,
}

#[cfg(test)]
mod tests;
