//! The UserInfo endpoint (OIDC Core 5.3), protected by bearer access tokens (RFC 6750).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use yagona_account::AccountStatus;
use yagona_oidc::authorize::Params;
use yagona_oidc::claims::user_claims;
use yagona_oidc::{ErrorCode, OAuthError, OidcRepository as _, Scopes};

use super::error::BearerError;
use super::{blocking, dpop, parse_pairs, State};
use crate::discovery::USERINFO_PATH;

/// How the access token came: `Authorization: Bearer` (or the form body, RFC 6750 2.2), or
/// `Authorization: DPoP` with a proof (RFC 9449 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

fn authorization_header(req: &HttpRequest) -> Result<Option<(Scheme, String)>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuthError::invalid_request("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if !token.trim().is_empty() => {
            if scheme.eq_ignore_ascii_case("bearer") {
                Ok(Some((Scheme::Bearer, token.trim().to_owned())))
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Ok(Some((Scheme::Dpop, token.trim().to_owned())))
            } else {
                Err(OAuthError::invalid_request("the Authorization header must be `Bearer <token>` or `DPoP <token>`"))
            }
        }
        _ => Err(OAuthError::invalid_request("the Authorization header must be `Bearer <token>` or `DPoP <token>`")),
    }
}

pub async fn userinfo_get(req: HttpRequest, state: State) -> HttpResponse {
    let request = authorization_header(&req)
        .and_then(|token| token.ok_or_else(|| OAuthError::invalid_token("an access token is required")));
    respond(req, state, "GET", request).await
}

pub async fn userinfo_post(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let request = (|| {
        let header_token = authorization_header(&req)?;
        // RFC 6750 2.2: a bearer token may come in a form body instead.
        let params = parse_pairs(&body)?;
        let body_token = Params(&params).get("access_token")?.map(str::to_owned);
        match (header_token, body_token) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the access token once")),
            (Some(t), None) => Ok(t),
            (None, Some(t)) => Ok((Scheme::Bearer, t)),
            (None, None) => Err(OAuthError::invalid_token("an access token is required")),
        }
    })();
    respond(req, state, "POST", request).await
}

async fn respond(
    req: HttpRequest,
    state: State,
    method: &'static str,
    request: Result<(Scheme, String), OAuthError>,
) -> HttpResponse {
    let proof = dpop::proof_header(&req);
    let dpop_request = !matches!(proof, Ok(None)) || matches!(request, Ok((Scheme::Dpop, _)));
    let result = match (request, proof) {
        (Ok((scheme, token)), Ok(proof)) => userinfo(&state, scheme, token, proof, method).await,
        (Err(e), _) | (_, Err(e)) => Err(e.into()),
    };
    dpop::respond(&state, dpop_request, true, result)
}

async fn userinfo(
    state: &State,
    scheme: Scheme,
    token: String,
    proof: Option<String>,
    method: &'static str,
) -> Result<HttpResponse, BearerError> {
    let body = blocking(state, move |s| {
        let claims = super::token::access_token_claims(s, &token)?;
        // RFC 9449 7: a bound token only with a proof of its key; a proof only with a bound token.
        match (scheme, claims.dpop_jkt()) {
            (Scheme::Bearer, None) => {}
            (Scheme::Bearer, Some(_)) => {
                return Err(OAuthError::invalid_token(
                    "the access token is bound to a DPoP key: send it as `Authorization: DPoP` with a proof",
                ))
            }
            (Scheme::Dpop, None) => {
                return Err(OAuthError::invalid_token("the access token is not DPoP-bound: send it as a Bearer token"))
            }
            (Scheme::Dpop, Some(bound)) => {
                let proof = proof.ok_or_else(|| {
                    OAuthError::new(ErrorCode::InvalidDpopProof, "a DPoP-bound access token needs a DPoP proof")
                })?;
                let proof = dpop::check_proof(s, &proof, method, USERINFO_PATH, Some(&token))?;
                if proof.jkt != bound {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "the DPoP proof is not made with the key the access token is bound to",
                    ));
                }
            }
        }
        let revoked = || OAuthError::invalid_token("the access token has been revoked");
        let Some(gid) = &claims.gid else {
            return Err(OAuthError::invalid_token("the access token does not belong to a person"));
        };
        let scopes = Scopes::try_from(claims.scope.as_str())?;
        if !scopes.contains("openid") {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "the access token lacks the openid scope"));
        }
        let (grant, account) = s.store.find_live_access(&claims.jti, gid, crate::state::now())?.ok_or_else(revoked)?;
        if account.status == AccountStatus::Disabled {
            return Err(OAuthError::invalid_token("the account is no longer active"));
        }
        // The subject as the token's client knows it (public or pairwise).
        let client = yagona_oidc::ClientId::try_from(claims.client_id.as_str())
            .ok()
            .map(|id| s.clients.find(&s.store, &id))
            .transpose()?
            .flatten()
            .ok_or_else(|| OAuthError::invalid_token("the access token's client is no longer registered"))?;
        let mut body = serde_json::Map::new();
        body.insert("sub".into(), Value::String(s.subjects.subject(&client, account.id.as_str())));
        body.extend(user_claims(&account, &scopes));
        body.extend(yagona_oidc::claims::acting_claims(grant.acting_as.as_ref(), &scopes));
        match client.token_metadata.userinfo_signed_response_alg {
            Some(alg) => s.with_issuer(|i| i.signed_userinfo(&client, body, alg)).map(Err),
            None => Ok(Ok(Value::Object(body))),
        }
    })
    .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(match body {
        Ok(json) => response.json(json),
        Err(jwt) => response.content_type("application/jwt").body(jwt),
    })
}
