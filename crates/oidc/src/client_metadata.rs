//! Client metadata (RFC 7591 2, OpenID Connect Dynamic Client Registration 1.0 2): the one
//! form in which a client is registered, by `yagona client add` and by dynamic registration
//! alike, and the one function that validates it into a [`Client`].
//!
//! A field added later goes into [`ClientMetadata`] (how it is registered and echoed),
//! [`Client`] (what the server uses) and [`register`] / [`Client::metadata`] (the mapping).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assertion::parse_jwks;
use crate::client::{registered_scopes, AuthMethod, ClientKeys, DescriptiveMetadata, TokenMetadata};
use crate::keys::SigningAlg;
use crate::types_export::SUPPORTED_SCOPES;
use crate::{AccessTokenFormat, Client, ClientId, ErrorCode, GrantType, OAuthError, RedirectUri};

/// A client's metadata as registered and echoed. Unknown members are ignored (RFC 7591 2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The scopes the client may be granted on its own behalf (`client_credentials`). Yagona's
    /// scopes about a person are open to every client and are dropped from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_signed_request_object: Option<bool>,
    /// Yagona's own: `jwt` (default) or `opaque` access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<String>,
    #[serde(flatten)]
    pub descriptive: DescriptiveMetadata,
    /// DPoP, back-channel logout, pairwise subjects, signed userinfo, resources (issue 15).
    #[serde(flatten)]
    pub token: TokenMetadata,
}

fn bad_metadata(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description.into())
}

fn bad_redirect(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, description.into())
}

/// An absolute http(s) URL (https, or http on a loopback host), for `jwks_uri` and the
/// descriptive URIs.
fn web_url(field: &str, value: &str) -> Result<(), OAuthError> {
    let url = url::Url::parse(value).map_err(|e| bad_metadata(format!("{field} is not an absolute URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad_metadata(format!("{field} must use https (http only on a loopback host)"))),
    }
}

fn redirect_uris(field: &str, values: &[String], native: bool) -> Result<Vec<RedirectUri>, OAuthError> {
    values
        .iter()
        .map(|value| {
            let uri = RedirectUri::try_from(value.as_str())
                .map_err(|e| bad_redirect(format!("{field} {value}: {}", e.description)))?;
            let scheme = value.split(':').next().unwrap_or_default();
            // Private-use schemes are for native apps (RFC 8252 7.1); web clients use https, or
            // http on a loopback host while developing (RedirectUri refuses other http).
            if !native && scheme != "https" && scheme != "http" {
                return Err(bad_redirect(format!(
                    "{field} {value}: a web client's redirect URI must use https (private-use schemes need application_type native)"
                )));
            }
            Ok(uri)
        })
        .collect()
}

/// Validates `metadata` into the client `id` registered at `now`. The caller gives a client
/// whose method takes a secret its secret ([`AuthMethod::presents_secret`] or
/// `client_secret_jwt`). Errors are `invalid_redirect_uri` or `invalid_client_metadata`, each
/// naming the field.
pub fn register(metadata: &ClientMetadata, id: ClientId, now: i64) -> Result<Client, OAuthError> {
    let mut client = Client::new(id, now);
    let d = &metadata.descriptive;
    let native = match d.application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(other) => return Err(bad_metadata(format!("application_type {other:?}: expected web or native"))),
    };
    client.auth_method = match &metadata.token_endpoint_auth_method {
        Some(method) => AuthMethod::try_from(method.as_str())?,
        None => AuthMethod::ClientSecretBasic,
    };
    client.grant_types = match &metadata.grant_types {
        None => vec![GrantType::AuthorizationCode],
        Some(grants) => grants
            .iter()
            .map(|g| {
                GrantType::try_from(g.as_str())
                    .map_err(|_| bad_metadata(format!("grant_types: {g:?} is not supported (supported: authorization_code, refresh_token, client_credentials)")))
            })
            .collect::<Result<_, _>>()?,
    };
    if client.grant_types.is_empty() {
        return Err(bad_metadata("grant_types is empty"));
    }
    let code = client.allows(GrantType::AuthorizationCode);
    match &metadata.response_types {
        None => {}
        Some(types) if types.iter().all(|t| t == "code") && (types.is_empty() != code) => {}
        Some(types) => {
            return Err(bad_metadata(format!(
                "response_types {types:?}: only [\"code\"] is supported, with the authorization_code grant"
            )))
        }
    }
    if client.is_public() && client.allows(GrantType::ClientCredentials) {
        return Err(bad_metadata("a public client (token_endpoint_auth_method none) cannot use client_credentials"));
    }
    client.redirect_uris = redirect_uris("redirect_uris", &metadata.redirect_uris, native)?;
    if code && client.redirect_uris.is_empty() {
        return Err(bad_redirect("redirect_uris: at least one is required with the authorization_code grant"));
    }
    client.post_logout_redirect_uris =
        redirect_uris("post_logout_redirect_uris", &metadata.post_logout_redirect_uris, native)?;
    client.keys = match (&metadata.jwks, &metadata.jwks_uri) {
        (Some(_), Some(_)) => return Err(bad_metadata("jwks and jwks_uri are exclusive: register one")),
        (Some(jwks), None) => {
            let text = jwks.to_string();
            parse_jwks(&text, "jwks").map_err(bad_metadata)?;
            ClientKeys::Jwks(text)
        }
        (None, Some(uri)) => {
            web_url("jwks_uri", uri)?;
            ClientKeys::JwksUri(uri.clone())
        }
        (None, None) => ClientKeys::None,
    };
    let has_keys = client.keys != ClientKeys::None;
    if client.auth_method == AuthMethod::PrivateKeyJwt && !has_keys {
        return Err(bad_metadata("token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri"));
    }
    client.require_signed_request_object = metadata.require_signed_request_object.unwrap_or(false);
    if client.require_signed_request_object && !has_keys {
        return Err(bad_metadata("require_signed_request_object needs jwks or jwks_uri to verify request objects"));
    }
    client.require_pushed_authorization_requests = metadata.require_pushed_authorization_requests.unwrap_or(false);
    if let Some(name) = &metadata.client_name {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(bad_metadata("client_name must be 1 to 200 characters"));
        }
        client.name = name.clone();
    }
    if let Some(scope) = &metadata.scope {
        let own: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty() && !SUPPORTED_SCOPES.contains(s)).collect();
        client.scopes = registered_scopes(&own).map_err(|e| bad_metadata(format!("scope: {}", e.description)))?;
    }
    if let Some(alg) = &metadata.id_token_signed_response_alg {
        client.id_token_signing_alg = SigningAlg::try_from(alg.as_str())
            .map_err(|e| bad_metadata(format!("id_token_signed_response_alg: {}", e.description)))?;
    }
    if let Some(format) = &metadata.access_token_format {
        client.access_token_format = AccessTokenFormat::try_from(format.as_str())
            .map_err(|e| bad_metadata(format!("access_token_format: {}", e.description)))?;
    }
    for (field, value) in [
        ("client_uri", &d.client_uri),
        ("logo_uri", &d.logo_uri),
        ("policy_uri", &d.policy_uri),
        ("tos_uri", &d.tos_uri),
    ] {
        if let Some(value) = value {
            web_url(field, value)?;
        }
    }
    if d.contacts.iter().any(|c| c.trim().is_empty()) {
        return Err(bad_metadata("contacts must not hold empty values"));
    }
    client.descriptive = d.clone();
    let token = &metadata.token;
    for (field, uri, session_required) in [
        ("backchannel_logout_uri", &token.backchannel_logout_uri, token.backchannel_logout_session_required),
        ("frontchannel_logout_uri", &token.frontchannel_logout_uri, token.frontchannel_logout_session_required),
    ] {
        if let Some(uri) = uri {
            crate::logout::validate_logout_uri(field, uri)
                .map_err(|e| bad_metadata(format!("{field}: {}", e.description)))?;
        }
        if session_required && uri.is_none() {
            let flag = field.replace("_uri", "_session_required");
            return Err(bad_metadata(format!("{flag} needs {field}")));
        }
    }
    if let Some(uri) = &token.frontchannel_logout_uri {
        frontchannel_shares_a_redirect_origin(uri, &client.redirect_uris)?;
    }
    if let Some(uri) = &token.sector_identifier_uri {
        web_url("sector_identifier_uri", uri)?;
    }
    for resource in &token.allowed_resources {
        crate::resource::validate_resource(resource)
            .map_err(|e| bad_metadata(format!("allowed_resources: {}", e.description)))?;
    }
    client.token_metadata = token.clone();
    // A pairwise client needs a sector: one redirect host, or a sector_identifier_uri (whose
    // document the server fetches and checks before storing the client).
    if client.token_metadata.subject_type == Some(crate::subject::SubjectType::Pairwise)
        && client.token_metadata.sector_identifier_uri.is_none()
    {
        crate::subject::sector_of(&client).map_err(|e| bad_metadata(format!("subject_type: {}", e.description)))?;
    }
    Ok(client)
}

/// Front-Channel Logout 1.0, section 2: "the domain, port, and scheme of this URL MUST be the
/// same as that of a registered Redirection URI value" (the page frames it under a CSP that
/// names its origin, and it must be the relying party's own).
fn frontchannel_shares_a_redirect_origin(uri: &str, redirect_uris: &[RedirectUri]) -> Result<(), OAuthError> {
    let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
    let Some(wanted) = origin(uri) else { return Err(bad_metadata("frontchannel_logout_uri is not a URL")) };
    if redirect_uris.iter().any(|r| origin(r.as_str()).as_ref() == Some(&wanted)) {
        Ok(())
    } else {
        Err(bad_metadata("frontchannel_logout_uri must have the scheme, host and port of one of the redirect_uris"))
    }
}

impl Client {
    /// The client's metadata as registered: what dynamic registration echoes and reads back.
    pub fn metadata(&self) -> ClientMetadata {
        let strings = |uris: &[RedirectUri]| uris.iter().map(|u| u.as_str().to_owned()).collect();
        ClientMetadata {
            redirect_uris: strings(&self.redirect_uris),
            post_logout_redirect_uris: strings(&self.post_logout_redirect_uris),
            token_endpoint_auth_method: Some(self.auth_method.as_str().to_owned()),
            grant_types: Some(self.grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
            response_types: Some(if self.allows(GrantType::AuthorizationCode) { vec!["code".into()] } else { vec![] }),
            client_name: Some(self.name.clone()),
            scope: (!self.scopes.is_empty()).then(|| self.scopes.to_string()),
            jwks: match &self.keys {
                ClientKeys::Jwks(text) => serde_json::from_str(text).ok(),
                _ => None,
            },
            jwks_uri: match &self.keys {
                ClientKeys::JwksUri(uri) => Some(uri.clone()),
                _ => None,
            },
            id_token_signed_response_alg: Some(self.id_token_signing_alg.as_str().to_owned()),
            require_pushed_authorization_requests: Some(self.require_pushed_authorization_requests),
            require_signed_request_object: Some(self.require_signed_request_object),
            access_token_format: Some(self.access_token_format.as_str().to_owned()),
            descriptive: self.descriptive.clone(),
            token: self.token_metadata.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn meta(v: Value) -> ClientMetadata {
        serde_json::from_value(v).unwrap()
    }

    fn id() -> ClientId {
        ClientId::try_from("rp").unwrap()
    }

    #[test]
    fn registered_metadata_is_echoed() {
        let m = meta(json!({
            "redirect_uris": ["https://rp.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": serde_json::from_str::<Value>(JWKS).unwrap(),
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "RP", "contacts": ["ops@rp.example"], "logo_uri": "https://rp.example/logo.png",
            "require_pushed_authorization_requests": true, "unknown_member": 1,
        }));
        let client = register(&m, id(), 5).unwrap();
        assert_eq!(client.auth_method, AuthMethod::PrivateKeyJwt);
        assert!(client.require_pushed_authorization_requests);
        let echoed = client.metadata();
        assert_eq!(echoed.redirect_uris, m.redirect_uris);
        assert_eq!(echoed.jwks, m.jwks);
        assert_eq!(echoed.descriptive, m.descriptive);
        assert_eq!(echoed.grant_types, m.grant_types);
        // registering the echo gives the same client
        let again = register(&echoed, id(), 5).unwrap();
        assert_eq!(again.metadata(), echoed);
    }

    #[test]
    fn bad_metadata_is_refused_with_the_field_named() {
        let cases = [
            (json!({"redirect_uris": ["https://rp.example/cb#x"]}), "invalid_redirect_uri", "fragment"),
            (json!({"redirect_uris": ["http://rp.example/cb"]}), "invalid_redirect_uri", "https"),
            (json!({"redirect_uris": ["com.example.app:/cb"]}), "invalid_redirect_uri", "native"),
            (json!({"redirect_uris": []}), "invalid_redirect_uri", "at least one"),
            (
                json!({"redirect_uris": ["https://a/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
                "invalid_client_metadata",
                "tls_client_auth",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
                "needs jwks",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "jwks_uri": "http://keys.example/jwks"}),
                "invalid_client_metadata",
                "jwks_uri",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "grant_types": ["implicit"]}),
                "invalid_client_metadata",
                "implicit",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "response_types": ["token"]}),
                "invalid_client_metadata",
                "response_types",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
                "public",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "id_token_signed_response_alg": "none"}),
                "invalid_client_metadata",
                "id_token_signed_response_alg",
            ),
            (
                json!({"redirect_uris": ["https://a/cb"], "application_type": "desktop"}),
                "invalid_client_metadata",
                "application_type",
            ),
        ];
        for (m, code, needle) in cases {
            let e = register(&meta(m.clone()), id(), 0).unwrap_err();
            assert_eq!(e.code.as_str(), code, "{m}");
            assert!(e.description.contains(needle), "{m}: {}", e.description);
        }
        let native = json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native", "token_endpoint_auth_method": "none"});
        assert!(register(&meta(native), id(), 0).is_ok());
    }

    #[test]
    fn person_scopes_are_not_a_clients_own() {
        let m = meta(json!({"grant_types": ["client_credentials"], "scope": "openid reports.read"}));
        let c = register(&m, id(), 0).unwrap();
        assert_eq!(c.scopes.to_string(), "reports.read");
        assert!(c.redirect_uris.is_empty());
    }
}
