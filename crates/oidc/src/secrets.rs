//! Random values and their stored hashes. Codes, refresh tokens, session ids and interaction ids
//! are 256-bit random values; only their SHA-256 is stored, so a copy of the database grants
//! nothing.
//!
//! # Keys in issue order
//!
//! A token and an id begin with the time they were made: milliseconds since the Unix epoch, 12
//! lowercase hex digits ([`TIME_PREFIX_LEN`]), then the random part. A token's stored key keeps
//! that prefix in front of the hash ([`hash_token`]). The B-tree of every table keyed by a token
//! or an id is therefore in issue order: a new row goes to the right-hand edge of its index,
//! which is always in memory, and the rows in use (the live ones, made recently) sit together.
//! With keys that are pure hashes, each insert into a 50-million-row index touched a random leaf
//! page, read from disk at national scale (docs/performance.md, "Keys in issue order"). This is
//! what UUIDv7 (RFC 9562 5.7) does for ids; the prefix costs nothing in secrecy, as the random
//! part keeps its full length and the issue time is no secret (a JWT says it in `iat`).
//!
//! Tokens of the older form (43 characters, no prefix) still hash to their old keys, so the rows
//! stored before an upgrade stay found.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::keys::SigningAlg;

/// Characters of the issue-time prefix of a token or an id.
pub const TIME_PREFIX_LEN: usize = 12;
/// Characters of a token's random part: 32 bytes, base64url without padding.
const TOKEN_SECRET_LEN: usize = 43;
/// Characters of a token: the issue-time prefix and the random part.
pub const TOKEN_LEN: usize = TIME_PREFIX_LEN + TOKEN_SECRET_LEN;

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `random_part` behind the issue-time prefix of `unix_ms` (its low 48 bits: until the year
/// 10889). The scale bench's seeder makes its tokens with a chosen time through this.
pub fn with_issue_time(unix_ms: u64, random_part: &str) -> String {
    format!("{:012x}{random_part}", unix_ms & 0xffff_ffff_ffff)
}

/// `N` bytes from the OS, base64url without padding.
fn random_base64url<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new random token: the issue-time prefix, then 32 bytes from the OS in base64url without
/// padding ([`TOKEN_LEN`] = 55 characters).
pub fn random_token() -> String {
    with_issue_time(now_ms(), &random_base64url::<32>())
}

/// A new client secret: 32 bytes from the OS, base64url without padding (43 characters). No
/// issue-time prefix: a secret is checked against its client's stored hash, never looked up by
/// key, so the prefix would only add length.
pub fn random_secret() -> String {
    random_base64url::<32>()
}

/// A shorter random identifier for things that are public (`sid`, `jti`, key ids, row ids): the
/// issue-time prefix, then 16 random bytes in base64url (34 characters).
pub fn random_id() -> String {
    with_issue_time(now_ms(), &random_base64url::<16>())
}

/// Whether `value` can be a token this server made: base64url characters, either of the current
/// form ([`TOKEN_LEN`], with the issue-time prefix) or of the form before it (43 characters).
/// Cookies of any other shape are ignored rather than looked up.
pub fn is_token_shaped(value: &str) -> bool {
    let base64url = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    base64url && (value.len() == TOKEN_SECRET_LEN || issue_time_prefix(value).is_some())
}

/// The issue-time prefix of a token of the current form; `None` for any other string. The length
/// alone tells the forms apart: an older token (43 characters) that happens to begin with 12 hex
/// digits keeps its old key.
fn issue_time_prefix(token: &str) -> Option<&str> {
    let prefix = token.get(..TIME_PREFIX_LEN)?;
    (token.len() == TOKEN_LEN && prefix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(prefix)
}

/// The stored key of a token: SHA-256 in base64url, behind the token's issue-time prefix when it
/// has one (see the module docs).
pub fn hash_token(token: &str) -> String {
    // Every token lookup hashes: one allocation of the key's final size.
    let mut key = String::with_capacity(TOKEN_LEN);
    key.push_str(issue_time_prefix(token).unwrap_or_default());
    URL_SAFE_NO_PAD.encode_string(Sha256::digest(token.as_bytes()), &mut key);
    key
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
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(is_token_shaped(&a));
        assert_ne!(a, random_token());
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
        // The key keeps the prefix, then the digest of the whole token.
        let key = hash_token(&a);
        assert_eq!(&key[..TIME_PREFIX_LEN], &a[..TIME_PREFIX_LEN]);
        assert_eq!(&key[TIME_PREFIX_LEN..], URL_SAFE_NO_PAD.encode(Sha256::digest(a.as_bytes())));
    }

    /// Keys made later sort after keys made earlier, byte for byte: a new row goes to the end of
    /// its index.
    #[test]
    fn keys_sort_in_issue_order() {
        // Issued 0, 1, 8, 27, ... days apart. The digests behind the prefixes are in no order,
        // so without the prefixes 40 keys would come out sorted by chance once in 40! runs.
        let times = (0..40u64).map(|k| 1_764_000_000_000 + k * k * k * 86_400);
        let keys: Vec<String> = times.map(|t| hash_token(&with_issue_time(t, &random_base64url::<32>()))).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let ids = [random_id(), {
            std::thread::sleep(std::time::Duration::from_millis(2));
            random_id()
        }];
        assert_eq!(ids[0].len(), 34);
        assert!(ids[0][..TIME_PREFIX_LEN] < ids[1][..TIME_PREFIX_LEN]);
    }

    /// A token of the form before the prefix (43 characters) keeps the key it was stored under,
    /// even when it happens to begin with 12 hex digits.
    #[test]
    fn older_tokens_keep_their_keys() {
        let old = "0123456789abJkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0";
        assert_eq!(old.len(), 43);
        assert!(is_token_shaped(old));
        assert_eq!(hash_token(old), URL_SAFE_NO_PAD.encode(Sha256::digest(old.as_bytes())));
        // Neither a token with a non-hex prefix nor one of another length gets a prefix.
        let not_hex = format!("0123456789aZ{}", &old[..TOKEN_SECRET_LEN]);
        assert_eq!(hash_token(&not_hex), URL_SAFE_NO_PAD.encode(Sha256::digest(not_hex.as_bytes())));
        assert!(!is_token_shaped(&not_hex));
        assert!(!is_token_shaped("short"));
        assert!(!is_token_shaped(&format!("{}!", &old[..42])));
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
