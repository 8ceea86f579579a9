//! Protocol values, parsed once at the boundary.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secrets::{constant_time_eq, s256};
use crate::OAuthError;

/// A client identifier: 1-128 visible ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ClientId {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        if (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(OAuthError::invalid_request("client_id must be 1 to 128 visible ASCII characters"))
        }
    }
}

impl TryFrom<String> for ClientId {
    type Error = OAuthError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A redirect URI as registered: absolute, no fragment (RFC 6749 3.1.2), `https` or, for
/// development and native apps on the same machine, `http` on a loopback host. Requests are
/// matched against it by exact string comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RedirectUri {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let url = url::Url::parse(value)
            .map_err(|e| OAuthError::invalid_request(format!("redirect URI is not an absolute URL: {e}")))?;
        if url.fragment().is_some() {
            return Err(OAuthError::invalid_request("redirect URI must not contain a fragment"));
        }
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(OAuthError::invalid_request(
                    "redirect URI must use https (http is allowed only on a loopback host)",
                ))
            }
            // Private-use schemes of native apps (RFC 8252 7.1) contain a dot.
            scheme if scheme.contains('.') => {}
            _ => return Err(OAuthError::invalid_request("redirect URI scheme is not allowed")),
        }
        if url.username() != "" || url.password().is_some() {
            return Err(OAuthError::invalid_request("redirect URI must not contain credentials"));
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = OAuthError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<RedirectUri> for String {
    fn from(value: RedirectUri) -> Self {
        value.0
    }
}

/// The scopes Yagona knows. Unknown scopes in a request are ignored (OIDC Core 3.1.2.1 lets the
/// provider ignore scope values it does not understand).
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "pinfl", "legal", "offline_access"];

/// A set of scope values (RFC 6749 3.3), kept sorted so its string form is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated scope string, keeping only scopes Yagona supports.
    pub fn parse_supported(value: &str) -> Result<Self, OAuthError> {
        let all = Self::try_from(value)?;
        Ok(Self(all.0.into_iter().filter(|s| SUPPORTED_SCOPES.contains(&s.as_str())).collect()))
    }
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
    pub fn without(&self, scope: &str) -> Scopes {
        Scopes(self.0.iter().filter(|s| *s != scope).cloned().collect())
    }
}

impl TryFrom<&str> for Scopes {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = |s: &str| s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|s| !s.is_empty()) {
            if !valid(token) {
                return Err(OAuthError::new(crate::ErrorCode::InvalidScope, "scope contains an invalid character"));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }
}

impl TryFrom<String> for Scopes {
    type Error = OAuthError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<Scopes> for String {
    fn from(value: Scopes) -> Self {
        value.to_string()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// A PKCE code challenge (RFC 7636). Only `S256` is accepted: `plain` gives no protection when
/// the authorization request leaks, so it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` as they arrive.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, OAuthError> {
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request("code_challenge_method must be S256 (plain is not allowed)"))
            }
            Some(_) => return Err(OAuthError::invalid_request("unsupported code_challenge_method")),
        }
        Self::try_from(challenge)
    }

    /// Checks that a `code_verifier` is well formed (RFC 7636 4.1: 43 to 128 unreserved
    /// characters), so that a malformed one is told as such and not as a mismatch.
    pub fn check_verifier_form(verifier: &str) -> Result<(), OAuthError> {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if well_formed {
            Ok(())
        } else {
            Err(OAuthError::invalid_request(format!(
                "code_verifier must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (RFC 7636 4.1); this one has {} \
                 characters{}",
                verifier.chars().count(),
                if verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
                    ""
                } else {
                    " and others outside that set"
                }
            )))
        }
    }

    /// Checks a `code_verifier` (43-128 unreserved characters) against the challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        Self::check_verifier_form(verifier).is_ok() && constant_time_eq(s256(verifier).as_bytes(), self.0.as_bytes())
    }
}

impl TryFrom<&str> for CodeChallenge {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        // An S256 challenge is base64url of 32 bytes: exactly 43 characters.
        if value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            Ok(Self(value.to_owned()))
        } else {
            Err(OAuthError::invalid_request("code_challenge must be 43 base64url characters (S256)"))
        }
    }
}

impl TryFrom<String> for CodeChallenge {
    type Error = OAuthError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<CodeChallenge> for String {
    fn from(value: CodeChallenge) -> Self {
        value.0
    }
}

/// How the authorization response travels (OAuth 2.0 Multiple Response Types, Form Post).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl TryFrom<&str> for ResponseMode {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        match value {
            "query" => Ok(Self::Query),
            "form_post" => Ok(Self::FormPost),
            _ => Err(OAuthError::invalid_request("response_mode must be query or form_post")),
        }
    }
}

/// The `prompt` parameter (OIDC Core 3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl TryFrom<&str> for Prompt {
    type Error = OAuthError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let mut prompt = Prompt::default();
        for p in value.split(' ').filter(|s| !s.is_empty()) {
            match p {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(OAuthError::invalid_request(format!("unsupported prompt value {p:?}"))),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
        }
        Ok(prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        assert!(RedirectUri::try_from("https://rp.example/cb").is_ok());
        assert!(RedirectUri::try_from("http://127.0.0.1:9000/cb").is_ok());
        assert!(RedirectUri::try_from("http://localhost/cb").is_ok());
        assert!(RedirectUri::try_from("uz.gov.app:/cb").is_ok());
        assert!(RedirectUri::try_from("http://rp.example/cb").is_err());
        assert!(RedirectUri::try_from("https://rp.example/cb#x").is_err());
        assert!(RedirectUri::try_from("/relative").is_err());
        assert!(RedirectUri::try_from("javascript:alert(1)").is_err());
        assert!(RedirectUri::try_from("https://u:p@rp.example/cb").is_err());
    }

    #[test]
    fn scopes_are_canonical_and_filtered() {
        let s = Scopes::parse_supported("profile openid  unknown openid").unwrap();
        assert_eq!(s.to_string(), "openid profile");
        assert!(Scopes::try_from("a\"b").is_err());
        assert!(Scopes::try_from("openid").unwrap().is_subset(&s));
    }

    #[test]
    fn pkce_only_s256() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::parse(challenge, Some("plain")).is_err());
        assert!(CodeChallenge::parse(challenge, None).is_err());
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
        let c = CodeChallenge::parse(challenge, Some("S256")).unwrap();
        assert!(c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert!(!c.verify("short"));
    }

    #[test]
    fn prompt_values() {
        assert!(Prompt::try_from("none login").is_err());
        assert!(Prompt::try_from("bogus").is_err());
        let p = Prompt::try_from("login consent").unwrap();
        assert!(p.login && p.consent && !p.none);
    }
}
