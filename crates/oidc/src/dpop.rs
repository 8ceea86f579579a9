//! DPoP (RFC 9449): proofs of possession that bind access and refresh tokens to a client's key.
//!
//! A proof is a JWT the client signs with its private key and carries the public key in its
//! header (`jwk`). This module checks one proof against the request it came with (`htm`,
//! `htu`), the time (`iat` within a window), the access token it accompanies (`ath`) and, when
//! the server asks for them, a server-provided nonce. What it returns names the key by its JWK
//! SHA-256 thumbprint (RFC 7638, `jkt`), the value tokens are bound to (`cnf.jkt`). Refusing a
//! replayed proof (its `jti`) needs storage and is the caller's: [`DpopProof::replay_key`] is
//! what to remember until [`DpopProof::remember_until`].
//!
//! Nonces (RFC 9449 8) are stateless: the HMAC-SHA256 of a five-minute time step under a key
//! derived from the key-encryption key, so every replica issues and accepts the same nonces
//! without sharing state. A nonce is good in its step and the next (5 to 10 minutes).

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::secrets::constant_time_eq;
use crate::{ErrorCode, OAuthError};

/// The proof algorithms accepted (`dpop_signing_alg_values_supported`): asymmetric ones that
/// `jsonwebtoken` verifies; never `none` or an HMAC.
pub const SUPPORTED_ALGS: [&str; 6] = ["ES256", "ES384", "RS256", "PS256", "EdDSA", "Ed25519"];

/// The `typ` of a DPoP proof (RFC 9449 4.2).
pub const PROOF_TYP: &str = "dpop+jwt";

/// How old a proof may be (its `iat`), seconds.
pub const PROOF_MAX_AGE: i64 = 300;
/// How far ahead of the server's clock a proof's `iat` may be, seconds.
pub const PROOF_MAX_SKEW: i64 = 60;

/// Seconds of one nonce step.
const NONCE_STEP: i64 = 300;

/// The longest `jti` accepted; a proof's `jti` is stored (hashed) until it is too old anyway.
const MAX_JTI_LENGTH: usize = 256;

/// What a request's proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofExpectation<'a> {
    /// The HTTP method (`htm`).
    pub method: &'a str,
    /// The endpoint's URL (`htu`), without query or fragment.
    pub url: &'a str,
    /// The access token the proof accompanies at a resource (`ath` required), or `None` at the
    /// token endpoint (`ath` not expected).
    pub access_token: Option<&'a str>,
    pub now: i64,
}

/// A verified proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// The JWK SHA-256 thumbprint (RFC 7638) of the proof's key, base64url.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// Whether the proof carried a (valid) server nonce.
    pub has_nonce: bool,
}

impl DpopProof {
    /// What identifies the proof for replay detection: a hash of the key and the `jti` (two
    /// clients may well pick the same `jti`).
    pub fn replay_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{} {}", self.jkt, self.jti).as_bytes()))
    }

    /// Until when the replay key must be remembered: after that the proof is refused as too old.
    pub fn remember_until(&self) -> i64 {
        self.iat + PROOF_MAX_AGE + PROOF_MAX_SKEW
    }
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn invalid(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// base64url(SHA-256(access token)): a proof's `ath` (RFC 9449 4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Checks a `dpop_jkt` authorization request parameter (RFC 9449 10): a JWK SHA-256
/// thumbprint, i.e. 32 bytes in unpadded base64url (43 characters). Anything else can never
/// equal a proof's thumbprint, so it is `invalid_request` at once rather than a code no
/// client can redeem.
pub fn parse_jkt(value: &str) -> Result<String, OAuthError> {
    let decoded = URL_SAFE_NO_PAD.decode(value.as_bytes()).ok();
    if value.len() != 43 || decoded.is_none_or(|bytes| bytes.len() != 32) {
        return Err(OAuthError::invalid_request(
            "dpop_jkt must be a JWK SHA-256 thumbprint (RFC 7638): 43 characters of base64url",
        ));
    }
    Ok(value.to_owned())
}

/// Whether a code bound to `bound` (its `dpop_jkt`) may be redeemed with a proof of the key
/// `proof_jkt` (RFC 9449 10): always when the code is not bound, else only with a proof of that
/// very key.
pub fn code_binding_holds(bound: Option<&str>, proof_jkt: Option<&str>) -> bool {
    match (bound, proof_jkt) {
        (None, _) => true,
        (Some(bound), Some(jkt)) => constant_time_eq(bound.as_bytes(), jkt.as_bytes()),
        (Some(_), None) => false,
    }
}

/// Compares two URLs as `htu` (RFC 9449 4.3 step 9): scheme, host, port and path, without
/// query and fragment, after the URL parser's normalisation (case of scheme and host, default
/// port, percent-encoding).
fn same_htu(proof: &str, expected: &str) -> bool {
    let (Ok(mut a), Ok(mut b)) = (url::Url::parse(proof), url::Url::parse(expected)) else { return false };
    for u in [&mut a, &mut b] {
        u.set_query(None);
        u.set_fragment(None);
    }
    a == b
}

/// Checks a DPoP proof (RFC 9449 4.3) against the request, except replay. `nonces` is the
/// server's nonce source; with `require_nonce` a proof without a valid nonce is
/// `use_dpop_nonce`, and a nonce that is present is always checked.
pub fn verify_proof(
    proof: &str,
    expected: ProofExpectation<'_>,
    nonces: &DpopNonces,
    require_nonce: bool,
) -> Result<DpopProof, OAuthError> {
    // `Ed25519` (RFC 9864) is read as `EdDSA`: openid-client names an Ed25519 key so.
    let header = crate::jws::decode_header(proof).ok_or_else(|| invalid("the DPoP proof is not a JWT"))?.header;
    if header.typ.as_deref() != Some(PROOF_TYP) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = header.alg;
    if !matches!(alg, Algorithm::ES256 | Algorithm::ES384 | Algorithm::RS256 | Algorithm::PS256 | Algorithm::EdDSA) {
        return Err(invalid(format!("the DPoP proof's alg must be one of {}", SUPPORTED_ALGS.join(", "))));
    }
    let jwk = header.jwk.ok_or_else(|| invalid("the DPoP proof's header has no jwk"))?;
    if has_private_key_member(proof) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the DPoP proof's jwk is not a usable public key"))?;
    let claims: ProofClaims =
        crate::jws::verify(proof, &key, alg).ok_or_else(|| invalid("the DPoP proof does not verify"))?;
    let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| invalid("the DPoP proof's jwk has no thumbprint"))?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LENGTH {
        return Err(invalid("the DPoP proof's jti is missing or too long"));
    }
    if claims.htm != expected.method {
        return Err(invalid(format!("the DPoP proof's htm must be {}", expected.method)));
    }
    if !same_htu(&claims.htu, expected.url) {
        return Err(invalid(format!("the DPoP proof's htu must be {}", expected.url)));
    }
    if claims.iat < expected.now - PROOF_MAX_AGE || claims.iat > expected.now + PROOF_MAX_SKEW {
        return Err(invalid("the DPoP proof's iat is too far from the server's time"));
    }
    match (expected.access_token, claims.ath.as_deref()) {
        (Some(token), Some(ath)) if constant_time_eq(ath.as_bytes(), access_token_hash(token).as_bytes()) => {}
        (Some(_), Some(_)) => return Err(invalid("the DPoP proof's ath is not the access token's hash")),
        (Some(_), None) => return Err(invalid("the DPoP proof has no ath for the access token")),
        (None, _) => {}
    }
    let has_nonce = match claims.nonce.as_deref() {
        Some(nonce) if nonces.is_valid(nonce, expected.now) => true,
        Some(_) => return Err(OAuthError::new(ErrorCode::UseDpopNonce, "the DPoP nonce is unknown or has expired")),
        None if require_nonce => {
            return Err(OAuthError::new(ErrorCode::UseDpopNonce, "the server requires a nonce in the DPoP proof"))
        }
        None => false,
    };
    Ok(DpopProof { jkt, jti: claims.jti, iat: claims.iat, has_nonce })
}

/// Whether the proof's header `jwk` carries a private key member (RFC 9449 4.3 step 7 forbids
/// it). `jsonwebtoken`'s `Jwk` would drop such members silently, so the raw header is read.
fn has_private_key_member(proof: &str) -> bool {
    let Some(encoded) = proof.split('.').next() else { return true };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(encoded) else { return true };
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return true };
    let Some(jwk) = header.get("jwk").and_then(|j| j.as_object()) else { return true };
    ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| jwk.contains_key(*m))
}

/// Server-provided DPoP nonces (RFC 9449 8): stateless, shared by every replica holding the
/// same key.
pub struct DpopNonces {
    key: hmac::Key,
}

impl DpopNonces {
    /// `secret`: 32 bytes derived from the key-encryption key for this purpose only.
    pub fn new(secret: &[u8; 32]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    fn for_step(&self, step: i64) -> String {
        let tag = hmac::sign(&self.key, &step.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..24])
    }

    /// The nonce to hand out now.
    pub fn current(&self, now: i64) -> String {
        self.for_step(now.div_euclid(NONCE_STEP))
    }

    /// Whether `nonce` was handed out in this step or the previous one.
    pub fn is_valid(&self, nonce: &str, now: i64) -> bool {
        let step = now.div_euclid(NONCE_STEP);
        [step, step - 1].into_iter().any(|s| constant_time_eq(self.for_step(s).as_bytes(), nonce.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const URL: &str = "https://id.example.uz/token";

    struct TestKey {
        encoding: EncodingKey,
        jwk: jsonwebtoken::jwk::Jwk,
    }

    fn test_key() -> TestKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }))
        .unwrap();
        TestKey { encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk }
    }

    fn proof(key: &TestKey, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(PROOF_TYP.into());
        header.jwk = Some(key.jwk.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    }

    fn expect(access_token: Option<&str>) -> ProofExpectation<'_> {
        ProofExpectation { method: "POST", url: URL, access_token, now: NOW }
    }

    fn nonces() -> DpopNonces {
        DpopNonces::new(&[7; 32])
    }

    #[test]
    fn a_good_proof_names_its_key() {
        let key = test_key();
        let p = proof(&key, json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": NOW}));
        let checked = verify_proof(&p, expect(None), &nonces(), false).unwrap();
        assert_eq!(checked.jkt, key.jwk.thumbprint(ThumbprintHash::SHA256).unwrap());
        assert_eq!(checked.jkt.len(), 43);
        assert!(!checked.has_nonce);
        // the same key and jti give the same replay key; another jti another
        let again = verify_proof(&p, expect(None), &nonces(), false).unwrap();
        assert_eq!(checked.replay_key(), again.replay_key());
        let other = proof(&key, json!({"jti": "j2", "htm": "POST", "htu": URL, "iat": NOW}));
        assert_ne!(verify_proof(&other, expect(None), &nonces(), false).unwrap().replay_key(), checked.replay_key());
        // htu compared without query, with normalised host case and default port
        let p =
            proof(&key, json!({"jti": "j", "htm": "POST", "htu": "https://ID.example.uz:443/token?x=1", "iat": NOW}));
        assert!(verify_proof(&p, expect(None), &nonces(), false).is_ok());
    }

    #[test]
    fn bad_proofs_are_refused() {
        let key = test_key();
        let refused = |claims: serde_json::Value, token: Option<&str>| {
            verify_proof(&proof(&key, claims), expect(token), &nonces(), false).unwrap_err().code
        };
        let bad = ErrorCode::InvalidDpopProof;
        assert_eq!(refused(json!({"jti": "j", "htm": "GET", "htu": URL, "iat": NOW}), None), bad);
        assert_eq!(
            refused(json!({"jti": "j", "htm": "POST", "htu": "https://id.example.uz/userinfo", "iat": NOW}), None),
            bad
        );
        assert_eq!(refused(json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW - PROOF_MAX_AGE - 1}), None), bad);
        assert_eq!(refused(json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW + PROOF_MAX_SKEW + 1}), None), bad);
        assert_eq!(refused(json!({"jti": "", "htm": "POST", "htu": URL, "iat": NOW}), None), bad);
        assert_eq!(refused(json!({"htm": "POST", "htu": URL, "iat": NOW}), None), bad);
        // at a resource: ath required and equal to the token's hash
        assert_eq!(refused(json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}), Some("tok")), bad);
        let wrong_ath = json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash("other")});
        assert_eq!(refused(wrong_ath, Some("tok")), bad);
        let good = json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash("tok")});
        assert!(verify_proof(&proof(&key, good), expect(Some("tok")), &nonces(), false).is_ok());
        // another key's signature under this jwk
        let other = test_key();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(PROOF_TYP.into());
        header.jwk = Some(key.jwk.clone());
        let forged =
            jsonwebtoken::encode(&header, &json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}), &other.encoding)
                .unwrap();
        assert_eq!(verify_proof(&forged, expect(None), &nonces(), false).unwrap_err().code, bad);
        // wrong typ, and no jwk
        header.typ = Some("JWT".into());
        let p =
            jsonwebtoken::encode(&header, &json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}), &key.encoding)
                .unwrap();
        assert_eq!(verify_proof(&p, expect(None), &nonces(), false).unwrap_err().code, bad);
        header.typ = Some(PROOF_TYP.into());
        header.jwk = None;
        let p =
            jsonwebtoken::encode(&header, &json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}), &key.encoding)
                .unwrap();
        assert_eq!(verify_proof(&p, expect(None), &nonces(), false).unwrap_err().code, bad);
        assert_eq!(verify_proof("not.a.jwt", expect(None), &nonces(), false).unwrap_err().code, bad);
    }

    #[test]
    fn nonces_are_required_when_configured_and_always_checked() {
        let key = test_key();
        let n = nonces();
        let without = proof(&key, json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}));
        assert_eq!(verify_proof(&without, expect(None), &n, true).unwrap_err().code, ErrorCode::UseDpopNonce);
        let with = proof(&key, json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW, "nonce": n.current(NOW)}));
        assert!(verify_proof(&with, expect(None), &n, true).unwrap().has_nonce);
        let stale =
            proof(&key, json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW, "nonce": n.current(NOW - 700)}));
        assert_eq!(verify_proof(&stale, expect(None), &n, false).unwrap_err().code, ErrorCode::UseDpopNonce);
        // a nonce stays good into the next step, and only under the same secret
        assert!(n.is_valid(&n.current(NOW), NOW + NONCE_STEP));
        assert!(!n.is_valid(&n.current(NOW), NOW + 2 * NONCE_STEP));
        assert!(!DpopNonces::new(&[8; 32]).is_valid(&n.current(NOW), NOW));
    }

    #[test]
    fn dpop_jkt_is_a_thumbprint_and_binds_the_code_to_that_key() {
        let jkt = test_key().jwk.thumbprint(ThumbprintHash::SHA256).unwrap();
        assert_eq!(parse_jkt(&jkt).unwrap(), jkt);
        for bad in
            ["", "abc", &jkt[..42], &format!("{jkt}A"), &format!("{}=", &jkt[..42]), &jkt.replace(&jkt[..1], "+")]
        {
            assert_eq!(parse_jkt(bad).unwrap_err().code, ErrorCode::InvalidRequest, "{bad}");
        }
        let other = test_key().jwk.thumbprint(ThumbprintHash::SHA256).unwrap();
        assert!(code_binding_holds(None, None));
        assert!(code_binding_holds(None, Some(&other)));
        assert!(code_binding_holds(Some(&jkt), Some(&jkt)));
        assert!(!code_binding_holds(Some(&jkt), Some(&other)));
        assert!(!code_binding_holds(Some(&jkt), None));
    }
}
