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

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_lc_rs::signature::ParsedPublicKey;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, Header};
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::secrets::random_id;
use crate::OAuthError;

/// The JWS algorithms Yagona signs with. RS256 is mandatory for OpenID providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [Self::Rs256, Self::Es256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    fn jwt_algorithm(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
        }
    }
}

impl TryFrom<&str> for SigningAlg {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == value)
            .ok_or_else(|| OAuthError::invalid_request(format!("unsupported signing algorithm {value:?}")))
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

/// The key-encryption key: 32 bytes for AES-256-GCM. Its `Debug` is redacted.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.id)
    }
}

impl KeyEncryptionKey {
    /// Parses the configured form: 32 bytes, base64 (standard alphabet, as `openssl rand -base64 32`
    /// prints).
    pub fn from_base64(value: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(value.trim())
            .map_err(|_| "the key-encryption key must be base64 (openssl rand -base64 32)".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the key-encryption key must be exactly 32 bytes (openssl rand -base64 32)".to_owned())?;
        Ok(Self::from_bytes(key))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest(key);
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self { id, key }
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// A 32-byte secret for one `purpose`, derived from the KEK (HMAC-SHA256 of the purpose):
    /// every replica with the same KEK derives the same secret, and no two purposes share one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.key);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The KEK's public id, stored beside every key it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Result<Aes256Gcm, OAuthError> {
        Aes256Gcm::new_from_slice(&self.key).map_err(|e| OAuthError::server_error(format!("KEK: {e}")))
    }

    /// Seals `plaintext` with a fresh nonce: `nonce (12) || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, OAuthError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()?
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| OAuthError::server_error("sealing a signing key failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OAuthError> {
        if sealed.len() < 12 + 16 {
            return Err(OAuthError::server_error("sealed signing key is truncated"));
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        self.cipher()?.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad }).map_err(|_| {
            OAuthError::server_error("a signing key does not decrypt with the configured key-encryption key")
        })
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
        let (pkcs8, jwk) = match alg {
            SigningAlg::Rs256 => {
                use aws_lc_rs::encoding::AsDer as _;
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| OAuthError::server_error("RSA key generation failed"))?;
                let pkcs8 =
                    pair.as_der().map_err(|_| OAuthError::server_error("RSA key encoding failed"))?.as_ref().to_vec();
                let (n, e) = rsa_public_components(&pkcs8)?;
                let jwk = serde_json::json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
                });
                (pkcs8, jwk)
            }
            SigningAlg::Es256 => {
                use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| OAuthError::server_error("EC key generation failed"))?;
                let pkcs8 = pair
                    .to_pkcs8v1()
                    .map_err(|_| OAuthError::server_error("EC key encoding failed"))?
                    .as_ref()
                    .to_vec();
                // Uncompressed point: 0x04 || x (32) || y (32).
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(OAuthError::server_error("unexpected EC public key length"));
                }
                let jwk = serde_json::json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                });
                (pkcs8, jwk)
            }
        };
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

fn rsa_public_components(pkcs8: &[u8]) -> Result<(String, String), OAuthError> {
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8)
        .map_err(|e| OAuthError::server_error(format!("RSA key decoding: {e}")))?;
    Ok((URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()), URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())))
}

/// An active key, parsed once when the key ring loads: jsonwebtoken's own signer parses the DER
/// key again at every signature, which made RS256 several times slower (docs/performance.md).
enum ParsedKey {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(aws_lc_rs::signature::EcdsaKeyPair),
}

struct ActiveKey {
    kid: String,
    key: ParsedKey,
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
                let parsed = match key.alg {
                    SigningAlg::Rs256 => ParsedKey::Rsa(
                        aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
                            .map_err(|e| OAuthError::server_error(format!("RSA key {}: {e}", key.kid)))?,
                    ),
                    SigningAlg::Es256 => ParsedKey::Ec(
                        aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                            &pkcs8,
                        )
                        .map_err(|e| OAuthError::server_error(format!("EC key {}: {e}", key.kid)))?,
                    ),
                };
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
        let signature = match &key.key {
            ParsedKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    jwt.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| OAuthError::server_error("RSA signing failed"))?;
                signature
            }
            ParsedKey::Ec(pair) => pair
                .sign(&aws_lc_rs::rand::SystemRandom::new(), jwt.as_bytes())
                .map_err(|_| OAuthError::server_error("EC signing failed"))?
                .as_ref()
                .to_vec(),
        };
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

/// A published JWK as an aws-lc public key: RSA from `n` and `e` (PKCS#1 DER), P-256 from `x`
/// and `y` (an uncompressed point); JWS ES256 signatures are the fixed `r || s` form.
fn parse_public_jwk(alg: SigningAlg, jwk: &serde_json::Value) -> Result<ParsedPublicKey, String> {
    let member = |name: &str| -> Result<Vec<u8>, String> {
        URL_SAFE_NO_PAD.decode(jwk_str(jwk, name).map_err(|e| e.description.into_owned())?).map_err(|e| e.to_string())
    };
    match alg {
        SigningAlg::Rs256 => {
            use rsa::pkcs1::EncodeRsaPublicKey as _;
            let n = rsa::BigUint::from_bytes_be(&member("n")?);
            let e = rsa::BigUint::from_bytes_be(&member("e")?);
            let der =
                rsa::RsaPublicKey::new(n, e).map_err(|e| e.to_string())?.to_pkcs1_der().map_err(|e| e.to_string())?;
            ParsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, der.as_bytes())
                .map_err(|e| e.to_string())
        }
        SigningAlg::Es256 => {
            let mut point = vec![0x04];
            point.extend(member("x")?);
            point.extend(member("y")?);
            ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, point).map_err(|e| e.to_string())
        }
    }
}

fn jwk_str<'a>(jwk: &'a serde_json::Value, member: &str) -> Result<&'a str, OAuthError> {
    jwk.get(member)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| OAuthError::server_error(format!("stored JWK lacks {member}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Claims {
        iss: String,
        exp: i64,
        sub: String,
    }

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    #[test]
    fn kek_seals_and_refuses_tampering() {
        let kek = KeyEncryptionKey::generate();
        let sealed = kek.seal(b"secret", b"kid1").unwrap();
        assert_eq!(kek.open(&sealed, b"kid1").unwrap(), b"secret");
        assert!(kek.open(&sealed, b"kid2").is_err());
        assert!(KeyEncryptionKey::generate().open(&sealed, b"kid1").is_err());
        let back = KeyEncryptionKey::from_base64(&kek.to_base64()).unwrap();
        assert_eq!(back.id(), kek.id());
        assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let kek = KeyEncryptionKey::generate();
        let t = now();
        let keys = vec![
            StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap(),
            StoredKey::generate(SigningAlg::Es256, &kek, t).unwrap(),
        ];
        let ring = KeyRing::load(&keys, &kek, t, 600).unwrap();
        let opts = VerifyOptions { issuer: "i", check_expiry: true, typ: None };
        let good = Claims { iss: "i".into(), exp: t + 60, sub: "a".into() };
        for alg in SigningAlg::ALL {
            let jwt = ring.sign(alg, "JWT", &good).unwrap();
            let (head, rest) = jwt.split_once('.').unwrap();
            let (payload, signature) = rest.split_once('.').unwrap();
            // Another payload under the same signature.
            let forged = URL_SAFE_NO_PAD.encode(br#"{"iss":"i","exp":99999999999,"sub":"admin"}"#);
            assert!(ring.verify::<Claims>(&format!("{head}.{forged}.{signature}"), opts).is_err());
            // alg "none", and the other algorithm named for this key.
            let kid = ring.active_kid(alg).unwrap();
            for bad_alg in ["none", if alg == SigningAlg::Rs256 { "ES256" } else { "RS256" }, "HS256"] {
                let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{bad_alg}","kid":"{kid}"}}"#));
                assert!(ring.verify::<Claims>(&format!("{h}.{payload}.{signature}"), opts).is_err(), "{bad_alg}");
                assert!(ring.verify::<Claims>(&format!("{h}.{payload}."), opts).is_err(), "{bad_alg}");
            }
            // Not three parts, bad base64, a truncated signature.
            assert!(ring.verify::<Claims>(&format!("{jwt}.x"), opts).is_err());
            assert!(ring.verify::<Claims>(&format!("{head}.{payload}"), opts).is_err());
            assert!(ring.verify::<Claims>(&format!("{head}.{payload}.!!"), opts).is_err());
            assert!(ring.verify::<Claims>(&jwt[..jwt.len() - 4], opts).is_err());
            assert!(ring.verify::<Claims>("", opts).is_err());
        }
        // Expired one second ago: refused, and said so.
        let expired = ring.sign(SigningAlg::Es256, "JWT", &Claims { exp: t - 1, ..good }).unwrap();
        let err = ring.verify::<Claims>(&expired, opts).unwrap_err();
        assert_eq!(err.description, "the token has expired");
        // No exp at all: refused when expiry is checked.
        #[derive(Serialize)]
        struct NoExp {
            iss: String,
        }
        let no_exp = ring.sign(SigningAlg::Es256, "JWT", &NoExp { iss: "i".into() }).unwrap();
        assert!(ring.verify::<serde_json::Value>(&no_exp, opts).is_err());
        assert!(ring.verify::<serde_json::Value>(&no_exp, VerifyOptions { check_expiry: false, ..opts }).is_ok());
    }

    /// Publish before use: a `next` key is in the JWKS and verifies, but the old key signs until
    /// the activation time, when the ring (loaded again) signs with the new one by itself.
    #[test]
    fn a_next_key_is_published_first_and_signs_from_its_activation() {
        let kek = KeyEncryptionKey::generate();
        let t = now();
        let mut keys = vec![
            StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap(),
            StoredKey::generate(SigningAlg::Es256, &kek, t).unwrap(),
        ];
        let next = StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap().scheduled(t + 300);
        keys.push(next.clone());
        let before = KeyRing::load(&keys, &kek, t, 600).unwrap();
        assert_eq!(before.active_kid(SigningAlg::Rs256), Some(keys[0].kid.as_str()), "the old key still signs");
        assert!(before.jwks_json().contains(&next.kid), "the next key is published");
        assert_eq!(before.next_activation(), Some(t + 300));
        // A token signed by the next key (by a node already past the time) verifies here.
        let after = KeyRing::load(&keys, &kek, t + 300, 600).unwrap();
        assert_eq!(after.active_kid(SigningAlg::Rs256), Some(next.kid.as_str()), "due: it signs, unrecorded yet");
        assert_eq!(after.next_activation(), None);
        let claims = Claims { iss: "https://id.example".into(), exp: t + 60, sub: "a".into() };
        let opts = VerifyOptions { issuer: "https://id.example", check_expiry: true, typ: Some("JWT") };
        let by_next = after.sign(SigningAlg::Rs256, "JWT", &claims).unwrap();
        assert_eq!(before.verify::<Claims>(&by_next, opts).unwrap(), claims);
        let by_old = before.sign(SigningAlg::Rs256, "JWT", &claims).unwrap();
        assert_eq!(after.verify::<Claims>(&by_old, opts).unwrap(), claims);
    }

    #[test]
    fn sign_verify_rotate() {
        let kek = KeyEncryptionKey::generate();
        let t = now();
        let mut keys = vec![
            StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap(),
            StoredKey::generate(SigningAlg::Es256, &kek, t).unwrap(),
        ];
        let ring = KeyRing::load(&keys, &kek, t, 600).unwrap();
        let claims = Claims { iss: "https://id.example".into(), exp: t + 60, sub: "a".into() };
        let opts = VerifyOptions { issuer: "https://id.example", check_expiry: true, typ: Some("JWT") };
        for alg in SigningAlg::ALL {
            let jwt = ring.sign(alg, "JWT", &claims).unwrap();
            assert_eq!(ring.verify::<Claims>(&jwt, opts).unwrap(), claims);
            assert!(ring.verify::<Claims>(&jwt, VerifyOptions { typ: Some("at+jwt"), ..opts }).is_err());
            assert!(ring.verify::<Claims>(&jwt, VerifyOptions { issuer: "https://other", ..opts }).is_err());
        }
        let old = ring.sign(SigningAlg::Rs256, "JWT", &claims).unwrap();

        // rotate RS256: the retired key keeps verifying until its tokens have expired
        keys[0].state = KeyState::Retired;
        keys[0].retired_at = Some(t);
        keys.push(StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap());
        let rotated = KeyRing::load(&keys, &kek, t, 600).unwrap();
        assert_ne!(rotated.active_kid(SigningAlg::Rs256), ring.active_kid(SigningAlg::Rs256));
        assert!(rotated.verify::<Claims>(&old, opts).is_ok());
        let jwks: serde_json::Value = serde_json::from_str(rotated.jwks_json()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
        let later = KeyRing::load(&keys, &kek, t + 601, 600).unwrap();
        assert!(later.verify::<Claims>(&old, VerifyOptions { check_expiry: false, ..opts }).is_err());
    }

    #[test]
    fn expired_tokens_refused_unless_asked() {
        let kek = KeyEncryptionKey::generate();
        let t = now();
        let keys: Vec<_> = SigningAlg::ALL.iter().map(|a| StoredKey::generate(*a, &kek, t).unwrap()).collect();
        let ring = KeyRing::load(&keys, &kek, t, 600).unwrap();
        let jwt =
            ring.sign(SigningAlg::Rs256, "JWT", &Claims { iss: "i".into(), exp: t - 10, sub: "a".into() }).unwrap();
        let opts = VerifyOptions { issuer: "i", check_expiry: true, typ: None };
        assert!(ring.verify::<Claims>(&jwt, opts).is_err());
        assert!(ring.verify::<Claims>(&jwt, VerifyOptions { check_expiry: false, ..opts }).is_ok());
        assert!(ring.verify::<Claims>("garbage", opts).is_err());
        assert!(ring.verify::<Claims>("a.b.c", opts).is_err());
    }
}
