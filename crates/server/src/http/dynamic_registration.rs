//! Dynamic client registration (RFC 7591) and client configuration management (RFC 7592).
//!
//! Registration needs an initial access token (`yagona client registration-token`) as a Bearer
//! token; management of a registered client needs the `registration_access_token` it was given.
//! The metadata goes through the same validation as `yagona client add`
//! (`yagona_oidc::client_metadata::register`), so both make the same clients.

use actix_web::http::header;
use actix_web::web::{Bytes, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_oidc::client_metadata::{register, ClientMetadata};
use yagona_oidc::secrets::{constant_time_eq, hash_token, random_id, random_secret, random_token};
use yagona_oidc::{Client, ClientId, ErrorCode, OAuthError, OidcRepository as _};

use super::error::{BearerError, ProtocolError};
use super::{blocking, State};
use crate::discovery::REGISTRATION_PATH;
use crate::state::{now, AppState};

/// A refused request: a missing or bad token is 401 (RFC 6750), bad metadata 400 (RFC 7591 3.2.2).
fn refused(e: OAuthError) -> HttpResponse {
    use actix_web::ResponseError as _;
    match e.code {
        ErrorCode::InvalidToken => BearerError(e).error_response(),
        _ => ProtocolError(e).error_response(),
    }
}

fn bearer(req: &HttpRequest) -> Result<String, OAuthError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_token("a Bearer token is required"))
}

fn metadata_of(body: &[u8]) -> Result<ClientMetadata, OAuthError> {
    serde_json::from_slice(body).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidClientMetadata, format!("the body is not client metadata JSON: {e}"))
    })
}

/// The response describing `client`: its metadata, id, and what was just made (secret, token).
fn described(s: &AppState, client: &Client, secret: Option<&str>, access_token: Option<&str>) -> Value {
    let mut body = serde_json::to_value(client.metadata()).unwrap_or_else(|_| json!({}));
    body["client_id"] = client.id.as_str().into();
    body["client_id_issued_at"] = client.created_at.into();
    body["registration_client_uri"] = format!("{}{REGISTRATION_PATH}/{}", s.settings.issuer, client.id).into();
    if let Some(secret) = secret {
        body["client_secret"] = secret.into();
        body["client_secret_expires_at"] = 0.into();
    }
    if let Some(token) = access_token {
        body["registration_access_token"] = token.into();
    }
    body
}

fn json_response(status: actix_web::http::StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

/// Gives a client registered with a secret method its secret (new or `keep`).
fn provision(s: &AppState, client: &mut Client, keep: Option<&Client>) -> Result<Option<String>, OAuthError> {
    if let Some(old) = keep.filter(|old| old.auth_method == client.auth_method && client.needs_secret()) {
        client.secret_hash = old.secret_hash.clone();
        client.sealed_secret = old.sealed_secret.clone();
        return Ok(None);
    }
    if !client.needs_secret() {
        return Ok(None);
    }
    let secret = random_secret();
    client.provision_secret(&secret, &s.client_secrets, Some(&s.kek))?;
    Ok(Some(secret))
}

pub async fn register_client(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let result = blocking(&state, move |s| {
        let metadata = metadata_of(&body)?;
        let now = now();
        let mut client = register(&metadata, ClientId::try_from(random_id().as_str())?, now)?;
        crate::sector::check_sector_identifier(&s.settings.outbound, &client)?;
        // The token is spent only by a registration that is otherwise good.
        if !s.store.use_registration_token(&hash_token(&token), now)? {
            return Err(OAuthError::invalid_token("the initial access token is unknown, expired or used up"));
        }
        let secret = provision(s, &mut client, None)?;
        let access_token = random_token();
        client.registration_access_token_hash = Some(hash_token(&access_token));
        s.store.insert_client(&client)?;
        let detail = json!({ "client": client.id.as_str(), "name": client.name, "via": "dynamic registration" });
        crate::audit_log::record(&s.store, AuditEvent::new(AuditKind::ClientAdded, now, detail));
        tracing::info!(client_id = %client.id, "client registered dynamically");
        Ok(described(s, &client, secret.as_deref(), Some(&access_token)))
    })
    .await;
    match result {
        Ok(body) => json_response(actix_web::http::StatusCode::CREATED, body),
        Err(e) => refused(e),
    }
}

/// The client `id` if `token` is its registration access token. Unknown clients and wrong
/// tokens look the same (RFC 7592 2: 401).
fn managed_client(s: &AppState, id: &str, token: &str) -> Result<Client, OAuthError> {
    let invalid = || OAuthError::invalid_token("the registration access token is not valid for this client");
    let id = ClientId::try_from(id).map_err(|_| invalid())?;
    let client = s.store.find_client(&id)?.ok_or_else(invalid)?;
    let presented = hash_token(token);
    match &client.registration_access_token_hash {
        Some(stored) if constant_time_eq(stored.as_bytes(), presented.as_bytes()) => Ok(client),
        _ => Err(invalid()),
    }
}

pub async fn read_client(req: HttpRequest, state: State, id: Path<String>) -> HttpResponse {
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let result = blocking(&state, move |s| managed_client(s, &id, &token).map(|c| described(s, &c, None, None))).await;
    match result {
        Ok(body) => json_response(actix_web::http::StatusCode::OK, body),
        Err(e) => refused(e),
    }
}

pub async fn update_client(req: HttpRequest, state: State, id: Path<String>, body: Bytes) -> HttpResponse {
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let result = blocking(&state, move |s| {
        let old = managed_client(s, &id, &token)?;
        let metadata = metadata_of(&body)?;
        // RFC 7592 2.2: the body names the client; it replaces every other field.
        let named: Value = serde_json::from_slice(&body).unwrap_or_default();
        if named.get("client_id").is_some_and(|c| c.as_str() != Some(old.id.as_str())) {
            return Err(OAuthError::invalid_request("client_id in the body is not this client's"));
        }
        let mut client = register(&metadata, old.id.clone(), old.created_at)?;
        crate::sector::check_sector_identifier(&s.settings.outbound, &client)?;
        let secret = provision(s, &mut client, Some(&old))?;
        client.registration_access_token_hash = old.registration_access_token_hash.clone();
        client.first_party = old.first_party;
        if !s.store.update_client(&client)? {
            return Err(OAuthError::invalid_token("the client no longer exists"));
        }
        s.clients.forget(&client.id);
        tracing::info!(client_id = %client.id, "client registration updated");
        Ok(described(s, &client, secret.as_deref(), None))
    })
    .await;
    match result {
        Ok(body) => json_response(actix_web::http::StatusCode::OK, body),
        Err(e) => refused(e),
    }
}

pub async fn delete_client(req: HttpRequest, state: State, id: Path<String>) -> HttpResponse {
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let result = blocking(&state, move |s| {
        let client = managed_client(s, &id, &token)?;
        s.store.delete_client(&client.id)?;
        s.clients.forget(&client.id);
        let detail = json!({ "client": client.id.as_str(), "via": "dynamic registration" });
        crate::audit_log::record(&s.store, AuditEvent::new(AuditKind::ClientRemoved, now(), detail));
        Ok(())
    })
    .await;
    match result {
        Ok(()) => HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish(),
        Err(e) => refused(e),
    }
}
