//! The token endpoint (RFC 6749 3.2), introspection (RFC 7662) and revocation (RFC 7009), with
//! the client authenticated by `client_auth::authenticate` (any registered method).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use yagona_account::{Account, AccountRepository as _, AccountStatus};
use yagona_oidc::authorize::Params;
use yagona_oidc::secrets::{hash_token, random_token};
use yagona_oidc::tokens::{AccessToken, AccessTokenBinding, AccessTokenClaims, StoredAccessToken};
use yagona_oidc::{
    AccessTokenFormat, Client, CodeConsumption, ErrorCode, Grant, GrantType, OAuthError, OidcRepository as _,
    RefreshRotation, RefreshToken, Scopes,
};

use super::client_auth::{authenticate, client_address, credentials};
use super::error::ProtocolError;
use super::{blocking, dpop, parse_pairs, State};
use crate::discovery::{REVOKE_PATH, TOKEN_PATH};
use crate::state::{now, AppState};

fn token_response(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

pub async fn token(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    dpop::with_proof(&req, &state, |proof| token_request(&req, &state, body, proof)).await
}

async fn token_request(
    req: &HttpRequest,
    state: &State,
    body: Bytes,
    proof: Result<Option<String>, OAuthError>,
) -> Result<HttpResponse, ProtocolError> {
    let params = parse_pairs(&body)?;
    let p = Params(&params);
    let grant_type = GrantType::try_from(p.require("grant_type")?)?;
    let credentials = credentials(req, &p)?;
    super::cors::note_client(req, credentials.client_id());
    let address = client_address(req, state);
    let proof = proof?;
    let body = blocking(state, move |s| {
        let client = authenticate(s, credentials, TOKEN_PATH, &address)?;
        if !client.allows(grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("the client may not use the {} grant", grant_type.as_str()),
            ));
        }
        // DPoP (RFC 9449 5): a proof binds the tokens to its key; a client registered with
        // dpop_bound_access_tokens must send one (5.2).
        let dpop = proof.map(|proof| dpop::check_proof(s, &proof, "POST", TOKEN_PATH, None)).transpose()?;
        if dpop.is_none() && client.token_metadata.dpop_bound_access_tokens {
            return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "this client must send a DPoP proof"));
        }
        // RFC 8707: the resource the access token is for becomes its audience.
        let resources: Vec<&str> = params.iter().filter(|(k, _)| k == "resource").map(|(_, v)| v.as_str()).collect();
        let binding = AccessTokenBinding {
            dpop_jkt: dpop.as_ref().map(|d| d.jkt.as_str()),
            audience: yagona_oidc::resource::audience(&client, &resources)?,
        };
        let p = Params(&params);
        let body = match grant_type {
            GrantType::AuthorizationCode => redeem_code(s, &client, &p, binding),
            GrantType::RefreshToken => refresh(s, &client, &p, binding),
            GrantType::ClientCredentials => client_credentials(s, &client, &p, binding),
        }?;
        crate::metrics::token_issued(grant_type.as_str(), client.id.as_str());
        Ok(body)
    })
    .await?;
    Ok(token_response(body))
}

fn live_account(s: &AppState, grant: &Grant) -> Result<Account, OAuthError> {
    match s.store.find_account(&grant.account_id).map_err(OAuthError::from)? {
        Some(account) if account.ensure_active().is_ok() => Ok(account),
        _ => Err(OAuthError::invalid_grant("the account is no longer active")),
    }
}

/// Reuse of a spent code or refresh token: a stolen token, or a client bug. Recorded for the
/// person whose grant it was.
fn token_reused(s: &AppState, token: &str, grant_id: &str, client: &Client, now: i64) {
    use yagona_account::audit::{AuditEvent, AuditKind};
    let detail = serde_json::json!({ "token": token, "grant": grant_id, "client": client.id.as_str() });
    let event = AuditEvent::new(AuditKind::TokenReuseDetected, now, detail);
    let subject = s.store.find_grant(grant_id).ok().flatten().map(|g| g.account_id);
    crate::audit_log::record(
        &s.store,
        match &subject {
            Some(account) => event.about(account),
            None => event,
        },
    );
}

fn redeem_code(
    s: &AppState,
    client: &Client,
    p: &Params<'_>,
    binding: AccessTokenBinding<'_>,
) -> Result<Value, OAuthError> {
    redeem(s, client, p.require("code")?, Some(p.require("redirect_uri")?), p.get("code_verifier")?, binding)
}

/// Spends a code and issues its tokens. `redirect_uri` is `None` only for the legacy API, whose
/// clients may leave it out at the token call (the code was still issued to a registered URI).
pub(super) fn redeem(
    s: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    binding: AccessTokenBinding<'_>,
) -> Result<Value, OAuthError> {
    // A malformed verifier is refused before the code is spent: it can never match.
    if let Some(verifier) = verifier {
        yagona_oidc::CodeChallenge::check_verifier_form(verifier)?;
    }
    let now = now();
    let (code, grant) = match s.store.consume_authorization_code(&hash_token(code), now)? {
        CodeConsumption::Consumed(spent) => *spent,
        CodeConsumption::AlreadyUsed { grant_id } => {
            // RFC 6749 4.1.2: a code used twice revokes what it issued.
            s.store.revoke_grant(&grant_id, now)?;
            tracing::warn!(grant_id = %grant_id, "authorization code reused: grant revoked");
            token_reused(s, "authorization_code", &grant_id, client, now);
            return Err(OAuthError::invalid_grant("the authorization code has already been used"));
        }
        CodeConsumption::Invalid => {
            return Err(OAuthError::invalid_grant("the authorization code is invalid or expired"))
        }
    };
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    // RFC 9449 10: a code bound to a DPoP key (dpop_jkt) is redeemed only with a proof of it.
    if !yagona_oidc::dpop::code_binding_holds(code.dpop_jkt.as_deref(), binding.dpop_jkt) {
        return Err(OAuthError::invalid_grant("the authorization code is bound to another DPoP key"));
    }
    // RFC 8707 2.2: only a resource the authorization request named.
    yagona_oidc::resource::check_granted(&grant, binding.audience)?;
    if redirect_uri.is_some_and(|uri| code.redirect_uri.as_str() != uri) {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request"));
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if challenge.verify(verifier) => {}
        (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge")),
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        // OAuth 2.1 4.1.3: a verifier without a challenge is refused, against PKCE downgrade.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant("code_verifier sent but the request had no code_challenge"))
        }
        (None, None) => {}
    }
    let account = live_account(s, &grant)?;
    let refresh = client.allows(GrantType::RefreshToken).then(random_token);
    if let (Some(jkt), true, true) = (binding.dpop_jkt, refresh.is_some(), client.is_public()) {
        // RFC 9449 5: a public client's refresh tokens are bound to its DPoP key, for the whole
        // family (confidential clients' are bound by their authentication).
        s.store.bind_grant_dpop_key(&grant.id, jkt)?;
    }
    let tokens = Tokens { scopes: &grant.scopes, nonce: code.nonce.as_deref(), first_refresh: refresh, binding };
    let body = issue(s, client, &grant, &account, tokens, now)?;
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "authorization code redeemed");
    Ok(body)
}

fn new_refresh_token(s: &AppState, secret: &str, grant: &Grant, now: i64) -> RefreshToken {
    RefreshToken {
        hash: hash_token(secret),
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        created_at: now,
        expires_at: s.settings.lifetimes.refresh_token_expiry(grant.created_at, now),
    }
}

/// What one token response of a person's grant carries.
struct Tokens<'a> {
    scopes: &'a Scopes,
    nonce: Option<&'a str>,
    /// A grant's first refresh token (code redemption); a refresh adds its rotated one itself.
    first_refresh: Option<String>,
    /// The DPoP key and resource the access token is bound to.
    binding: AccessTokenBinding<'a>,
}

fn issue(
    s: &AppState,
    client: &Client,
    grant: &Grant,
    account: &Account,
    tokens: Tokens<'_>,
    now: i64,
) -> Result<Value, OAuthError> {
    let Tokens { scopes, nonce, first_refresh, binding } = tokens;
    let access = s.with_issuer(|i| i.access_token_for_grant(client, grant, scopes, binding, now))?;
    let first_refresh_token = first_refresh.as_ref().map(|secret| new_refresh_token(s, secret, grant, now));
    store_tokens(s, &access, first_refresh_token.as_ref())?;
    let id_token = s.with_issuer(|i| i.id_token(client, account, grant, scopes, nonce, &access.token, now))?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": access.claims.token_type(),
        "expires_in": s.settings.lifetimes.access_token,
        "scope": scopes.to_string(),
        "id_token": id_token,
    });
    if let Some(secret) = first_refresh {
        body["refresh_token"] = Value::String(secret);
    }
    Ok(body)
}

/// Stores what a token response needs stored before it is handed out, so each token works as
/// soon as the client has it: an opaque access token (a JWT needs nothing) and a grant's first
/// refresh token, in one write when both (nothing half-written if it fails).
fn store_tokens(s: &AppState, access: &AccessToken, first_refresh: Option<&RefreshToken>) -> Result<(), OAuthError> {
    let opaque = access.format == AccessTokenFormat::Opaque;
    match first_refresh {
        Some(refresh) if opaque => {
            s.store.insert_refresh_and_opaque_access_token(refresh, &hash_token(&access.token), &access.claims)?
        }
        Some(refresh) => s.store.insert_refresh_token(refresh)?,
        None if opaque => s.store.insert_opaque_access_token(&hash_token(&access.token), &access.claims)?,
        None => {}
    }
    Ok(())
}

fn refresh(
    s: &AppState,
    client: &Client,
    p: &Params<'_>,
    binding: AccessTokenBinding<'_>,
) -> Result<Value, OAuthError> {
    let requested = p.get("scope")?.map(Scopes::try_from).transpose()?;
    refresh_token(s, client, p.require("refresh_token")?, requested, binding)
}

/// Rotates a refresh token and issues the grant's tokens (narrowed to `requested`, if given).
pub(super) fn refresh_token(
    s: &AppState,
    client: &Client,
    presented: &str,
    requested: Option<Scopes>,
    binding: AccessTokenBinding<'_>,
) -> Result<Value, OAuthError> {
    let presented = hash_token(presented);
    let now = now();
    let secret = random_token();
    // Everything the response needs is checked and made before the token is spent (issue 12,
    // item 3): the account is active (issue 11, item 5), the scope was granted, the tokens are
    // signed and an opaque access token stored (usable only once handed out). The rotation is
    // the last write; nothing after it can fail, so a refused or failed request never spends
    // the token and the client's retry is never taken for reuse.
    let prepared = match s.store.find_live_refresh_token(&presented, &s.settings.lifetimes, now)? {
        Some((_, grant)) if grant.client_id == client.id => {
            Some(prepare_refresh(s, client, &grant, requested.as_ref(), binding, now)?)
        }
        // Unknown, spent or another client's: the rotation below tells reuse from invalid.
        _ => None,
    };
    let grant =
        match s.store.rotate_refresh_token(&presented, &client.id, &hash_token(&secret), &s.settings.lifetimes, now)? {
            RefreshRotation::Rotated(grant) => *grant,
            RefreshRotation::Reused { grant_id } => {
                s.store.revoke_grant(&grant_id, now)?;
                tracing::warn!(grant_id = %grant_id, "refresh token reused: token family revoked");
                token_reused(s, "refresh_token", &grant_id, client, now);
                return Err(OAuthError::invalid_grant("the refresh token has already been used"));
            }
            RefreshRotation::Invalid => {
                return Err(OAuthError::invalid_grant(
                    "the refresh token is invalid or expired, or the session it was granted in has ended",
                ))
            }
        };
    let mut body = match prepared {
        Some(body) => body,
        // Became live between the lookup and the rotation (not expected): made now.
        None => prepare_refresh(s, client, &grant, requested.as_ref(), binding, now)?,
    };
    body["refresh_token"] = Value::String(secret);
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "refresh token rotated");
    Ok(body)
}

/// The response to a refresh of `grant`, without its refresh token: checks and signatures, and
/// the opaque access token stored.
fn prepare_refresh(
    s: &AppState,
    client: &Client,
    grant: &Grant,
    requested: Option<&Scopes>,
    binding: AccessTokenBinding<'_>,
    now: i64,
) -> Result<Value, OAuthError> {
    // RFC 8707 2.2: only a resource the authorization request named (checked before the
    // rotation, so a refused request does not spend the token).
    yagona_oidc::resource::check_granted(grant, binding.audience)?;
    if client.is_public() {
        check_refresh_binding(s, grant, binding.dpop_jkt)?;
    }
    let account = live_account(s, grant)?;
    let scopes = match requested {
        Some(requested) if requested.is_subset(&grant.scopes) => requested.clone(),
        Some(_) => return Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds what was granted")),
        None => grant.scopes.clone(),
    };
    issue(s, client, grant, &account, Tokens { scopes: &scopes, nonce: None, first_refresh: None, binding }, now)
}

/// A public client's refresh token bound to a DPoP key is used only with a proof of that key
/// (RFC 9449 5).
fn check_refresh_binding(s: &AppState, grant: &Grant, jkt: Option<&str>) -> Result<(), OAuthError> {
    match (s.store.grant_dpop_key(&grant.id)?, jkt) {
        (None, _) => Ok(()),
        (Some(bound), Some(jkt)) if bound == jkt => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("the refresh token is bound to another DPoP key")),
        (Some(_), None) => Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the refresh token is bound to a DPoP key: send a DPoP proof of it",
        )),
    }
}

fn client_credentials(
    s: &AppState,
    client: &Client,
    p: &Params<'_>,
    binding: AccessTokenBinding<'_>,
) -> Result<Value, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    let scopes = client.client_credentials_scopes(p.get("scope")?)?;
    let now = now();
    let access =
        s.with_issuer(|i| i.access_token_for_client(&client.id, &scopes, client.access_token_format, binding, now))?;
    store_tokens(s, &access, None)?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": access.claims.token_type(),
        "expires_in": s.settings.lifetimes.access_token,
    });
    if !scopes.is_empty() {
        body["scope"] = Value::String(scopes.to_string());
    }
    Ok(body)
}

/// A token Yagona issued, as found by introspection or revocation.
pub(super) enum KnownToken {
    Access(AccessTokenClaims),
    Refresh(RefreshToken, Grant),
}

/// An access token's claims, with what reading them already learned of its liveness.
pub(super) struct ReadAccessToken {
    pub claims: AccessTokenClaims,
    liveness: Liveness,
}

/// Whether a token is live, as far as reading its claims told.
enum Liveness {
    /// Not looked at yet: a JWT, or an opaque token stored with its whole claims.
    Unchecked,
    /// A person's opaque token, checked in its lookup's statement: its grant and account when
    /// live.
    Checked(Option<Box<(Grant, Account)>>),
}

impl ReadAccessToken {
    /// The grant and account behind a person's token when the token is live: not revoked, its
    /// grant live, the membership it acts under live (the account may still be disabled: its
    /// status says). `None` when it is not live, or not a person's. Read from the store only when
    /// the token's lookup did not already tell.
    pub(super) fn live_access(self, s: &AppState) -> Result<(AccessTokenClaims, Option<(Grant, Account)>), OAuthError> {
        let access = match (self.liveness, &self.claims.gid) {
            (Liveness::Checked(access), _) => access.map(|access| *access),
            (Liveness::Unchecked, Some(gid)) => s.store.find_live_access(&self.claims.jti, gid, now())?,
            (Liveness::Unchecked, None) => None,
        };
        Ok((self.claims, access))
    }
}

/// The claims of an access token Yagona issued and that has not expired: a JWT (three
/// dot-separated parts) is verified (signature, issuer, expiry, `typ`); anything else is looked
/// up as an opaque token, whose lookup also checks a person's token for revocation. A token that
/// is neither is an `invalid_token` error saying why; database failures are errors of their own.
pub(super) fn access_token_claims(s: &AppState, token: &str) -> Result<ReadAccessToken, OAuthError> {
    if token.split('.').count() == 3 {
        let claims = s.with_issuer(|i| i.verify_access_token(token))?;
        return Ok(ReadAccessToken { claims, liveness: Liveness::Unchecked });
    }
    match s.store.find_opaque_access_token(&hash_token(token), now())? {
        None => Err(OAuthError::invalid_token("the access token is unknown or has expired")),
        Some(StoredAccessToken::Claims(claims)) => Ok(ReadAccessToken { claims, liveness: Liveness::Unchecked }),
        Some(StoredAccessToken::OfGrant { jti, exp, part, grant, live_account }) => {
            // The client makes the `sub` (public or pairwise), as it did at issuance.
            let client = s
                .clients
                .find(&s.store, &grant.client_id)?
                .ok_or_else(|| OAuthError::invalid_token("the access token's client is no longer registered"))?;
            let claims = s.with_issuer(|i| i.stored_grant_access_claims(&client, &grant, jti, exp, part))?;
            Ok(ReadAccessToken { claims, liveness: Liveness::Checked(live_account.map(|a| Box::new((grant, *a)))) })
        }
    }
}

/// The claims of a live access token: for a person's token its grant is live, its account
/// present and not disabled, and the token not revoked; for a client's own token, not revoked.
fn live_access_token_claims(s: &AppState, read: ReadAccessToken) -> Result<Option<AccessTokenClaims>, OAuthError> {
    if read.claims.gid.is_none() {
        return Ok((!s.store.is_access_token_revoked(&read.claims.jti)?).then_some(read.claims));
    }
    let (claims, access) = read.live_access(s)?;
    Ok(access.is_some_and(|(_, account)| account.status != AccountStatus::Disabled).then_some(claims))
}

/// Finds a live token: an access token (a JWT or an opaque one, not revoked, grant live) or a
/// refresh token.
pub(super) fn find_live_token(s: &AppState, token: &str) -> Result<Option<KnownToken>, OAuthError> {
    match access_token_claims(s, token) {
        Ok(read) => return Ok(live_access_token_claims(s, read)?.map(KnownToken::Access)),
        // Not an access token Yagona stands by: perhaps a refresh token.
        Err(e) if e.code == ErrorCode::InvalidToken => {}
        Err(e) => return Err(e),
    }
    Ok(s.store
        .find_live_refresh_token(&hash_token(token), &s.settings.lifetimes, now())?
        .map(|(t, g)| KnownToken::Refresh(t, g)))
}

pub async fn revoke(req: HttpRequest, state: State, body: Bytes) -> Result<HttpResponse, ProtocolError> {
    let params = parse_pairs(&body)?;
    let p = Params(&params);
    let credentials = credentials(&req, &p)?;
    super::cors::note_client(&req, credentials.client_id());
    let address = client_address(&req, &state);
    let token = p.require("token")?.to_owned();
    if let Some(hint) = p.get("token_type_hint")? {
        if !matches!(hint, "access_token" | "refresh_token") {
            return Err(OAuthError::new(ErrorCode::UnsupportedTokenType, "token_type_hint is not supported").into());
        }
    }
    blocking(&state, move |s| {
        let client = authenticate(s, credentials, REVOKE_PATH, &address)?;
        let now = now();
        match find_live_token(s, &token)? {
            Some(KnownToken::Access(c)) if c.client_id == client.id.as_str() => {
                s.store.revoke_access_token(&c.jti, c.exp)?;
                tracing::info!(client_id = %client.id, "access token revoked");
            }
            Some(KnownToken::Refresh(t, g)) if t.client_id == client.id => {
                // RFC 7009 2.1: revoking a refresh token revokes its grant's access tokens too.
                s.store.revoke_grant(&g.id, now)?;
                tracing::info!(client_id = %client.id, grant_id = %g.id, "refresh token revoked");
            }
            // Unknown, expired or another client's token: nothing to do, and nothing to tell.
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}
