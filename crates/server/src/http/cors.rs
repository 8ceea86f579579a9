//! CORS for relying parties that run in the browser (single-page applications): the public
//! documents (discovery, JWKS) are readable from any origin; the token, userinfo and revocation
//! endpoints answer an origin only when it is a web origin of the client the request names (the
//! origin of one of its registered redirect URIs). No cookies are involved (no
//! `Access-Control-Allow-Credentials`): these endpoints authenticate with client credentials,
//! tokens and DPoP proofs. `DPoP-Nonce` and `WWW-Authenticate` are exposed, so a browser client
//! can answer `use_dpop_nonce` and read a userinfo error.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use yagona_oidc::ClientId;

use super::{blocking, State};
use crate::discovery::{JWKS_PATH, REVOKE_PATH, TOKEN_PATH, USERINFO_PATH};

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
const EXPOSED: &str = "DPoP-Nonce, WWW-Authenticate";

/// The client a request to a per-client endpoint names, noted by its handler.
#[derive(Clone)]
struct NamedClient(String);

/// Notes the client the request names (its claimed `client_id`, or the access token's client):
/// the response is readable from that client's web origins.
pub(super) fn note_client(req: &HttpRequest, client_id: &str) {
    req.extensions_mut().insert(NamedClient(client_id.to_owned()));
}

enum Policy {
    Public,
    PerClient,
}

fn policy(path: &str) -> Option<Policy> {
    match path {
        DISCOVERY_PATH | JWKS_PATH => Some(Policy::Public),
        TOKEN_PATH | USERINFO_PATH | REVOKE_PATH => Some(Policy::PerClient),
        _ => None,
    }
}

pub async fn cors(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(policy) = policy(req.path()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == Method::OPTIONS {
        // A preflight: the methods and headers these endpoints take. Which origin may read the
        // answer is decided on the actual response.
        let mut answer = HttpResponse::NoContent();
        answer
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type, DPoP"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"));
        match (&policy, &origin) {
            (Policy::Public, _) => answer.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")),
            (Policy::PerClient, Some(origin)) => {
                answer.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
            }
            (Policy::PerClient, None) => &mut answer,
        };
        return Ok(req.into_response(answer.finish()));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    let allowed = match (policy, origin) {
        (Policy::Public, _) => Some(HeaderValue::from_static("*")),
        (Policy::PerClient, Some(origin)) => {
            let named = response.request().extensions().get::<NamedClient>().cloned();
            let state = response.request().app_data::<State>().cloned();
            match (named, state, origin.to_str().map(str::to_owned)) {
                (Some(NamedClient(id)), Some(state), Ok(text)) => {
                    web_origin_of(&state, id, text).await.then_some(origin)
                }
                _ => None,
            }
        }
        (Policy::PerClient, None) => None,
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(allowed) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    }
    Ok(response)
}

/// Whether `origin` is the origin of a registered redirect URI (http or https) of client `id`.
async fn web_origin_of(state: &State, id: String, origin: String) -> bool {
    blocking(state, move |s| {
        let Ok(id) = ClientId::try_from(id.as_str()) else { return Ok(false) };
        let client = s.clients.find(&s.store, &id)?;
        Ok(client.is_some_and(|client| {
            client
                .redirect_uris
                .iter()
                .filter_map(|uri| url::Url::parse(uri.as_str()).ok())
                .any(|uri| matches!(uri.scheme(), "http" | "https") && uri.origin().ascii_serialization() == origin)
        }))
    })
    .await
    .unwrap_or(false)
}
