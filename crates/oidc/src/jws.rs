//! Compact JWS that others sign (DPoP proofs, client assertions, request objects), read with
//! `jsonwebtoken`, which knows JOSE's `EdDSA` but not `Ed25519`, the fully-specified name RFC
//! 9864 gives EdDSA with the Ed25519 curve (what openid-client and oauth4webapi send for an
//! Ed25519 key). The two name one computation, so `Ed25519` is read as `EdDSA` here, in the
//! header and in a JWK's `alg`; the name as sent is kept for the callers' allow-lists.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// RFC 9864 2.2: EdDSA with Ed25519.
pub const ED25519: &str = "Ed25519";

/// A JWS header as `jsonwebtoken` reads it, with `alg` as it was sent.
pub struct SentHeader {
    pub header: Header,
    pub alg: String,
}

/// The header of the compact JWS `token`, or `None` when it is not one.
pub fn decode_header(token: &str) -> Option<SentHeader> {
    let encoded = token.split('.').next()?;
    let mut raw: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    let alg = raw.get("alg")?.as_str()?.to_owned();
    normalise_alg(&mut raw);
    if let Some(jwk) = raw.get_mut("jwk") {
        normalise_alg(jwk);
    }
    let header = serde_json::from_value(raw).ok()?;
    Some(SentHeader { header, alg })
}

/// `alg: Ed25519` (a header or a JWK) as `EdDSA`; other values are left as they are.
pub fn normalise_alg(object: &mut Value) {
    if object.get("alg").and_then(Value::as_str) == Some(ED25519) {
        object["alg"] = "EdDSA".into();
    }
}

/// The payload of `token` if its signature verifies with `key` under `alg` (the header's, as
/// [`decode_header`] read it); checks no claim.
pub fn verify<T: DeserializeOwned>(token: &str, key: &DecodingKey, alg: Algorithm) -> Option<T> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    if !jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), key, alg).ok()? {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    /// An Ed25519 JWS with header `header` over `payload`, and the key's public JWK.
    fn signed(header: Value, payload: &str) -> (String, jsonwebtoken::jwk::Jwk) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload));
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()).as_ref()));
        let mut jwk = serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "alg": "Ed25519" });
        normalise_alg(&mut jwk);
        (token, serde_json::from_value(jwk).unwrap())
    }

    #[test]
    fn ed25519_is_read_as_eddsa_and_verifies() {
        for name in [ED25519, "EdDSA"] {
            let (token, jwk) = signed(serde_json::json!({ "alg": name, "kid": "k" }), r#"{"sub":"a"}"#);
            let sent = decode_header(&token).unwrap();
            assert_eq!(sent.alg, name);
            assert_eq!(sent.header.alg, Algorithm::EdDSA);
            let key = DecodingKey::from_jwk(&jwk).unwrap();
            let payload: Value = verify(&token, &key, Algorithm::EdDSA).unwrap();
            assert_eq!(payload["sub"], "a");
            // Another payload under the signature, or the key used as another algorithm: refused.
            let (head, rest) = token.split_once('.').unwrap();
            let signature = rest.split_once('.').unwrap().1;
            let forged = format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(r#"{"sub":"b"}"#));
            assert!(verify::<Value>(&forged, &key, Algorithm::EdDSA).is_none());
            assert!(verify::<Value>(&token, &key, Algorithm::ES256).is_none());
            assert!(verify::<Value>(&format!("{token}.x"), &key, Algorithm::EdDSA).is_none());
        }
        assert!(decode_header("not a jws").is_none());
        assert!(decode_header(&URL_SAFE_NO_PAD.encode(r#"{"alg":"Ed448"}"#)).is_none());
    }
}
