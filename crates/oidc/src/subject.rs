//! Subject identifiers (OpenID Connect Core 8): `public` (the account id, the same for every
//! client) or `pairwise` (8.1: a different, stable `sub` per sector, so services cannot link a
//! person across sectors by `sub`).
//!
//! A pairwise subject is HMAC-SHA256(secret, sector || 0 || account id), base64url. The sector is
//! the host of the client's `sector_identifier_uri`, or else the one host of its redirect URIs.
//! The secret is the server's (`subjects.pairwise_secret_file`, or derived from the
//! key-encryption key): the same on every replica, and never changed, or every pairwise subject
//! changes.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{Client, OAuthError};

/// A client's subject type (`subject_type` client metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    #[default]
    Public,
    Pairwise,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
}

impl TryFrom<&str> for SubjectType {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, OAuthError> {
        match value {
            "public" => Ok(Self::Public),
            "pairwise" => Ok(Self::Pairwise),
            other => Err(OAuthError::invalid_request(format!("subject_type {other:?}: expected public or pairwise"))),
        }
    }
}

/// How subjects are made: the server's default type and the pairwise secret.
pub struct Subjects {
    default_type: SubjectType,
    key: hmac::Key,
}

impl Subjects {
    pub fn new(default_type: SubjectType, pairwise_secret: &[u8]) -> Self {
        Self { default_type, key: hmac::Key::new(hmac::HMAC_SHA256, pairwise_secret) }
    }

    /// The subject type `client` gets: its own, or the server's default.
    pub fn type_of(&self, client: &Client) -> SubjectType {
        client.token_metadata.subject_type.unwrap_or(self.default_type)
    }

    /// The `sub` of account `account_id` as `client` sees it.
    pub fn subject(&self, client: &Client, account_id: &str) -> String {
        match self.type_of(client) {
            SubjectType::Public => account_id.to_owned(),
            SubjectType::Pairwise => {
                let sector = sector_of(client).unwrap_or_default();
                let input = [sector.as_bytes(), &[0], account_id.as_bytes()].concat();
                URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, &input).as_ref())
            }
        }
    }
}

fn host_of(uri: &str) -> Option<String> {
    url::Url::parse(uri).ok()?.host_str().map(str::to_owned)
}

/// The client's sector (OIDC Core 8.1): the host of its `sector_identifier_uri`, or else the
/// host its redirect URIs share; an error when they name several hosts and there is no
/// `sector_identifier_uri`.
pub fn sector_of(client: &Client) -> Result<String, OAuthError> {
    if let Some(uri) = &client.token_metadata.sector_identifier_uri {
        return host_of(uri).ok_or_else(|| OAuthError::invalid_request("sector_identifier_uri has no host"));
    }
    let mut hosts: Vec<String> = client.redirect_uris.iter().filter_map(|u| host_of(u.as_str())).collect();
    hosts.sort();
    hosts.dedup();
    match hosts.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(OAuthError::invalid_request(
            "a pairwise client whose redirect URIs name several hosts (or none) needs a sector_identifier_uri",
        )),
    }
}

/// Checks a fetched `sector_identifier_uri` document (OIDC Core 8.1): a JSON array of URIs that
/// lists every redirect URI of the client.
pub fn check_sector_document(client: &Client, document: &str) -> Result<(), OAuthError> {
    let listed: Vec<String> = serde_json::from_str(document)
        .map_err(|_| OAuthError::invalid_request("the sector_identifier_uri document is not a JSON array of URIs"))?;
    let missing: Vec<&str> =
        client.redirect_uris.iter().map(|u| u.as_str()).filter(|u| !listed.iter().any(|l| l == u)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(format!(
            "the sector_identifier_uri document does not list the redirect URI(s) {}",
            missing.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TokenMetadata;

    fn client(id: &str, redirects: &[&str], metadata: TokenMetadata) -> Client {
        crate::client::test_client(id, redirects, metadata)
    }

    fn pairwise() -> TokenMetadata {
        TokenMetadata { subject_type: Some(SubjectType::Pairwise), ..Default::default() }
    }

    #[test]
    fn pairwise_subjects_are_per_sector_and_stable() {
        let subjects = Subjects::new(SubjectType::Public, b"0123456789abcdef0123456789abcdef");
        let a = client("a", &["https://tax.example.uz/cb"], pairwise());
        let a2 = client("a2", &["https://tax.example.uz/other"], pairwise());
        let b = client("b", &["https://health.example.uz/cb"], pairwise());
        let public = client("p", &["https://tax.example.uz/cb"], TokenMetadata::default());
        let sub = subjects.subject(&a, "acct-1");
        assert_eq!(sub, subjects.subject(&a, "acct-1"));
        assert_eq!(sub, subjects.subject(&a2, "acct-1"), "one sector, one subject");
        assert_ne!(sub, subjects.subject(&b, "acct-1"));
        assert_ne!(sub, subjects.subject(&a, "acct-2"));
        assert_eq!(subjects.subject(&public, "acct-1"), "acct-1");
        // another secret, other subjects
        assert_ne!(Subjects::new(SubjectType::Public, b"another secret of thirty-two byte").subject(&a, "acct-1"), sub);
        // the server's default applies to clients that chose none
        let by_default = Subjects::new(SubjectType::Pairwise, b"0123456789abcdef0123456789abcdef");
        assert_eq!(
            by_default.subject(&client("c", &["https://tax.example.uz/cb"], TokenMetadata::default()), "acct-1"),
            sub
        );
    }

    #[test]
    fn sectors_come_from_the_sector_uri_or_one_redirect_host() {
        let two_hosts = client("c", &["https://a.example/cb", "https://b.example/cb"], pairwise());
        assert!(sector_of(&two_hosts).is_err());
        let with_sector = client(
            "c",
            &["https://a.example/cb", "https://b.example/cb"],
            TokenMetadata { sector_identifier_uri: Some("https://sector.example/s.json".into()), ..pairwise() },
        );
        assert_eq!(sector_of(&with_sector).unwrap(), "sector.example");
        assert!(check_sector_document(&with_sector, r#"["https://a.example/cb","https://b.example/cb"]"#).is_ok());
        let e = check_sector_document(&with_sector, r#"["https://a.example/cb"]"#).unwrap_err();
        assert!(e.description.contains("https://b.example/cb"), "{}", e.description);
        assert!(check_sector_document(&with_sector, "{}").is_err());
    }
}
