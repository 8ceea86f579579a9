//! The legacy OneID API (issue 13, `docs/legacy-oneid.md`): `/sso/oauth/Authorization.do` and
//! browser single logout `/sso/svc/tk/SLO.do`, for clients an operator marks legacy.
//!
//! Nothing here is a second implementation: the browser login is Yagona's authorization
//! (`authorize::proceed`: login, SSO, consent, "act as"), the code and refresh calls are the
//! token endpoint's (`token::redeem`, `token::refresh_token`), identify and log-out check the
//! access token as userinfo does (`userinfo::live_person_access`), and SLO finishes as
//! RP-initiated logout does. The protocol's own rules (parameters, shapes) are
//! `yagona_oidc::legacy`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use yagona_account::legal::LegalRepository as _;
use yagona_oidc::authorize::{Params, Rejection};
use yagona_oidc::legacy::{self, LegacyGrant, LegacyParams, LegalInfo, SessionFacts};
use yagona_oidc::tokens::AccessTokenBinding;
use yagona_oidc::{Client, ClientId, ErrorCode, GrantType, OAuthError, OidcRepository as _};

use super::client_auth::{self, Credentials};
use super::error::{PageError, ProtocolError};
use super::logout::{finish_logout, invalid_logout, AfterLogout};
use super::token;
use super::userinfo::{self, PersonAccess};
use super::{authorize, blocking, parse_pairs, requesting_client, translator, Browser, State};
use crate::state::{now, AppState};

pub async fn endpoint_get(req: HttpRequest, state: State) -> HttpResponse {
    let params = parse_pairs(req.query_string().as_bytes()).and_then(|q| LegacyParams::merge(q, vec![]));
    let call = params.as_ref().is_ok_and(|p| p.get("grant_type").is_some()) || has_bearer(&req);
    match params {
        // A GET naming a grant, or carrying a bearer token (identify), is an API call.
        Ok(p) if call => api(&req, state, p).await.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e)),
        Ok(p) => browser_login(req, state, p).await,
        Err(e) => PageError::authorization(e).page(translator(&req, &state, None)),
    }
}

pub async fn endpoint_post(req: HttpRequest, state: State, body: Bytes) -> Result<HttpResponse, ProtocolError> {
    // Parameters as a form body, or in the query string of a POST with an empty body.
    let params = LegacyParams::merge(parse_pairs(req.query_string().as_bytes())?, parse_pairs(&body)?)?;
    if params.get("grant_type").is_none() && params.get("response_type").is_some() {
        return Ok(browser_login(req, state, params).await);
    }
    api(&req, state, params).await
}

/// Anything else under `/sso/`: the API's error answer, never an HTML 404.
pub async fn unknown_endpoint() -> Result<HttpResponse, ProtocolError> {
    Err(OAuthError::invalid_request(format!("this is not an endpoint of the legacy API; use {}", legacy::ENDPOINT))
        .into())
}

fn has_bearer(req: &HttpRequest) -> bool {
    let value = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or_default();
    value.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "))
}

/// `response_type=one_code`: Yagona's authorization, with the legacy grant's scopes.
async fn browser_login(req: HttpRequest, state: State, params: LegacyParams) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, params.get("ui_locales"));
    let client_id = params.require("client_id").and_then(ClientId::try_from);
    let client = match requesting_client(&state, client_id).await {
        Ok(client) => client,
        Err(e) => return e.page(t),
    };
    match legacy::browser_request(&params, &client) {
        Ok(request) => authorize::proceed(&state, t, browser, client, request, None).await,
        Err(Rejection::Page(e)) => PageError::authorization(e).page(t),
        Err(Rejection::Redirect(r)) => authorize::error_redirect(&state, t, r),
    }
}

/// The client's credentials: `client_id` and `client_secret` as parameters (the API's way) or
/// HTTP Basic. `None` when the client names itself nowhere (identify with a bearer token only).
fn credentials(req: &HttpRequest, params: &LegacyParams) -> Result<Option<Credentials>, OAuthError> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if header.get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic ")) {
        return client_auth::credentials(req, &Params(params.pairs())).map(Some);
    }
    Ok(params.get("client_id").map(|id| match params.get("client_secret") {
        Some(secret) => Credentials::Secret { client_id: id.to_owned(), secret: secret.to_owned() },
        None => Credentials::Id { client_id: id.to_owned() },
    }))
}

/// The access token of identify and log-out: the `access_token` parameter or a bearer header.
fn access_token(req: &HttpRequest, params: &LegacyParams) -> Result<Option<String>, OAuthError> {
    let header = if has_bearer(req) { userinfo::bearer_header(req)? } else { None };
    match (header, params.get("access_token")) {
        (Some(h), Some(p)) if h != p => Err(OAuthError::invalid_request("two different access tokens were sent")),
        (Some(h), _) => Ok(Some(h)),
        (None, p) => Ok(p.map(str::to_owned)),
    }
}

async fn api(req: &HttpRequest, state: State, params: LegacyParams) -> Result<HttpResponse, ProtocolError> {
    // A bearer token without a grant_type is an identify call (some clients send only that).
    let grant = match params.get("grant_type") {
        Some(name) => LegacyGrant::try_from(name)?,
        None if has_bearer(req) => LegacyGrant::Identify,
        None => return Err(OAuthError::invalid_request("parameter grant_type is missing").into()),
    };
    let credentials = credentials(req, &params)?;
    let address = client_auth::client_address(req, &state);
    let token = access_token(req, &params)?;
    let body = blocking(&state, move |s| {
        let client = match credentials {
            Some(credentials) => {
                let client = client_auth::authenticate(s, credentials, legacy::ENDPOINT, &address)?;
                if !client.legacy {
                    return Err(legacy::not_legacy());
                }
                Some(client)
            }
            None => None,
        };
        let authenticated =
            || client.as_ref().ok_or_else(|| OAuthError::invalid_client("client_id and client_secret are required"));
        let token = || token.as_deref().ok_or_else(|| OAuthError::invalid_request("parameter access_token is missing"));
        let body = match grant {
            LegacyGrant::AuthorizationCode => code_grant(s, authenticated()?, &params)?,
            LegacyGrant::RefreshToken => refresh_grant(s, authenticated()?, &params)?,
            LegacyGrant::Identify => identify(s, client.as_ref(), token()?)?,
            LegacyGrant::LogOut => log_out(s, client.as_ref(), token()?)?,
        };
        if let (Some(client), LegacyGrant::AuthorizationCode | LegacyGrant::RefreshToken) = (&client, grant) {
            crate::metrics::token_issued(grant.as_str(), client.id.as_str());
        }
        Ok(body)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body))
}

/// The legacy answer carries a refresh token, so a legacy client must have that grant too.
fn ensure_grants(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows(grant) && client.allows(GrantType::RefreshToken) {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::UnauthorizedClient,
        format!("the client may not use the {} grant (a legacy client needs refresh_token too)", grant.as_str()),
    ))
}

/// OneID's token answer from the token endpoint's: `expires_in` absolute, in milliseconds.
fn legacy_tokens(client: &Client, body: &Value, now: i64) -> Result<Value, OAuthError> {
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::server_error(format!("the token answer lacks {name}")))
    };
    let lifetime = body.get("expires_in").and_then(Value::as_i64).unwrap_or_default();
    Ok(legacy::token_answer(field("access_token")?, field("refresh_token")?, now + lifetime, client))
}

fn code_grant(s: &AppState, client: &Client, p: &LegacyParams) -> Result<Value, OAuthError> {
    ensure_grants(client, GrantType::AuthorizationCode)?;
    let now = now();
    // The legacy API has no PKCE; `redirect_uri` may be left out (the code was issued to a
    // registered one), and when sent it must be that one.
    let body =
        token::redeem(s, client, p.require("code")?, p.get("redirect_uri"), None, AccessTokenBinding::default())?;
    legacy_tokens(client, &body, now)
}

fn refresh_grant(s: &AppState, client: &Client, p: &LegacyParams) -> Result<Value, OAuthError> {
    ensure_grants(client, GrantType::RefreshToken)?;
    let now = now();
    // `scope` is the client id in this API, not a narrowing: the grant keeps its scopes.
    let body = token::refresh_token(s, client, p.require("refresh_token")?, None, AccessTokenBinding::default())?;
    legacy_tokens(client, &body, now)
}

/// A live person's token of this legacy client (or, without client authentication, of any
/// legacy client: the token alone is the credential, as at userinfo).
fn person_access(s: &AppState, client: Option<&Client>, token: &str) -> Result<PersonAccess, OAuthError> {
    let access = userinfo::live_person_access(s, token)?;
    match client {
        Some(client) if access.token.client_id != client.id.as_str() => {
            Err(OAuthError::invalid_token("the access token was issued to another client"))
        }
        Some(_) => Ok(access),
        None => {
            let owner = s.clients.find(&s.store, &ClientId::try_from(access.token.client_id.as_str())?)?;
            match owner {
                Some(owner) if owner.legacy => Ok(access),
                _ => Err(legacy::not_legacy()),
            }
        }
    }
}

fn identify(s: &AppState, client: Option<&Client>, token: &str) -> Result<Value, OAuthError> {
    let access = person_access(s, client, token)?;
    // The person's live legal entities, only for a grant with scope `legal` (as its claims).
    let mut entities: Vec<LegalInfo> = Vec::new();
    if access.scopes.contains("legal") {
        for (entity, _) in s.store.memberships_of(&access.account.id, now()).map_err(OAuthError::from)? {
            if entities.iter().all(|e| e.tin != entity.tin.as_str()) {
                entities.push(LegalInfo {
                    tin: entity.tin.to_string(),
                    name: entity.name,
                    short_name: entity.short_name,
                });
            }
        }
    }
    let session = SessionFacts { sid: &access.grant.sid, amr: &access.grant.auth.amr };
    Ok(legacy::identify_answer(&access.claims(access.account.id.as_str().to_owned()), session, &entities))
}

/// Ends the session the token was granted in, which revokes every grant made in it (OpenID
/// Connect clients' too), and the token's own grant.
fn log_out(s: &AppState, client: Option<&Client>, token: &str) -> Result<Value, OAuthError> {
    let access = person_access(s, client, token)?;
    let now = now();
    let grant = &access.grant;
    s.store.end_session_by_sid(&grant.account_id, &grant.sid, now)?;
    s.store.revoke_grant(&grant.id, now)?;
    tracing::info!(account = %grant.account_id, client_id = %grant.client_id, "logged out by legacy client");
    crate::audit_log::logged_out(
        &s.store,
        &grant.account_id,
        &grant.sid,
        "legacy_log_out",
        Some(grant.client_id.as_str()),
        now,
    );
    Ok(legacy::logout_answer())
}

/// `GET /sso/svc/tk/SLO.do?id=<client_id>`: ends this browser's session (and the grants made in
/// it), then sends the person to the client's registered post-logout URI (the one named by
/// `redirect_uri`, if registered, else the first), or shows the logout page.
pub async fn single_logout(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let params = parse_pairs(req.query_string().as_bytes()).and_then(|q| LegacyParams::merge(q, vec![]));
    let session_hash = browser.session_hash();
    let result = blocking(&state, move |s| {
        let p = params?;
        let id = ClientId::try_from(p.require("id")?)?;
        let client = s
            .store
            .find_client(&id)?
            .ok_or_else(|| OAuthError::invalid_request("the id is not a registered client"))?;
        if !client.legacy {
            return Err(legacy::not_legacy());
        }
        let redirect = match p.get("redirect_uri") {
            Some(uri) => Some(
                client
                    .registered_post_logout_uri(uri)
                    .ok_or_else(|| OAuthError::invalid_request("redirect_uri is not a registered post-logout URI"))?
                    .as_str()
                    .to_owned(),
            ),
            None => client.post_logout_redirect_uris.first().map(|u| u.as_str().to_owned()),
        };
        let now = now();
        let mut frontchannel = Vec::new();
        if let Some(session) = session_hash.map(|hash| s.store.end_session(&hash, now)).transpose()?.flatten() {
            frontchannel = super::frontchannel::logout_urls(s, &session.sid)?;
            tracing::info!(account = %session.account_id, client_id = %id, "logged out by legacy single logout");
            crate::audit_log::logged_out(
                &s.store,
                &session.account_id,
                &session.sid,
                "legacy_slo",
                Some(id.as_str()),
                now,
            );
        }
        let state = p.get("state").map(str::to_owned);
        Ok(AfterLogout { client_id: Some(id.to_string()), redirect, state, frontchannel })
    })
    .await;
    match result {
        Ok(after) => finish_logout(&state, t, after),
        Err(e) => invalid_logout(e).page(t),
    }
}
