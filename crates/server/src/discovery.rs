//! The OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414).

use serde_json::{json, Value};
use yagona_oidc::assertion::{ASYMMETRIC_ALGS, HMAC_ALGS};
use yagona_oidc::assurance::{ACR_HIGH, ACR_LOW, ACR_SUBSTANTIAL};
use yagona_oidc::claims::SUPPORTED_CLAIMS;
use yagona_oidc::keys::SigningAlg;
use yagona_oidc::types_export::SUPPORTED_SCOPES;
use yagona_oidc::AuthMethod;

use crate::config::ClientsConfig;

pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const JWKS_PATH: &str = "/jwks";
pub const INTROSPECT_PATH: &str = "/introspect";
pub const REVOKE_PATH: &str = "/revoke";
pub const END_SESSION_PATH: &str = "/end_session";
pub const PAR_PATH: &str = "/par";
/// Dynamic client registration (RFC 7591); `/register` is the people's registration.
pub const REGISTRATION_PATH: &str = "/connect/register";

pub fn document(issuer: &str, clients: &ClientsConfig) -> Value {
    let auth_methods = AuthMethod::ALL.map(AuthMethod::as_str);
    // Introspection is for confidential clients only.
    let confidential_methods: Vec<&str> = auth_methods.iter().copied().filter(|m| *m != "none").collect();
    let assertion_algs: Vec<&str> = ASYMMETRIC_ALGS.iter().chain(HMAC_ALGS.iter()).copied().collect();
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
        "id_token_signing_alg_values_supported": SigningAlg::names(),
        "userinfo_signing_alg_values_supported": SigningAlg::names(),
        "introspection_signing_alg_values_supported": SigningAlg::names(),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": confidential_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": SUPPORTED_CLAIMS,
        "acr_values_supported": [ACR_LOW, ACR_SUBSTANTIAL, ACR_HIGH],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["uz-Latn", "ru", "en"],
        "claims_parameter_supported": true,
        // Request objects by value (RFC 9101) and pushed requests (RFC 9126); request_uri only
        // as PAR gives it (Yagona fetches no request object from a client's URL).
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "request_object_signing_alg_values_supported": ASYMMETRIC_ALGS,
        "registration_endpoint": format!("{issuer}{REGISTRATION_PATH}"),
        "pushed_authorization_request_endpoint": format!("{issuer}{PAR_PATH}"),
        "require_pushed_authorization_requests": clients.require_pushed_authorization_requests,
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": ["RS256"],
        "dpop_signing_alg_values_supported": yagona_oidc::dpop::SUPPORTED_ALGS,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    })
}
