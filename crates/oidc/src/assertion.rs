//! JWTs that clients sign: client assertions (RFC 7523 2.2 and 3, OIDC Core 9:
//! `private_key_jwt` and `client_secret_jwt`) and request objects (RFC 9101). The signature is
//! checked by `jsonwebtoken` against the client's registered keys (or its secret, for HMAC); the
//! claims by the rules here, with `now` passed in.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{ErrorCode, OAuthError};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Algorithms accepted for JWTs signed with a client's registered keys.
pub const ASYMMETRIC_ALGS: [&str; 10] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", crate::jws::ED25519];

/// Algorithms accepted for JWTs signed with the client secret (`client_secret_jwt`).
pub const HMAC_ALGS: [&str; 3] = ["HS256", "HS384", "HS512"];

/// The longest an assertion may live from now: its `jti` is remembered until it expires, so an
/// assertion good for a day would be a day of storage; clients make them for one request
/// (openid-client gives them a minute).
pub const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// Clock skew tolerated for `iat` and `nbf` in the future.
pub const CLOCK_SKEW: i64 = 60;

/// What verifies a client's JWT.
pub enum ClientKey<'a> {
    /// The client's registered public keys.
    Jwks(&'a JwkSet),
    /// The client secret (HMAC).
    Secret(&'a [u8]),
}

/// Why a client's JWT was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtRejection {
    /// Its `kid` names none of the keys: with keys from a `jwks_uri`, they may have rotated, so
    /// the caller fetches them again once and retries.
    UnknownKey,
    Invalid(String),
}

impl JwtRejection {
    /// The protocol error for a client assertion (always `invalid_client`) or a request object.
    pub fn into_error(self, code: ErrorCode, what: &str) -> OAuthError {
        let why = match self {
            Self::UnknownKey => "no registered key of the client matches its kid".to_owned(),
            Self::Invalid(why) => why,
        };
        OAuthError::new(code, format!("{what}: {why}"))
    }
}

fn invalid(why: impl Into<String>) -> JwtRejection {
    JwtRejection::Invalid(why.into())
}

/// Parses a registered JWK Set; `what` names it in the error (`jwks`, `jwks_uri`).
pub fn parse_jwks(text: &str, what: &str) -> Result<JwkSet, String> {
    let mut raw: Value = serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))?;
    // The parsed keys drop private members, so they are looked for in the JSON itself.
    let private = raw["keys"].as_array().is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some()));
    if private {
        return Err(format!("{what} holds a private key: register only the public part"));
    }
    // A key registered for `Ed25519` (RFC 9864) verifies EdDSA signatures, as jsonwebtoken
    // calls them.
    if let Some(keys) = raw.get_mut("keys").and_then(Value::as_array_mut) {
        keys.iter_mut().for_each(crate::jws::normalise_alg);
    }
    let set: JwkSet = serde_json::from_value(raw).map_err(|e| format!("{what} is not a JWK Set: {e}"))?;
    if set.keys.is_empty() {
        return Err(format!("{what} holds no key"));
    }
    if set.keys.iter().any(|k| matches!(k.algorithm, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_))) {
        return Err(format!("{what} must hold public keys only, not symmetric ones"));
    }
    Ok(set)
}

/// The claims a client JWT names before it is verified (to find the client whose keys verify it).
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token).ok()
}

/// Verifies a client's JWT signature with `key` and returns its claims; checks no claim.
/// `allowed` are the algorithms the caller accepts (never `none`: jsonwebtoken has no such
/// algorithm).
pub fn verify_signature(
    token: &str,
    key: &ClientKey<'_>,
    allowed: &[&str],
) -> Result<Map<String, Value>, JwtRejection> {
    let crate::jws::SentHeader { header, alg: alg_name } =
        crate::jws::decode_header(token).ok_or_else(|| invalid("not a signed JWT"))?;
    if !allowed.contains(&alg_name.as_str()) {
        return Err(invalid(format!("algorithm {alg_name} is not accepted here (accepted: {})", allowed.join(", "))));
    }
    let decode = |key: &DecodingKey| crate::jws::verify::<Map<String, Value>>(token, key, header.alg);
    match key {
        ClientKey::Secret(secret) => {
            decode(&DecodingKey::from_secret(secret)).ok_or_else(|| invalid("the signature does not verify"))
        }
        ClientKey::Jwks(set) => {
            let candidates: Vec<&Jwk> = match &header.kid {
                Some(kid) => set.keys.iter().filter(|k| k.common.key_id.as_deref() == Some(kid)).collect(),
                None => set.keys.iter().collect(),
            };
            let usable: Vec<&Jwk> = candidates.into_iter().filter(|k| usable_for(k, header.alg)).collect();
            if usable.is_empty() {
                return Err(JwtRejection::UnknownKey);
            }
            usable
                .into_iter()
                .find_map(|jwk| DecodingKey::from_jwk(jwk).ok().and_then(|k| decode(&k)))
                .ok_or_else(|| invalid("the signature does not verify with the client's registered keys"))
        }
    }
}

/// Whether `jwk` may verify a signature made with `alg`: a signing key (by `use`, when given)
/// of `alg` (when given) and of the key type the algorithm needs.
fn usable_for(jwk: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return false;
    }
    if let Some(key_alg) = jwk.common.key_algorithm {
        if format!("{key_alg:?}") != format!("{alg:?}") || key_alg == KeyAlgorithm::UNKNOWN_ALGORITHM {
            return false;
        }
    }
    matches!(
        (&jwk.algorithm, alg),
        (
            P::RSA(_),
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) | (P::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
            | (P::OctetKeyPair(_), Algorithm::EdDSA)
    )
}

/// The registered claims of a client assertion.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Audience,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// `aud`: one string or several (RFC 7519 4.1.3).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    Missing,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains_any(&self, accepted: &[&str]) -> bool {
        match self {
            Self::Missing => false,
            Self::One(a) => accepted.contains(&a.as_str()),
            Self::Many(all) => all.iter().any(|a| accepted.contains(&a.as_str())),
        }
    }
}

/// A verified client assertion: its `jti` is to be spent (once) until `exp`.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub jti: String,
    pub exp: i64,
}

/// Checks a client assertion's claims (RFC 7523 3, OIDC Core 9): `iss` and `sub` are the client
/// id; `aud` names one of `audiences` (the issuer, the token endpoint, or the endpoint called);
/// `exp` is given, in the future and at most [`MAX_ASSERTION_LIFETIME`] away; `iat` and `nbf`
/// are not in the future; `jti` is given.
pub fn check_assertion_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    audiences: &[&str],
    now: i64,
) -> Result<VerifiedAssertion, JwtRejection> {
    let claims: AssertionClaims = serde_json::from_value(Value::Object(claims.clone()))
        .map_err(|e| invalid(format!("its claims are malformed ({e})")))?;
    if claims.iss.as_deref() != Some(client_id) {
        return Err(invalid("iss must be the client id"));
    }
    if claims.sub.as_deref() != Some(client_id) {
        return Err(invalid("sub must be the client id"));
    }
    if !claims.aud.contains_any(audiences) {
        return Err(invalid(format!("aud must name this server (one of {})", audiences.join(", "))));
    }
    let exp = claims.exp.ok_or_else(|| invalid("exp is required"))?;
    if exp <= now {
        return Err(invalid("it has expired"));
    }
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(invalid(format!("exp is more than {MAX_ASSERTION_LIFETIME} seconds away")));
    }
    if claims.iat.is_some_and(|iat| iat > now + CLOCK_SKEW) || claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(invalid("it is not valid yet (iat or nbf in the future)"));
    }
    let jti = claims.jti.filter(|j| !j.is_empty()).ok_or_else(|| invalid("jti is required"))?;
    if jti.len() > 256 {
        return Err(invalid("jti is longer than 256 characters"));
    }
    Ok(VerifiedAssertion { jti, exp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const AUD: [&str; 2] = ["https://id.example", "https://id.example/token"];

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({"iss": "rp", "sub": "rp", "aud": "https://id.example/token", "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    #[test]
    fn a_good_assertion_passes_and_names_its_jti() {
        let v = check_assertion_claims(&claims(good()), "rp", &AUD, NOW).unwrap();
        assert_eq!(v, VerifiedAssertion { jti: "j1".into(), exp: NOW + 60 });
        let mut many = good();
        many["aud"] = json!(["https://elsewhere", "https://id.example"]);
        assert!(check_assertion_claims(&claims(many), "rp", &AUD, NOW).is_ok());
    }

    #[test]
    fn each_claim_rule_refuses() {
        let cases: [(&str, Value, &str); 9] = [
            ("iss", json!("other"), "iss"),
            ("sub", json!("other"), "sub"),
            ("aud", json!("https://other.example/token"), "aud"),
            ("aud", json!(7), "malformed"),
            ("exp", Value::Null, "exp is required"),
            ("exp", json!(NOW), "expired"),
            ("exp", json!(NOW + MAX_ASSERTION_LIFETIME + 1), "seconds away"),
            ("iat", json!(NOW + CLOCK_SKEW + 1), "not valid yet"),
            ("jti", json!(""), "jti is required"),
        ];
        for (claim, value, expected) in cases {
            let mut c = good();
            if value.is_null() && claim == "exp" {
                c.as_object_mut().unwrap().remove("exp");
            } else {
                c[claim] = value;
            }
            match check_assertion_claims(&claims(c), "rp", &AUD, NOW) {
                Err(JwtRejection::Invalid(why)) => assert!(why.contains(expected), "{claim}: {why}"),
                other => panic!("{claim}: {other:?}"),
            }
        }
    }

    #[test]
    fn hmac_signature_is_checked_and_algorithms_are_restricted() {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &good(), &EncodingKey::from_secret(b"s3cret"))
            .unwrap();
        let ok = verify_signature(&token, &ClientKey::Secret(b"s3cret"), &HMAC_ALGS).unwrap();
        assert_eq!(ok["jti"], "j1");
        assert!(matches!(
            verify_signature(&token, &ClientKey::Secret(b"other"), &HMAC_ALGS),
            Err(JwtRejection::Invalid(_))
        ));
        let refused = verify_signature(&token, &ClientKey::Secret(b"s3cret"), &ASYMMETRIC_ALGS).unwrap_err();
        assert!(matches!(refused, JwtRejection::Invalid(ref w) if w.contains("HS256 is not accepted")), "{refused:?}");
        // alg none is not even a JWT to jsonwebtoken
        let none = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&good().to_string()));
        assert!(verify_signature(&none, &ClientKey::Secret(b"s3cret"), &HMAC_ALGS).is_err());
    }

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn jwks_must_be_public_signing_keys() {
        assert!(parse_jwks(r#"{"keys":[]}"#, "jwks").unwrap_err().contains("no key"));
        assert!(parse_jwks(r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#, "jwks").unwrap_err().contains("symmetric"));
        let private = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cLY5sbz6"}]}"#;
        assert!(parse_jwks(private, "jwks").unwrap_err().contains("private"));
        let public = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let set = parse_jwks(public, "jwks").unwrap();
        // a token naming another kid: the keys may have rotated
        let token = format!("{}.{}.AAAA", b64(r#"{"alg":"ES256","kid":"k2"}"#), b64(&good().to_string()));
        assert_eq!(verify_signature(&token, &ClientKey::Jwks(&set), &ASYMMETRIC_ALGS), Err(JwtRejection::UnknownKey));
        let token = format!("{}.{}.AAAA", b64(r#"{"alg":"ES256","kid":"k1"}"#), b64(&good().to_string()));
        assert!(matches!(
            verify_signature(&token, &ClientKey::Jwks(&set), &ASYMMETRIC_ALGS),
            Err(JwtRejection::Invalid(_))
        ));
    }
}
