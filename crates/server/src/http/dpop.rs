//! DPoP (RFC 9449) at the HTTP edge: the `DPoP` request header, replay detection and the
//! `DPoP-Nonce` response header. The proof's rules are `yagona_oidc::dpop`'s.

use actix_web::http::header::{HeaderName, HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use yagona_oidc::dpop::{verify_proof, DpopProof, ProofExpectation, SUPPORTED_ALGS};
use yagona_oidc::{ErrorCode, OAuthError, OidcRepository as _};

use crate::state::{now, AppState};

pub const DPOP_HEADER: &str = "dpop";
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// The request's DPoP proof: `None` without one; more than one `DPoP` header is
/// `invalid_dpop_proof` (RFC 9449 4.3 step 1).
pub(super) fn proof_header(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let mut values = req.headers().get_all(DPOP_HEADER);
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "send one DPoP header, not several"));
    }
    let proof =
        first.to_str().map_err(|_| OAuthError::new(ErrorCode::InvalidDpopProof, "the DPoP header is not text"))?;
    Ok(Some(proof.trim().to_owned()))
}

/// Checks a proof for this request (`method` at the endpoint `path`, with `access_token` at a
/// resource) and records it: a proof seen before is a replay and refused.
pub(super) fn check_proof(
    s: &AppState,
    proof: &str,
    method: &str,
    path: &str,
    access_token: Option<&str>,
) -> Result<DpopProof, OAuthError> {
    let url = format!("{}{path}", s.settings.issuer);
    let expected = ProofExpectation { method, url: &url, access_token, now: now() };
    let proof = verify_proof(proof, expected, &s.dpop_nonces, s.settings.dpop.require_nonce)?;
    if !s.store.record_dpop_proof(&proof.replay_key(), proof.remember_until())? {
        tracing::warn!("a DPoP proof was replayed");
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "the DPoP proof has been used before"));
    }
    Ok(proof)
}

/// Runs an endpoint that takes an optional DPoP proof (the token and PAR endpoints) with the
/// request's proof header, and adds the `DPoP-Nonce` when a proof came.
pub(super) async fn with_proof<F, Fut, E>(req: &HttpRequest, s: &AppState, endpoint: F) -> HttpResponse
where
    F: FnOnce(Result<Option<String>, OAuthError>) -> Fut,
    Fut: std::future::Future<Output = Result<HttpResponse, E>>,
    E: ResponseError,
{
    let proof = proof_header(req);
    let carried_proof = !matches!(proof, Ok(None));
    let result = endpoint(proof).await;
    respond(s, carried_proof, false, result)
}

/// The response to a request that came with a DPoP proof: a fresh `DPoP-Nonce` (RFC 9449 8),
/// which the client puts in its next proof (required with `dpop.require_nonce`). At a resource
/// (`resource`), an error's challenge names the DPoP scheme and its algorithms (RFC 9449 7.1).
pub(super) fn respond<E: ResponseError>(
    s: &AppState,
    carried_proof: bool,
    resource: bool,
    result: Result<HttpResponse, E>,
) -> HttpResponse {
    let mut response = match result {
        Ok(response) => response,
        Err(e) => e.error_response(),
    };
    if carried_proof {
        if let Ok(nonce) = HeaderValue::from_str(&s.dpop_nonces.current(now())) {
            response.headers_mut().insert(HeaderName::from_static(DPOP_NONCE_HEADER), nonce);
        }
        if resource {
            let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(|v| {
                let params = v.strip_prefix("Bearer ")?;
                HeaderValue::from_str(&format!("DPoP algs=\"{}\", {params}", SUPPORTED_ALGS.join(" "))).ok()
            });
            if let Some(challenge) = challenge {
                response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
            }
        }
    }
    response
}
