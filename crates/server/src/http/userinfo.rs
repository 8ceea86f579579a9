//! The UserInfo endpoint (OIDC Core 5.3), protected by bearer access tokens (RFC 6750).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use yagona_account::Account;
use yagona_oidc::authorize::Params;
use yagona_oidc::claims::user_claims;
use yagona_oidc::tokens::AccessTokenClaims;
use yagona_oidc::{ErrorCode, Grant, OAuthError, OidcRepository as _, Scopes};

use super::error::BearerError;
use super::{blocking, parse_pairs, State};
use crate::state::AppState;

pub(super) fn bearer_header(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuthError::invalid_request("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(OAuthError::invalid_request("the Authorization header must be `Bearer <token>`")),
    }
}

pub async fn userinfo_get(req: HttpRequest, state: State) -> Result<HttpResponse, BearerError> {
    let token = bearer_header(&req)?.ok_or_else(|| OAuthError::invalid_token("an access token is required"))?;
    userinfo(state, token).await
}

pub async fn userinfo_post(req: HttpRequest, state: State, body: Bytes) -> Result<HttpResponse, BearerError> {
    let header_token = bearer_header(&req)?;
    // RFC 6750 2.2: the token may come in a form body instead.
    let params = parse_pairs(&body)?;
    let body_token = Params(&params).get("access_token")?.map(str::to_owned);
    let token = match (header_token, body_token) {
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("send the access token once").into()),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(OAuthError::invalid_token("an access token is required").into()),
    };
    userinfo(state, token).await
}

async fn userinfo(state: State, token: String) -> Result<HttpResponse, BearerError> {
    let body = blocking(&state, move |s| {
        let access = live_person_access(s, &token)?;
        Ok(Value::Object(access.claims()))
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
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
    /// The claims userinfo releases: `sub`, the person's claims of the token's scopes and whom
    /// they act for.
    pub fn claims(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("sub".into(), Value::String(self.account.id.as_str().to_owned()));
        body.extend(user_claims(&self.account, &self.scopes));
        body.extend(yagona_oidc::claims::acting_claims(self.grant.acting_as.as_ref(), &self.scopes));
        body
    }
}

/// Checks an access token as userinfo does: issued by Yagona, not expired, for a person, with
/// scope `openid`, its grant live (not revoked, the membership it acts under live), the token
/// not revoked, the account present and active.
pub(super) fn live_person_access(s: &AppState, token: &str) -> Result<PersonAccess, OAuthError> {
    let claims = super::token::access_token_claims(s, token)?;
    let revoked = || OAuthError::invalid_token("the access token has been revoked");
    let Some(gid) = &claims.gid else {
        return Err(OAuthError::invalid_token("the access token does not belong to a person"));
    };
    let scopes = Scopes::try_from(claims.scope.as_str())?;
    if !scopes.contains("openid") {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "the access token lacks the openid scope"));
    }
    let (grant, account) = s.store.find_live_access(&claims.jti, gid, crate::state::now())?.ok_or_else(revoked)?;
    if account.ensure_active().is_err() {
        return Err(OAuthError::invalid_token("the account is no longer active"));
    }
    Ok(PersonAccess { token: claims, grant, account, scopes })
}
