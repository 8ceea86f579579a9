//! RP-Initiated Logout 1.0: `end_session` with `id_token_hint`, a registered
//! `post_logout_redirect_uri` and `state`.
//!
//! A logout that carries an ID token (by its `typ`, not an access token) of the current session
//! (its `sid`) ends the session at once. Anything else (no hint, another person's or another
//! session's hint) asks the person to confirm, with a CSRF-protected form, so that a third-party
//! page cannot sign people out.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_oidc::authorize::Params;
use yagona_oidc::tokens::IdTokenHint;
use yagona_oidc::{ClientId, OAuthError, OidcRepository as _};

use super::error::PageError;
use super::pages::{self, Frame, LogoutPage, MessagePage};
use super::{blocking, here, parse_pairs, see_other, session_removal_cookie, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

pub async fn end_session_get(req: HttpRequest, state: State) -> HttpResponse {
    let params = parse_pairs(req.query_string().as_bytes());
    end_session(req, state, params).await
}

pub async fn end_session_post(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let params = parse_pairs(&body);
    end_session(req, state, params).await
}

/// The validated place to send the person after logout.
pub(super) struct AfterLogout {
    pub(super) client_id: Option<String>,
    pub(super) redirect: Option<String>,
    pub(super) state: Option<String>,
    /// The front-channel logout URLs of the ended session's clients (Front-Channel Logout 1.0).
    pub(super) frontchannel: Vec<url::Url>,
}

/// Checks `post_logout_redirect_uri` against the client's registered URIs (exact match).
fn after_logout(
    s: &AppState,
    client_id: Option<String>,
    redirect: Option<String>,
    state: Option<String>,
) -> Result<AfterLogout, OAuthError> {
    if let Some(uri) = &redirect {
        let id = client_id
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("post_logout_redirect_uri needs client_id or id_token_hint"))?;
        let client = s
            .store
            .find_client(&ClientId::try_from(id)?)?
            .ok_or_else(|| OAuthError::invalid_request("the client_id is not registered here"))?;
        if client.registered_post_logout_uri(uri).is_none() {
            return Err(OAuthError::invalid_request("post_logout_redirect_uri is not registered for this client"));
        }
    }
    Ok(AfterLogout { client_id, redirect, state, frontchannel: Vec::new() })
}

enum Decision {
    Done(AfterLogout),
    Confirm(AfterLogout),
}

async fn end_session(
    req: HttpRequest,
    state: State,
    params: Result<Vec<(String, String)>, OAuthError>,
) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let ui_locales = params.as_ref().ok().and_then(|p| Params(p).get("ui_locales").ok().flatten().map(str::to_owned));
    let t = translator(&req, &state, ui_locales.as_deref());
    let params = match params {
        Ok(p) => p,
        Err(e) => return PageError::from(e).page(t),
    };
    let session_hash = browser.session_hash();
    let decision = blocking(&state, move |s| {
        let p = Params(&params);
        let hint = match p.get("id_token_hint")? {
            Some(token) => Some(s.with_issuer(|i| i.verify_id_token_hint(token))?),
            None => None,
        };
        let mut client_id = p.get("client_id")?.map(str::to_owned);
        if let Some(hint) = &hint {
            match (&client_id, hint.aud.single()) {
                (Some(id), _) if !hint.aud.contains(id) => {
                    return Err(OAuthError::invalid_request("client_id is not the audience of id_token_hint"))
                }
                (None, Some(aud)) => client_id = Some(aud.to_owned()),
                _ => {}
            }
        }
        let mut after = after_logout(
            s,
            client_id,
            p.get("post_logout_redirect_uri")?.map(str::to_owned),
            p.get("state")?.map(str::to_owned),
        )?;
        let now = now();
        let session = match &session_hash {
            Some(hash) => s.store.find_session(hash, now)?,
            None => None,
        };
        match (session, hint) {
            (None, _) => Ok(Decision::Done(after)),
            // The hint must name this very session (its `sid`), not only its person: an ID token
            // from an earlier session of theirs, replayed by a third party, asks first.
            (Some(session), Some(hint))
                if hint_names(s, &hint, session.account_id.as_str())?
                    && hint.sid.as_deref() == Some(session.sid.as_str()) =>
            {
                s.store.end_session(&session.id_hash, now)?;
                after.frontchannel = super::frontchannel::logout_urls(s, &session.sid)?;
                tracing::info!(account = %session.account_id, "logged out by relying party");
                let client = after.client_id.as_deref();
                crate::audit_log::logged_out(&s.store, &session.account_id, &session.sid, "end_session", client, now);
                Ok(Decision::Done(after))
            }
            (Some(_), _) => Ok(Decision::Confirm(after)),
        }
    })
    .await;
    let response = match decision {
        Ok(Decision::Done(after)) => finish_logout(&state, t, after),
        Ok(Decision::Confirm(after)) => {
            let page = pages::render(
                StatusCode::OK,
                &LogoutPage {
                    frame: Frame::new(t, here(&req)),
                    csrf_token: &browser.csrf,
                    client_id: after.client_id.as_deref(),
                    post_logout_redirect_uri: after.redirect.as_deref(),
                    state: after.state.as_deref(),
                },
            );
            match after.redirect.as_deref() {
                Some(uri) => pages::allow_form_target(page, uri),
                None => page,
            }
        }
        Err(e) => invalid_logout(e).page(t),
    };
    browser.finish(response, &state)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf_token: String,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

pub async fn end_session_confirm(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<ConfirmForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let session_hash = browser.session_hash();
    let result = blocking(&state, move |s| {
        let mut after = after_logout(s, form.client_id, form.post_logout_redirect_uri, form.state)?;
        if let Some(hash) = session_hash {
            if let Some(session) = s.store.end_session(&hash, now())? {
                after.frontchannel = super::frontchannel::logout_urls(s, &session.sid)?;
                tracing::info!(account = %session.account_id, "logged out");
                let client = after.client_id.as_deref();
                crate::audit_log::logged_out(&s.store, &session.account_id, &session.sid, "end_session", client, now());
            }
        }
        Ok(after)
    })
    .await;
    match result {
        Ok(after) => finish_logout(&state, t, after),
        Err(e) => invalid_logout(e).page(t),
    }
}

/// Whether the hint's `sub` is the account's subject for the hint's client (public or pairwise).
fn hint_names(s: &AppState, hint: &IdTokenHint, account_id: &str) -> Result<bool, OAuthError> {
    let client = match hint.aud.single().and_then(|aud| ClientId::try_from(aud).ok()) {
        Some(id) => s.clients.find(&s.store, &id)?,
        None => None,
    };
    Ok(client.is_some_and(|client| s.subjects.subject(&client, account_id) == hint.sub))
}

pub(super) fn invalid_logout(e: OAuthError) -> PageError {
    if e.code == yagona_oidc::ErrorCode::ServerError {
        return PageError::from(e);
    }
    PageError::new(StatusCode::BAD_REQUEST, "error.logout_title", "error.form_incomplete").with_detail(e.description)
}

/// `GET /logout/done`: where a sign-out without a relying party to return to lands (after a
/// redirect, so Back never resubmits the sign-out form).
pub async fn done_page(req: HttpRequest, state: State) -> HttpResponse {
    let t = crate::http::translator(&req, &state, None);
    pages::render(
        StatusCode::OK,
        &MessagePage {
            frame: Frame::new(t, "/logout/done"),
            title: t.t("logout.done_title"),
            message: t.t("logout.done"),
            links: vec![("/login".to_owned(), t.t("logout.sign_in_again"))],
        },
    )
}

/// Where the person goes after logout: the relying party's post-logout redirect URI (with its
/// `state`), else `/logout/done`; through the front-channel logout page first when clients of
/// the ended session asked for it.
pub(super) fn finish_logout(state: &State, t: Tr<'static>, after: AfterLogout) -> HttpResponse {
    let next = match after.redirect.as_deref().map(url::Url::parse) {
        Some(Ok(mut url)) => {
            if let Some(st) = &after.state {
                url.query_pairs_mut().append_pair("state", st);
            }
            url.to_string()
        }
        _ => "/logout/done".to_owned(),
    };
    let mut response = if after.frontchannel.is_empty() {
        see_other(&next)
    } else {
        super::frontchannel::page(t, &after.frontchannel, &next)
    };
    if let Err(e) = response.add_cookie(&session_removal_cookie(state)) {
        tracing::error!(detail = %e, "removing the session cookie failed");
    }
    response
}
