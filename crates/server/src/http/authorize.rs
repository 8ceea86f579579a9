//! The authorization endpoint and the pages a person passes through: login and consent.
//!
//! A request is parsed and validated ([`yagona_oidc::authorize`]); what it needs next is decided
//! by [`next_step`]. When the person must act, the validated request is stored as an interaction
//! bound to this browser, and the login or consent page carries only the interaction's id. Both
//! pages return to `/authorize/resume`, which decides again with what the person did meanwhile
//! (the interaction's `login_done` and `consent_done`).

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::{Account, AccountRepository as _, Login};
use yagona_oidc::assurance::Loa;
use yagona_oidc::authorize::{next_step, AuthorizationRequest, ErrorRedirect, NextStep, Progress};
use yagona_oidc::secrets::{hash_token, random_id, random_token};
use yagona_oidc::{
    AuthContext, AuthorizationCode, Client, ErrorCode, Grant, Interaction, LoginEvent, OAuthError, OidcRepository as _,
    ResponseMode, Session,
};

use super::error::PageError;
use super::pages::{self, Frame, LoginPage};
use super::{blocking, see_other, session_cookie, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

#[derive(Deserialize)]
pub struct InteractionQuery {
    pub interaction: String,
}

/// Where the login and consent pages return.
pub async fn resume(req: HttpRequest, state: State, query: actix_web::web::Query<InteractionQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let id = query.interaction.clone();
    let binding = browser.binding();
    let found = blocking(&state, move |s| live_interaction(s, &id, &binding)).await;
    match found {
        Ok(Some((interaction, client))) => {
            let t = translator(&req, &state, interaction.request.ui_locales.as_deref());
            let request = interaction.request.clone();
            let pending = Some((query.interaction.clone(), interaction));
            proceed(&state, t, browser, client, request, pending).await
        }
        Ok(None) => PageError::expired_interaction().page(translator(&req, &state, None)),
        Err(e) => PageError::from(e).page(translator(&req, &state, None)),
    }
}

/// What the decision leads to.
enum Outcome {
    Error(ErrorRedirect),
    Interact { page: &'static str, id: String },
    Code { request: Box<AuthorizationRequest>, code: String },
}

/// Decides and acts on the next step; `interaction` is the pending one (its id and record) when
/// the person returns from a page.
pub(super) async fn proceed(
    state: &State,
    t: Tr<'static>,
    browser: Browser,
    client: Client,
    request: AuthorizationRequest,
    interaction: Option<(String, Interaction)>,
) -> HttpResponse {
    let session_hash = browser.session_hash();
    let binding = browser.binding();
    let outcome = blocking(state, move |s| {
        let now = now();
        let mut session = match &session_hash {
            Some(hash) => s.store.find_session(hash, now)?,
            None => None,
        };
        // A choice of whom to act for that is no longer a live membership is not copied into a
        // new grant: the person chooses again (issue 11).
        if let Some(session) = session.as_mut().filter(|_| request.scopes.contains("legal")) {
            super::acting::forget_ended_choice(s, session, now)?;
        }
        let fail = |error: OAuthError| Outcome::Error(error_of(&request, error));
        // The person the request names: an `id_token_hint`'s `sub`, else a `sub` asked for with
        // a value in `claims` (OIDC Core 5.5.1). Either is the `sub` this client knows (pairwise,
        // perhaps): the session's account when it is that account's subject for the client.
        let named_subject = match &request.id_token_hint {
            Some(hint) => match s.with_issuer(|i| i.verify_id_token_hint(hint)) {
                Ok(hint) => Some(hint.sub),
                Err(e) => return Ok(fail(e)),
            },
            None => request.requested_subject().map(str::to_owned),
        };
        let hint_subject = named_subject.map(|sub| match &session {
            Some(session) if s.subjects.subject(&client, session.account_id.as_str()) == sub => {
                session.account_id.as_str().to_owned()
            }
            _ => sub,
        });
        let consent = match &session {
            Some(session) => s.store.find_consent(&session.account_id, &client.id)?,
            None => None,
        };
        let progress = interaction
            .as_ref()
            .map(|(_, i)| Progress { login_done: i.login_done, consent_done: i.consent_done })
            .unwrap_or_default();
        let step =
            next_step(&request, &client, session.as_ref(), hint_subject.as_deref(), consent.as_ref(), progress, now);
        let page = match step {
            Err(e) => return Ok(fail(e)),
            // Only EDS reaches `high`: without EDS sign-in on this server nobody can.
            Ok(NextStep::Login) if request.required_loa() == Some(Loa::High) && s.eds().is_none() => {
                return Ok(fail(OAuthError::new(
                    ErrorCode::UnmetAuthenticationRequirements,
                    "sign-in with EDS, needed for the requested acr, is not available",
                )))
            }
            Ok(NextStep::Login) => "/login",
            Ok(NextStep::Consent) => "/consent",
            Ok(NextStep::IssueCode) if needs_acting_choice(s, &request, session.as_ref(), now)? => "/act_as",
            Ok(NextStep::IssueCode) => {
                let Some(session) = session else {
                    return Err(OAuthError::server_error("issuing a code without a session"));
                };
                if let Some((_, pending)) = &interaction {
                    s.store.delete_interaction(&pending.id_hash)?;
                }
                let code = issue_code(s, &client, &request, &session, now)?;
                return Ok(Outcome::Code { request: Box::new(request), code });
            }
        };
        // From one page to the next the interaction stays the same.
        if let Some((id, _)) = interaction {
            return Ok(Outcome::Interact { page, id });
        }
        let id = random_token();
        s.store.insert_interaction(&Interaction {
            id_hash: hash_token(&id),
            browser_hash: binding,
            request,
            login_done: false,
            consent_done: false,
            created_at: now,
            expires_at: now + s.settings.lifetimes.interaction,
        })?;
        Ok(Outcome::Interact { page, id })
    })
    .await;
    let response = match outcome {
        Ok(Outcome::Error(r)) => error_redirect(state, t, r),
        Ok(Outcome::Interact { page, id }) => see_other(&format!("{page}?interaction={id}")),
        Ok(Outcome::Code { request, code }) => {
            let mut fields = vec![("code", code)];
            if let Some(s) = request.state {
                fields.push(("state", s));
            }
            fields.push(("iss", state.settings.issuer.clone()));
            respond_to_client(t, request.redirect_uri.as_str(), request.response_mode, &fields)
        }
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, state)
}

/// Scope `legal` asks whom the person acts for, once per session. A person without memberships
/// acts as an individual without being asked.
fn needs_acting_choice(
    s: &AppState,
    request: &AuthorizationRequest,
    session: Option<&Session>,
    now: i64,
) -> Result<bool, OAuthError> {
    let Some(session) = session else { return Ok(false) };
    if !request.scopes.contains("legal") || session.acting_as.is_some() {
        return Ok(false);
    }
    use yagona_account::legal::LegalRepository as _;
    let memberships = s.store.memberships_of(&session.account_id, now).map_err(OAuthError::from)?;
    if memberships.is_empty() {
        s.store.choose_acting_as(&session.id_hash, &yagona_oidc::ActingAs::Individual)?;
        return Ok(false);
    }
    Ok(true)
}

pub(super) fn error_of(request: &AuthorizationRequest, error: OAuthError) -> ErrorRedirect {
    ErrorRedirect {
        redirect_uri: request.redirect_uri.clone(),
        response_mode: request.response_mode,
        state: request.state.clone(),
        error,
    }
}

/// The login as the grant reports it: the session's, with the `acr` one of the values an
/// essential `acr` claim asked for when it named some (OIDC Core 5.5.1.1; the login met it, or
/// the request would not be here).
fn reported_auth(request: &AuthorizationRequest, session: &Session) -> AuthContext {
    let mut auth = session.auth.clone();
    if let Some(acr) = request.acr_to_report(auth.loa()) {
        auth.acr = acr.to_owned();
    }
    auth
}

/// Stores a grant and a single-use code for it; returns the code.
fn issue_code(
    s: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
    now: i64,
) -> Result<String, OAuthError> {
    let grant = Grant {
        id: random_id(),
        client_id: client.id.clone(),
        account_id: session.account_id.clone(),
        sid: session.sid.clone(),
        scopes: request.scopes.clone(),
        auth: reported_auth(request, session),
        acting_as: session.acting_as.clone(),
        resources: request.resources.clone(),
        created_at: now,
        revoked_at: None,
    };
    let code = random_token();
    s.store.insert_grant_with_code(
        &grant,
        &AuthorizationCode {
            hash: hash_token(&code),
            grant_id: grant.id.clone(),
            client_id: client.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            expires_at: now + s.settings.lifetimes.authorization_code,
            dpop_jkt: request.dpop_jkt.clone(),
        },
    )?;
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "authorization code issued");
    Ok(code)
}

/// Sends the authorization response (or error) to the client's verified redirect URI, with
/// `iss` (RFC 9207).
fn respond_to_client(t: Tr<'_>, redirect_uri: &str, mode: ResponseMode, fields: &[(&str, String)]) -> HttpResponse {
    match mode {
        ResponseMode::FormPost => pages::form_post(redirect_uri, fields),
        ResponseMode::Query => match url::Url::parse(redirect_uri) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())));
                see_other(url.as_str())
            }
            Err(_) => PageError::from(OAuthError::server_error("a registered redirect URI does not parse")).page(t),
        },
    }
}

pub(super) fn error_redirect(state: &State, t: Tr<'_>, r: ErrorRedirect) -> HttpResponse {
    if r.error.code == ErrorCode::ServerError {
        return PageError::from(r.error).page(t);
    }
    tracing::info!(error = r.error.code.as_str(), description = %r.error.description, "authorization refused");
    let mut fields =
        vec![("error", r.error.code.as_str().to_owned()), ("error_description", r.error.description.into_owned())];
    if let Some(s) = r.state {
        fields.push(("state", s));
    }
    fields.push(("iss", state.settings.issuer.clone()));
    respond_to_client(t, r.redirect_uri.as_str(), r.response_mode, &fields)
}

#[derive(Deserialize)]
pub struct LoginQuery {
    interaction: Option<String>,
}

/// The interaction an id names, if it is live and belongs to this browser.
pub fn live_interaction(
    s: &AppState,
    id: &str,
    browser_hash: &str,
) -> Result<Option<(Interaction, Client)>, OAuthError> {
    let Some(interaction) = s.store.find_interaction(&hash_token(id), now())? else { return Ok(None) };
    if interaction.browser_hash != browser_hash {
        return Ok(None);
    }
    Ok(s.store.find_client(&interaction.request.client_id)?.map(|c| (interaction, c)))
}

/// The login page's content, shared by the first showing and a refused attempt.
struct LoginView<'a> {
    interaction: Option<&'a str>,
    /// The relying party's name and the redirect URI the authorization returns to.
    client: Option<(&'a str, &'a str)>,
    login: &'a str,
    error: Option<String>,
    /// The level of assurance the interaction's request demands, if above `low`.
    step_up: Option<Loa>,
    /// On a step-up page: who this browser is signed in as.
    signed_in_as: Option<String>,
}

fn login_page_response(
    state: &AppState,
    t: Tr<'static>,
    browser: &Browser,
    status: StatusCode,
    view: LoginView<'_>,
) -> HttpResponse {
    let here = match view.interaction {
        Some(id) => format!("/login?interaction={id}"),
        None => "/login".to_owned(),
    };
    let register_href = state.settings.registration.enabled.then(|| match view.interaction {
        Some(id) => format!("/register?interaction={id}"),
        None => "/register".to_owned(),
    });
    let page = pages::render(
        status,
        &LoginPage {
            frame: Frame::new(t, here),
            csrf_token: &browser.csrf,
            interaction: view.interaction,
            continue_to: view.client.map(|(name, _)| t.f("login.continue_to", &[("client", name)])),
            login: view.login,
            error: view.error,
            register_href,
            eds: state.eds().is_some(),
            eimzo: state.settings.eds.eimzo_urls.join(" "),
            eds_required: view.step_up == Some(Loa::High),
            step_up_substantial: view.step_up == Some(Loa::Substantial),
            can_decline: view.step_up.is_some() && view.interaction.is_some(),
            signed_in_as: view.signed_in_as,
            recover: state.mailer.is_some(),
        },
    );
    match view.client {
        Some((_, redirect_uri)) => pages::allow_form_target(page, redirect_uri),
        None => page,
    }
}

/// The login page again, with a message (a refused EDS signature).
pub fn login_page_with_error(
    _req: &HttpRequest,
    state: &AppState,
    t: Tr<'static>,
    browser: &Browser,
    interaction: Option<&str>,
    client: Option<(&str, &str)>,
    message: String,
) -> HttpResponse {
    let view = LoginView {
        interaction: interaction.filter(|i| !i.is_empty()),
        client,
        login: "",
        error: Some(message),
        step_up: None,
        signed_in_as: None,
    };
    login_page_response(state, t, browser, StatusCode::UNAUTHORIZED, view)
}

pub async fn login_page(req: HttpRequest, state: State, query: actix_web::web::Query<LoginQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let interaction = query.interaction.clone();
    let (binding, session_hash) = (browser.binding(), browser.session_hash());
    let found = blocking(&state, move |s| {
        let found = match interaction {
            Some(id) => Some(live_interaction(s, &id, &binding)?),
            None => None,
        };
        // A step-up (to EDS) may sign in another person: say who is signed in now.
        let step_up = matches!(&found, Some(Some((i, _))) if i.request.step_up_level().is_some());
        let signed_in = match step_up {
            true => super::signed_in(s, session_hash.as_deref(), now())?.map(|(_, a)| (a.full_name(), a.login)),
            false => None,
        };
        Ok((found, signed_in))
    })
    .await;
    let interaction = query.interaction.clone();
    let response = match found {
        Ok((Some(None), _)) => PageError::expired_interaction().page(translator(&req, &state, None)),
        Ok((found, signed_in)) => {
            let found = found.flatten();
            let t = translator(&req, &state, found.as_ref().and_then(|(i, _)| i.request.ui_locales.as_deref()));
            let login_hint = found.as_ref().and_then(|(i, _)| i.request.login_hint.clone()).unwrap_or_default();
            let step_up = found.as_ref().and_then(|(i, _)| i.request.step_up_level());
            let view = LoginView {
                interaction: interaction.as_deref().filter(|_| found.is_some()),
                client: found.as_ref().map(|(i, c)| (c.name.as_str(), i.request.redirect_uri.as_str())),
                login: &login_hint,
                error: None,
                step_up,
                signed_in_as: signed_in.map(|(name, login)| {
                    t.f("login.signed_in_as", &[("name", name.as_str()), ("login", login.as_str())])
                }),
            };
            login_page_response(&state, t, &browser, StatusCode::OK, view)
        }
        Err(e) => PageError::from(e).page(translator(&req, &state, None)),
    };
    browser.finish(response, &state)
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    csrf_token: String,
    interaction: Option<String>,
}

enum LoginOutcome {
    LoggedIn {
        secret: String,
    },
    /// `client`: the relying party's name and the authorization's redirect URI.
    Refused {
        message: &'static str,
        status: StatusCode,
        client: Option<(String, String)>,
    },
    ExpiredInteraction,
}

/// Starts a session for `account` in this browser: a new session id at every login (no
/// fixation); the same person keeps their `sid`, so grants made earlier in this browser still end
/// with the session. Records the login in the person's history. Returns the cookie secret.
pub fn start_session(
    s: &AppState,
    account: &Account,
    auth: AuthContext,
    old_session_hash: Option<&str>,
    client: Option<&Client>,
    (address, user_agent): (&str, Option<&str>),
    now: i64,
) -> Result<String, OAuthError> {
    let previous = match old_session_hash {
        Some(hash) => s.store.find_session(hash, now)?,
        None => None,
    };
    let method = if auth.amr.iter().any(|m| m == "pwd") { "password" } else { "eds" };
    let secret = random_token();
    let mut session = Session {
        id_hash: hash_token(&secret),
        sid: random_id(),
        account_id: account.id.clone(),
        auth,
        address: address.to_owned(),
        acting_as: None,
        created_at: now,
        expires_at: now + s.settings.lifetimes.session,
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
    };
    match previous {
        Some(previous) if previous.account_id == account.id => {
            session.sid = previous.sid;
            s.store.replace_session(&previous.id_hash, &session)?;
        }
        Some(previous) => {
            s.store.end_session(&previous.id_hash, now)?;
            s.store.insert_session(&session)?;
        }
        None => s.store.insert_session(&session)?,
    }
    s.store.record_login(&LoginEvent {
        account_id: account.id.clone(),
        at: now,
        method: method.to_owned(),
        client_id: client.map(|c| c.id.clone()),
        address: address.to_owned(),
    })?;
    tracing::info!(account = %account.id, method, "login succeeded");
    let detail = serde_json::json!({
        "method": method, "login": account.login.as_str(), "address": address, "acr": session.auth.acr,
        "client": client.map(|c| c.id.as_str()),
    });
    crate::audit_log::record(
        &s.store,
        AuditEvent::new(AuditKind::LoginSucceeded, now, detail).by(&account.id).about(&account.id),
    );
    Ok(secret)
}

/// The throttle key of an account's password, as the person types the login: password logins
/// and the cabinet's password checks count under it.
pub fn account_throttle_key(login: &str) -> String {
    format!("account:{}", login.trim().to_lowercase())
}

pub async fn login_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<LoginForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        tracing::info!("login form refused: CSRF token mismatch");
        return browser.finish(PageError::bad_request("error.form_expired").page(t), &state);
    }
    let binding = browser.binding();
    let (address, user_agent) = (browser.address.clone(), browser.user_agent.clone());
    let old_session = browser.session_hash();
    let interaction = form.interaction.clone().filter(|i| !i.is_empty());
    let login_text = form.login.clone();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let (client, pending_hash, redirect_uri) = match &interaction {
            Some(id) => match live_interaction(s, id, &binding)? {
                Some((pending, client)) => {
                    (Some(client), Some(pending.id_hash), Some(pending.request.redirect_uri.as_str().to_owned()))
                }
                None => return Ok(LoginOutcome::ExpiredInteraction),
            },
            None => (None, None, None),
        };
        let refused = |message, status| LoginOutcome::Refused {
            message,
            status,
            client: client.as_ref().zip(redirect_uri.clone()).map(|(c, uri)| (c.name.clone(), uri)),
        };
        let limits = &s.settings.login;
        let window_start = now - limits.window_seconds;
        let account_key = account_throttle_key(&form.login);
        let address_key = format!("address:{address}");
        // The attempt is reserved under both keys before the password is checked (one conditional
        // statement each), so parallel guesses cannot all pass a check made before any was
        // counted; a successful login gives its reservations back.
        let locked = if !s.store.reserve_attempt(&account_key, limits.max_failures_per_account, window_start, now)? {
            Some("account")
        } else if !s.store.reserve_attempt(&address_key, limits.max_failures_per_address, window_start, now)? {
            s.store.release_attempt(&account_key)?;
            Some("address")
        } else {
            None
        };
        let login_failed = |reason: &str, account: Option<&Account>| {
            let detail = serde_json::json!({
                "method": "password", "login": form.login.trim(), "address": address, "reason": reason,
            });
            let event = AuditEvent::new(AuditKind::LoginFailed, now, detail);
            crate::audit_log::record(
                &s.store,
                match account {
                    Some(a) => event.about(&a.id),
                    None => event,
                },
            );
        };
        if let Some(locked) = locked {
            tracing::warn!(locked, "login throttled");
            login_failed("throttled", None);
            crate::metrics::throttle_hit(locked);
            crate::metrics::login("password", "throttled");
            return Ok(refused("login.throttled", StatusCode::TOO_MANY_REQUESTS));
        }
        let account = match Login::try_from(form.login.as_str()) {
            Ok(login) => s.store.find_account_by_login(&login).map_err(OAuthError::from)?,
            Err(_) => None,
        };
        let verified = match &account {
            Some(account) => s.passwords.verify(&form.password, &account.password_hash),
            None => {
                s.passwords.verify_decoy(&form.password);
                false
            }
        };
        let account = match account {
            Some(account) if verified => account,
            _ => {
                // The reservations stand: they are the failure's count.
                tracing::info!("login failed: wrong login or password");
                login_failed("wrong_login_or_password", account.as_ref());
                crate::metrics::login("password", "failure");
                return Ok(refused("login.wrong", StatusCode::UNAUTHORIZED));
            }
        };
        s.store.release_attempt(&address_key)?;
        if account.ensure_active().is_err() {
            s.store.release_attempt(&account_key)?;
            tracing::info!(account = %account.id, "login refused: account disabled");
            login_failed("disabled", Some(&account));
            crate::metrics::login("password", "disabled");
            return Ok(refused("login.disabled", StatusCode::FORBIDDEN));
        }
        s.store.clear_login_failures(&account_key)?;
        crate::metrics::login("password", "success");
        let auth = AuthContext::password(&account, now);
        let secret = start_session(
            s,
            &account,
            auth,
            old_session.as_deref(),
            client.as_ref(),
            (&address, user_agent.as_deref()),
            now,
        )?;
        if let Some(hash) = &pending_hash {
            s.store.mark_interaction(hash, true, false)?;
        }
        Ok(LoginOutcome::LoggedIn { secret })
    })
    .await;
    let response = match outcome {
        Ok(LoginOutcome::LoggedIn { secret }) => {
            let target = match &form.interaction {
                Some(id) if !id.is_empty() => format!("/authorize/resume?interaction={id}"),
                _ => "/account".to_owned(),
            };
            let mut response = see_other(&target);
            if let Err(e) = response.add_cookie(&session_cookie(&state, secret)) {
                return PageError::from(OAuthError::server_error(format!("session cookie: {e}"))).page(t);
            }
            response
        }
        Ok(LoginOutcome::Refused { message, status, client }) => {
            let view = LoginView {
                interaction: form.interaction.as_deref().filter(|i| !i.is_empty()),
                client: client.as_ref().map(|(name, uri)| (name.as_str(), uri.as_str())),
                login: &login_text,
                error: Some(t.t(message).to_owned()),
                step_up: None,
                signed_in_as: None,
            };
            login_page_response(&state, t, &browser, status, view)
        }
        Ok(LoginOutcome::ExpiredInteraction) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}
