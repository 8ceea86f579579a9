//! The pushed authorization request endpoint (RFC 9126): an authenticated client posts its
//! authorization request (plain or as a signed request object); it is checked as `/authorize`
//! would check it and stored under a single-use, short-lived `request_uri`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use yagona_oidc::authorize::{self, Params, Rejection};
use yagona_oidc::request_object::REQUEST_URI_PREFIX;
use yagona_oidc::secrets::{hash_token, random_token};
use yagona_oidc::{ErrorCode, OAuthError, OidcRepository as _};

use super::authorize_request::unfold_request_object;
use super::client_auth::{authenticate, client_address, credentials};
use super::error::ProtocolError;
use super::{blocking, dpop, parse_pairs, State};
use crate::discovery::PAR_PATH;
use crate::state::now;

/// Parameters that authenticate the client, not part of the authorization request.
const CLIENT_AUTHENTICATION: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

pub async fn push(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    dpop::with_proof(&req, &state, |proof| push_request(&req, &state, body, proof)).await
}

async fn push_request(
    req: &HttpRequest,
    state: &State,
    body: Bytes,
    proof: Result<Option<String>, OAuthError>,
) -> Result<HttpResponse, ProtocolError> {
    let params = parse_pairs(&body)?;
    let credentials = credentials(req, &Params(&params))?;
    let address = client_address(req, state);
    let proof = proof?;
    let body = blocking(state, move |s| {
        let client = authenticate(s, credentials, PAR_PATH, &address)?;
        let mut request: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| !CLIENT_AUTHENTICATION.contains(&k.as_str())).collect();
        if Params(&request).get("request_uri")?.is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 2.1)"));
        }
        // The client is the authenticated one (a Basic-authenticated client may omit client_id).
        request.retain(|(k, _)| k != "client_id");
        request.insert(0, ("client_id".to_owned(), client.id.as_str().to_owned()));
        let mut request = unfold_request_object(s, &client, request)?;
        // RFC 9449 10.1: a proof at the PAR endpoint binds the code to its key, as `dpop_jkt`
        // would; with both, they must name the same key.
        if let Some(proof) = proof {
            let jkt = dpop::check_proof(s, &proof, "POST", PAR_PATH, None)?.jkt;
            match Params(&request).get("dpop_jkt")? {
                Some(named) if !yagona_oidc::dpop::code_binding_holds(Some(named), Some(&jkt)) => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "dpop_jkt differs from the thumbprint of the DPoP proof's key",
                    ))
                }
                Some(_) => {}
                None => request.push(("dpop_jkt".to_owned(), jkt)),
            }
        }
        // Checked now, as /authorize will check it, so the client hears of a bad request here.
        match authorize::parse(&Params(&request), &client) {
            Ok(_) => {}
            Err(Rejection::Page(e)) => return Err(e),
            Err(Rejection::Redirect(r)) => return Err(r.error),
        }
        let id = random_token();
        let ttl = s.settings.clients.pushed_request_ttl;
        let stored = serde_json::to_string(&request).map_err(|e| OAuthError::server_error(e.to_string()))?;
        s.store.insert_pushed_request(&hash_token(&id), &client.id, &stored, now() + ttl)?;
        tracing::info!(client_id = %client.id, "authorization request pushed");
        Ok(json!({ "request_uri": format!("{REQUEST_URI_PREFIX}{id}"), "expires_in": ttl }))
    })
    .await?;
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}
