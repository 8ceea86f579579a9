//! Key material per algorithm: a new key pair (PKCS#8 and its public JWK), the private key
//! parsed once for signing, and a published JWK as a verifying key.
//!
//! One key per algorithm, PS256 included: RS256 and PS256 each have their own RSA key (as
//! Keycloak does). A JWK names one `alg`, and relying parties (jose, among others) refuse a key
//! whose `alg` is not the token's; using one RSA key with two paddings would also break key
//! separation for no gain (docs/operations.md, "Signing keys").

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaEncoding, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RSA_PSS_2048_8192_SHA256,
    RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::SigningAlg;
use crate::OAuthError;

/// A new key pair for `alg`: its PKCS#8 document and its public JWK (with `kid`, `alg`, `use`).
pub(super) fn generate(alg: SigningAlg, kid: &str) -> Result<(Vec<u8>, Value), OAuthError> {
    let failed = |what: &str| OAuthError::server_error(format!("{} key {what} failed", alg.as_str()));
    let (pkcs8, mut jwk) = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| failed("generation"))?;
            let pkcs8 = pair.as_der().map_err(|_| failed("encoding"))?.as_ref().to_vec();
            let (n, e) = rsa_public_components(&pkcs8)?;
            (pkcs8, json!({ "kty": "RSA", "n": n, "e": e }))
        }
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| failed("generation"))?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|_| failed("encoding"))?.as_ref().to_vec();
            // Uncompressed point: 0x04 || x (32) || y (32).
            let point = pair.public_key().as_ref();
            if point.len() != 65 {
                return Err(failed("public point length"));
            }
            let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
            (pkcs8, json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }))
        }
        SigningAlg::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(|_| failed("generation"))?;
            let pkcs8 = pair.to_pkcs8().map_err(|_| failed("encoding"))?.as_ref().to_vec();
            // RFC 8037 2: an Octet Key Pair, `x` the 32-byte public key.
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (pkcs8, json!({ "kty": "OKP", "crv": "Ed25519", "x": x }))
        }
    };
    jwk["use"] = "sig".into();
    jwk["alg"] = alg.as_str().into();
    jwk["kid"] = kid.into();
    Ok((pkcs8, jwk))
}

fn rsa_public_components(pkcs8: &[u8]) -> Result<(String, String), OAuthError> {
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8)
        .map_err(|e| OAuthError::server_error(format!("RSA key decoding: {e}")))?;
    Ok((URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()), URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())))
}

/// An active private key, parsed once when the key ring loads: jsonwebtoken's own signer parses
/// the DER key again at every signature, which made RS256 several times slower
/// (docs/performance.md).
pub(super) enum PrivateKey {
    /// RS256 (PKCS#1 v1.5) or PS256 (PSS, salt the hash's length as RFC 7518 3.5 requires).
    Rsa(aws_lc_rs::rsa::KeyPair, &'static dyn RsaEncoding),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl PrivateKey {
    pub(super) fn parse(alg: SigningAlg, pkcs8: &[u8], kid: &str) -> Result<Self, OAuthError> {
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| OAuthError::server_error(format!("{} key {kid}: {e}", alg.as_str()));
        Ok(match alg {
            SigningAlg::Rs256 => {
                Self::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(rejected)?, &RSA_PKCS1_SHA256)
            }
            SigningAlg::Ps256 => {
                Self::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(rejected)?, &RSA_PSS_SHA256)
            }
            SigningAlg::Es256 => {
                Self::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(rejected)?)
            }
            SigningAlg::EdDsa => Self::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?),
        })
    }

    /// The JWS signature of `input` (ES256 in the fixed `r || s` form).
    pub(super) fn sign(&self, input: &[u8]) -> Result<Vec<u8>, OAuthError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Self::Rsa(pair, padding) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(*padding, &rng, input, &mut signature)
                    .map_err(|_| OAuthError::server_error("RSA signing failed"))?;
                Ok(signature)
            }
            Self::Ec(pair) => {
                Ok(pair.sign(&rng, input).map_err(|_| OAuthError::server_error("EC signing failed"))?.as_ref().to_vec())
            }
            Self::Ed(pair) => Ok(pair.sign(input).as_ref().to_vec()),
        }
    }
}

/// A published JWK as an aws-lc public key: RSA from `n` and `e` (PKCS#1 DER), P-256 from `x`
/// and `y` (an uncompressed point), Ed25519 from `x` (the raw 32 bytes).
pub(super) fn parse_public_jwk(alg: SigningAlg, jwk: &Value) -> Result<ParsedPublicKey, String> {
    let member = |name: &str| -> Result<Vec<u8>, String> {
        let text = jwk.get(name).and_then(Value::as_str).ok_or_else(|| format!("the JWK lacks {name}"))?;
        URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
    };
    let rsa_der = || -> Result<Vec<u8>, String> {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let n = rsa::BigUint::from_bytes_be(&member("n")?);
        let e = rsa::BigUint::from_bytes_be(&member("e")?);
        Ok(rsa::RsaPublicKey::new(n, e)
            .map_err(|e| e.to_string())?
            .to_pkcs1_der()
            .map_err(|e| e.to_string())?
            .as_bytes()
            .to_vec())
    };
    match alg {
        SigningAlg::Rs256 => ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_der()?),
        SigningAlg::Ps256 => ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, rsa_der()?),
        SigningAlg::Es256 => {
            let mut point = vec![0x04];
            point.extend(member("x")?);
            point.extend(member("y")?);
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        }
        SigningAlg::EdDsa => ParsedPublicKey::new(&ED25519, member("x")?),
    }
    .map_err(|e| e.to_string())
}
