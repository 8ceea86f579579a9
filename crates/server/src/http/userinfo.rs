//! The UserInfo endpoint (OIDC Core 5.3), protected by bearer access tokens (RFC 6750).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use yagona_account::Account;
use yagona_oidc::authorize::Params;
use yagona_oidc::claims::user_claims;
use yagona_oidc::tokens::AccessTokenClaims;
use yagona_oidc::{ErrorCode, Grant, OAuthError, Scopes};

use super::error::BearerError;
use super::token::ReadAccessToken;
use super::{blocking, dpop, parse_pairs, State};
use crate::discovery::USERINFO_PATH;
use crate::state::AppState;

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

/// A bearer token from the Authorization header (the legacy API's identify call).
pub(super) fn bearer_header(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    match authorization_header(req)? {
        Some((Scheme::Bearer, token)) => Ok(Some(token)),
        Some((Scheme::Dpop, _)) => {
            Err(OAuthError::invalid_request("the Authorization header must be `Bearer <token>`"))
        }
        None => Ok(None),
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
    let token_client = std::sync::Arc::new(std::sync::Mutex::new(None));
    let result = match (request, proof) {
        (Ok((scheme, token)), Ok(proof)) => userinfo(&state, scheme, token, proof, method, token_client.clone()).await,
        (Err(e), _) | (_, Err(e)) => Err(e.into()),
    };
    if let Some(client_id) = token_client.lock().ok().and_then(|c| c.clone()) {
        super::cors::note_client(&req, &client_id);
    }
    dpop::respond(&state, dpop_request, true, result)
}

async fn userinfo(
    state: &State,
    scheme: Scheme,
    token: String,
    proof: Option<String>,
    method: &'static str,
    token_client: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) -> Result<HttpResponse, BearerError> {
    let body = blocking(state, move |s| {
        let read = super::token::access_token_claims(s, &token)?;
        let claims = &read.claims;
        // The token's client, whose web origins may read the answer (CORS), errors included.
        if let Ok(mut slot) = token_client.lock() {
            *slot = Some(claims.client_id.clone());
        }
        // RFC 9449 7: a bound token only with a proof of its key; a proof only with a bound token.
        match (scheme, claims.dpop_jkt()) {
            (Scheme::Bearer, None) => {}
            (Scheme::Bearer, Some(_)) => return Err(bound_to_dpop()),
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
        let access = person_access(s, read)?;
        // The subject as the token's client knows it (public or pairwise).
        let client = yagona_oidc::ClientId::try_from(access.token.client_id.as_str())
            .ok()
            .map(|id| s.clients.find(&s.store, &id))
            .transpose()?
            .flatten()
            .ok_or_else(|| OAuthError::invalid_token("the access token's client is no longer registered"))?;
        let body = access.claims(s.subjects.subject(&client, access.account.id.as_str()));
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

fn bound_to_dpop() -> OAuthError {
    OAuthError::invalid_token("the access token is bound to a DPoP key: send it as `Authorization: DPoP` with a proof")
}

/// A person's access token that userinfo stands by, with its grant and account. The legacy
/// API's identify and log-out calls go through it too, so they see exactly what userinfo sees.
pub(super) struct PersonAccess {
    pub token: AccessTokenClaims,
    pub grant: Grant,
    pub account: Account,
    pub scopes: Scopes,
}

impl PersonAccess {
    /// The claims userinfo releases: `sub` (as the client knows the person: public or
    /// pairwise), the person's claims of the token's scopes and whom they act for.
    pub fn claims(&self, sub: String) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("sub".into(), Value::String(sub));
        body.extend(user_claims(&self.account, &self.scopes));
        body.extend(yagona_oidc::claims::acting_claims(self.grant.acting_as.as_ref(), &self.scopes));
        body
    }
}

/// Checks an access token as userinfo does: issued by Yagona, not expired, for a person, with
/// scope `openid`, its grant live (not revoked, the membership it acts under live), the token
/// not revoked, the account present and active.
/// A DPoP-bound token is refused here: only userinfo checks proofs.
pub(super) fn live_person_access(s: &AppState, token: &str) -> Result<PersonAccess, OAuthError> {
    let read = super::token::access_token_claims(s, token)?;
    if read.claims.dpop_jkt().is_some() {
        return Err(bound_to_dpop());
    }
    person_access(s, read)
}

fn person_access(s: &AppState, read: ReadAccessToken) -> Result<PersonAccess, OAuthError> {
    let revoked = || OAuthError::invalid_token("the access token has been revoked");
    let claims = &read.claims;
    if claims.gid.is_none() {
        return Err(OAuthError::invalid_token("the access token does not belong to a person"));
    }
    // A token issued for a resource server (RFC 8707 `resource`) is that server's; were it to
    // open userinfo, the resource could replay it to read the person's claims. oidc-provider
    // refuses it the same way.
    if claims.aud != claims.client_id {
        return Err(OAuthError::invalid_token("the access token is for a resource server, not for userinfo"));
    }
    let scopes = Scopes::try_from(claims.scope.as_str())?;
    if !scopes.contains("openid") {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "the access token lacks the openid scope"));
    }
    let (claims, access) = read.live_access(s)?;
    let (grant, account) = access.ok_or_else(revoked)?;
    if account.ensure_active().is_err() {
        return Err(OAuthError::invalid_token("the account is no longer active"));
    }
    Ok(PersonAccess { token: claims, grant, account, scopes })
}
