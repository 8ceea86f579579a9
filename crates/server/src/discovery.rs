//! The OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414).

use serde_json::{json, Value};
use yagona_oidc::assurance::{ACR_HIGH, ACR_LOW, ACR_SUBSTANTIAL};
use yagona_oidc::claims::SUPPORTED_CLAIMS;
use yagona_oidc::types_export::SUPPORTED_SCOPES;

pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const JWKS_PATH: &str = "/jwks";
pub const INTROSPECT_PATH: &str = "/introspect";
pub const REVOKE_PATH: &str = "/revoke";
pub const END_SESSION_PATH: &str = "/end_session";

pub fn document(issuer: &str) -> Value {
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "userinfo_endpoint": format!("{issuer}{USERINFO_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "end_session_endpoint": format!("{issuer}{END_SESSION_PATH}"),
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": &auth_methods[..2],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": SUPPORTED_CLAIMS,
        "acr_values_supported": [ACR_LOW, ACR_SUBSTANTIAL, ACR_HIGH],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["uz-Latn", "ru", "en"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": ["RS256"],
        "dpop_signing_alg_values_supported": yagona_oidc::dpop::SUPPORTED_ALGS,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
