//! Token introspection (RFC 7662), answered as JSON or, when the caller asks with `Accept:
//! application/token-introspection+jwt` or its client is registered with
//! `introspection_signed_response_alg`, as a signed JWT (RFC 9701).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use yagona_oidc::authorize::Params;
use yagona_oidc::keys::SigningAlg;
use yagona_oidc::tokens::INTROSPECTION_MEDIA_TYPE;
use yagona_oidc::{Client, OAuthError};

use super::client_auth::{authenticate, client_address, credentials};
use super::error::ProtocolError;
use super::token::{find_live_token, KnownToken};
use super::{blocking, parse_pairs, State};
use crate::discovery::INTROSPECT_PATH;
use crate::state::{now, AppState};

pub async fn introspect(req: HttpRequest, state: State, body: Bytes) -> Result<HttpResponse, ProtocolError> {
    let params = parse_pairs(&body)?;
    let p = Params(&params);
    let credentials = credentials(&req, &p)?;
    let address = client_address(&req, &state);
    let token = p.require("token")?.to_owned();
    let accepts_jwt = accepts_jwt(&req);
    let answer = blocking(&state, move |s| {
        let client = authenticate(s, credentials, INTROSPECT_PATH, &address)?;
        if client.is_public() {
            return Err(OAuthError::invalid_client("public clients cannot introspect tokens"));
        }
        let body = introspection(s, &client, &token)?;
        // RFC 9701 6: the registered algorithm, else RS256, the specification's default.
        let alg = client.token_metadata.introspection_signed_response_alg.or(accepts_jwt.then_some(SigningAlg::Rs256));
        match alg {
            Some(alg) => s.with_issuer(|i| i.signed_introspection(&client, body, alg, now())).map(Err),
            None => Ok(Ok(body)),
        }
    })
    .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    Ok(match answer {
        Ok(json) => response.json(json),
        Err(jwt) => response.content_type(INTROSPECTION_MEDIA_TYPE).body(jwt),
    })
}

/// Whether the `Accept` header names the JWT response's media type (parameters, such as `q`,
/// aside).
fn accepts_jwt(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        range.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case(INTROSPECTION_MEDIA_TYPE))
    })
}

/// The RFC 7662 response about `token` for `client`. A client learns only about its own
/// tokens; anything else is simply inactive.
fn introspection(s: &AppState, client: &Client, token: &str) -> Result<Value, OAuthError> {
    Ok(match find_live_token(s, token)? {
        Some(KnownToken::Access(c)) if c.client_id == client.id.as_str() => {
            let mut body = json!({
                "active": true, "token_type": c.token_type(), "scope": c.scope, "client_id": c.client_id,
                "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
            });
            if let Some(v) = c.auth_time {
                body["auth_time"] = v.into();
            }
            if let Some(v) = c.acr {
                body["acr"] = v.into();
            }
            if let Some(cnf) = c.cnf {
                body["cnf"] = json!({ "jkt": cnf.jkt });
            }
            for (k, v) in c.acting {
                body[k] = v;
            }
            body
        }
        Some(KnownToken::Refresh(t, g)) if t.client_id == client.id => json!({
            "active": true, "token_type": "refresh_token", "scope": g.scopes.to_string(),
            "client_id": t.client_id.as_str(), "sub": s.subjects.subject(client, g.account_id.as_str()),
            "iss": s.settings.issuer,
            "exp": t.expires_at, "iat": t.created_at, "auth_time": g.auth.auth_time, "acr": g.auth.acr,
        }),
        _ => json!({ "active": false }),
    })
}
