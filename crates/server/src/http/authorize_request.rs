//! The authorization request as it arrives (OIDC Core 3.1.2.1): parameters in the query or a
//! form, a pushed request named by its `request_uri` (RFC 9126), or a signed request object
//! (`request`, RFC 9101), each made into the plain parameters that `authorize::parse` checks.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use yagona_oidc::assertion::ASYMMETRIC_ALGS;
use yagona_oidc::authorize::{self, ErrorRedirect, Params, Rejection};
use yagona_oidc::request_object::{pushed_request_id, request_parameters};
use yagona_oidc::secrets::hash_token;
use yagona_oidc::{Client, ErrorCode, OAuthError, OidcRepository as _, ResponseMode};

use super::authorize::{error_redirect, proceed};
use super::client_auth::verify_with_client_keys;
use super::error::PageError;
use super::{blocking, parse_pairs, requesting_client, translator, Browser, State};
use crate::state::{now, AppState};

/// Parameters as pairs, the form every step takes.
pub type Pairs = Vec<(String, String)>;

pub async fn authorize_get(req: HttpRequest, state: State) -> HttpResponse {
    let params = parse_pairs(req.query_string().as_bytes());
    authorize(req, state, params).await
}

pub async fn authorize_post(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let params = parse_pairs(&body);
    authorize(req, state, params).await
}

async fn authorize(req: HttpRequest, state: State, params: Result<Vec<(String, String)>, OAuthError>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let ui_locales = params.as_ref().ok().and_then(|p| Params(p).get("ui_locales").ok().flatten().map(str::to_owned));
    let t = translator(&req, &state, ui_locales.as_deref());
    let params = match params {
        Ok(p) => p,
        Err(e) => return PageError::authorization(e).page(t),
    };
    let client = match requesting_client(&state, authorize::client_id_of(&Params(&params))).await {
        Ok(client) => client,
        Err(e) => return e.page(t),
    };
    // A pushed request or a request object becomes the plain parameters it stands for.
    let outer = params.clone();
    let params = match blocking(&state, {
        let client = client.clone();
        move |s| resolve(s, &client, params)
    })
    .await
    {
        Ok(params) => params,
        Err(e) => return refused_before_parsing(&state, t, &client, &outer, e),
    };
    let request = match authorize::parse(&Params(&params), &client) {
        Ok(request) => request,
        Err(Rejection::Page(e)) => return PageError::authorization(e).page(t),
        Err(Rejection::Redirect(r)) => return error_redirect(&state, t, r),
    };
    proceed(&state, t, browser, client, request, None).await
}

/// An error in a pushed request or a request object: back to the redirect URI when the request
/// names a registered one outside the object (with its `state`), else a page, since the object's
/// own redirect URI is not to be trusted.
fn refused_before_parsing(
    state: &State,
    t: crate::i18n::Tr<'static>,
    client: &Client,
    outer: &Pairs,
    error: OAuthError,
) -> HttpResponse {
    let p = Params(outer);
    let registered = p.get("redirect_uri").ok().flatten().and_then(|uri| client.registered_redirect_uri(uri));
    match registered {
        Some(redirect_uri) if error.code != ErrorCode::ServerError => error_redirect(
            state,
            t,
            ErrorRedirect {
                redirect_uri: redirect_uri.clone(),
                response_mode: ResponseMode::Query,
                state: p.get("state").ok().flatten().map(str::to_owned),
                error,
            },
        ),
        _ => PageError::authorization(error).page(t),
    }
}

/// The parameters a request stands for: those of the pushed request its `request_uri` names
/// (spent now: single use), else its own with a request object verified and unfolded. A client
/// (or a server) that requires pushed requests gets nothing else through.
pub(super) fn resolve(s: &AppState, client: &Client, params: Pairs) -> Result<Pairs, OAuthError> {
    let p = Params(&params);
    if let Some(request_uri) = p.get("request_uri")? {
        if p.get("request")?.is_some() {
            return Err(OAuthError::invalid_request("send request or request_uri, not both"));
        }
        let id = pushed_request_id(request_uri)?;
        let stored = s.store.take_pushed_request(&hash_token(id), &client.id, now())?.ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidRequestUri,
                "the request_uri is unknown, already used, expired, or was pushed by another client",
            )
        })?;
        return serde_json::from_str(&stored)
            .map_err(|e| OAuthError::server_error(format!("a stored pushed request does not parse: {e}")));
    }
    if client.require_pushed_authorization_requests || s.settings.clients.require_pushed_authorization_requests {
        return Err(OAuthError::invalid_request(
            "authorization requests of this client must be pushed to the pushed authorization request endpoint first",
        ));
    }
    unfold_request_object(s, client, params)
}

/// A request with a signed request object (`request`) becomes the object's parameters, once
/// its signature verifies with the client's keys; a client that must sign gets nothing else
/// through. Used at `/authorize` and at the PAR endpoint.
pub(super) fn unfold_request_object(s: &AppState, client: &Client, params: Pairs) -> Result<Pairs, OAuthError> {
    let Some(object) = Params(&params).get("request")? else {
        if client.require_signed_request_object {
            return Err(OAuthError::invalid_request("this client must send its requests as signed request objects"));
        }
        return Ok(params);
    };
    let claims = verify_with_client_keys(
        s,
        client,
        object,
        &ASYMMETRIC_ALGS,
        ErrorCode::InvalidRequestObject,
        "the request object",
    )?;
    request_parameters(&claims, client.id.as_str(), &s.settings.issuer, now())
}
