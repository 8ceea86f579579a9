//! Random values and their stored hashes. Codes, refresh tokens, session ids and interaction ids
//! are 256-bit random values; only their SHA-256 is stored, so a copy of the database grants
//! nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::keys::SigningAlg;

/// A new random token: 32 bytes from the OS, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A shorter random identifier for things that are public (`sid`, `jti`, key ids).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token: SHA-256, base64url.
pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// base64url(SHA-256(input)): PKCE S256 (RFC 7636 4.2).
pub fn s256(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
}

/// `at_hash` (OIDC Core 3.1.3.6): the left half of the access token's hash, base64url, with the
/// hash of the ID token's algorithm: SHA-256 for RS256, PS256 and ES256; SHA-512 for EdDSA with
/// Ed25519 (the hash Ed25519 uses inside, as the OpenID Foundation's certified libraries, e.g.
/// the `openidconnect` crate, take it).
pub fn left_half_hash(token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 | SigningAlg::Es256 => {
            URL_SAFE_NO_PAD.encode(&Sha256::digest(token.as_bytes())[..16])
        }
        SigningAlg::EdDsa => URL_SAFE_NO_PAD.encode(&sha2::Sha512::digest(token.as_bytes())[..32]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    /// OIDC Core A.3's access token and at_hash (RS256); the EdDSA one is SHA-512's left half.
    #[test]
    fn at_hash_follows_the_algorithms_hash() {
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(left_half_hash(token, SigningAlg::Rs256), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(left_half_hash(token, SigningAlg::Ps256), "77QmUPtjPfzWtF2AnpK9RQ");
        let eddsa = left_half_hash(token, SigningAlg::EdDsa);
        assert_eq!(URL_SAFE_NO_PAD.decode(&eddsa).unwrap(), sha2::Sha512::digest(token.as_bytes())[..32].to_vec());
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
