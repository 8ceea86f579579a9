//! Password recovery by a confirmed e-mail address, and confirming that address (issue 14,
//! item 15; docs/recovery.md).
//!
//! `/recover` takes a login or a confirmed address and, whatever it finds, answers the same
//! "check your e-mail" page (no account enumeration); an account with a confirmed address gets a
//! one-time link (32 random bytes, stored as SHA-256, `mail.link_ttl` seconds, the newest link
//! only). The link's page sets a new password; spending the link, setting the password, ending
//! every session and revoking every grant is one transaction. Requests are throttled per
//! address and per account and audit-logged. An address is confirmed by a link of its own, sent
//! from the cabinet.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::{Account, AccountRepository as _, Email, Login};
use yagona_oidc::secrets::{hash_token, random_token};
use yagona_oidc::{OAuthError, OidcRepository as _};
use yagona_store::LinkPurpose;

use super::error::PageError;
use super::pages::{self, Field, Frame, MessagePage, RecoverFormPage};
use super::{blocking, see_other, signed_in, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

fn message_page(t: Tr<'_>, title: &str, message: &str, links: Vec<(String, &str)>) -> HttpResponse {
    pages::render(StatusCode::OK, &MessagePage { frame: Frame::new(t, "/"), title, message, links })
}

fn minutes(s: &AppState) -> String {
    (s.settings.mail.link_ttl / 60).to_string()
}

/// `GET /recover`: the form, or how else to recover where e-mail is off.
pub async fn request_page(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let response = request_form(t, &browser, &state, "", None, StatusCode::OK);
    browser.finish(response, &state)
}

fn request_form(
    t: Tr<'static>,
    browser: &Browser,
    state: &AppState,
    value: &str,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    if state.mailer.is_none() {
        return message_page(
            t,
            t.t("recover.title"),
            t.t("recover.unavailable"),
            vec![("/login".to_owned(), t.t("home.sign_in"))],
        );
    }
    let field = Field::new("identifier", t.t("recover.identifier"), "text", value).autocomplete("username");
    let page = RecoverFormPage {
        frame: Frame::new(t, "/recover"),
        title: t.t("recover.title"),
        intro: t.t("recover.intro"),
        action: "/recover",
        csrf_token: &browser.csrf,
        token: None,
        fields: vec![field],
        submit: t.t("recover.send"),
        error,
        hint: Some(t.t("recover.no_email")),
    };
    pages::render(status, &page)
}

#[derive(Deserialize)]
pub struct RequestForm {
    csrf_token: String,
    identifier: String,
}

enum Requested {
    Sent,
    Throttled,
}

/// `POST /recover`: sends a link to the confirmed address of the account named, if any.
pub async fn request_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<RequestForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return browser.finish(PageError::bad_request("error.form_expired").page(t), &state);
    }
    if state.mailer.is_none() {
        return see_other("/recover");
    }
    let address = browser.address.clone();
    let identifier = form.identifier.trim().to_owned();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let window_start = now - s.settings.login.window_seconds;
        // Reserve the attempt first, then look (a burst cannot all pass the check).
        let by_address = s.store.record_login_failure(&format!("recover:address:{address}"), now, window_start)?;
        if by_address > s.settings.mail.max_per_address {
            recovery_audit(s, now, None, serde_json::json!({ "outcome": "throttled", "address": address }));
            return Ok(Requested::Throttled);
        }
        let accounts: Vec<Account> = match Login::try_from(identifier.as_str()) {
            Ok(login) => s.store.find_account_by_login(&login).map_err(OAuthError::from)?.into_iter().collect(),
            Err(_) => match Email::try_from(identifier.as_str()) {
                Ok(email) => s.store.accounts_with_verified_email(email.as_str(), 5).map_err(OAuthError::from)?,
                Err(_) => Vec::new(),
            },
        };
        for account in accounts.iter().filter(|a| a.ensure_active().is_ok()) {
            let Some(email) = s.store.verified_email_of(&account.id).map_err(OAuthError::from)? else {
                recovery_audit(s, now, Some(account), serde_json::json!({ "outcome": "no_confirmed_email" }));
                continue;
            };
            let key = format!("recover:account:{}", account.id);
            if s.store.record_login_failure(&key, now, window_start)? > s.settings.mail.max_per_account {
                recovery_audit(s, now, Some(account), serde_json::json!({ "outcome": "throttled" }));
                continue;
            }
            let secret = random_token();
            let expires = now + s.settings.mail.link_ttl;
            s.store
                .issue_link(&hash_token(&secret), &account.id, LinkPurpose::ResetPassword, &email, now, expires)
                .map_err(OAuthError::from)?;
            let link = format!("{}/recover/reset?token={secret}", s.settings.issuer);
            let body = t.f(
                "recover.mail_body",
                &[("login", account.login.as_str()), ("minutes", &minutes(s)), ("link", &link)],
            );
            send(s, &email, t.t("recover.mail_subject"), &body)?;
            recovery_audit(s, now, Some(account), serde_json::json!({ "outcome": "sent", "to": mask(&email) }));
        }
        tracing::info!(found = accounts.len(), "password recovery asked for");
        Ok(Requested::Sent)
    })
    .await;
    let response = match outcome {
        Ok(Requested::Sent) => see_other("/recover/sent"),
        Ok(Requested::Throttled) => request_form(
            t,
            &browser,
            &state,
            &form.identifier,
            Some(t.t("recover.throttled").to_owned()),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}

fn send(s: &AppState, to: &str, subject: &str, body: &str) -> Result<(), OAuthError> {
    let Some(mailer) = &s.mailer else { return Err(OAuthError::server_error("e-mail is not configured")) };
    mailer
        .send(to, subject, body)
        .map_err(|e| OAuthError::new(yagona_oidc::ErrorCode::TemporarilyUnavailable, format!("e-mail: {e}")))
}

fn recovery_audit(s: &AppState, now: i64, account: Option<&Account>, detail: serde_json::Value) {
    let event = AuditEvent::new(AuditKind::RecoveryRequested, now, detail);
    crate::audit_log::record(
        &s.store,
        match account {
            Some(a) => event.about(&a.id),
            None => event,
        },
    );
}

/// `a***@example.uz`: enough for the trail, not the address.
fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

/// `GET /recover/sent`
pub async fn sent_page(req: HttpRequest, state: State) -> HttpResponse {
    let t = translator(&req, &state, None);
    let text = t.f("recover.sent", &[("minutes", &minutes(&state))]);
    message_page(t, t.t("recover.sent_title"), &text, vec![("/login".to_owned(), t.t("home.sign_in"))])
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn link_expired(t: Tr<'_>) -> HttpResponse {
    let mut response = message_page(
        t,
        t.t("recover.link_title"),
        t.t("recover.link_expired"),
        vec![("/recover".to_owned(), t.t("recover.ask_again")), ("/login".to_owned(), t.t("home.sign_in"))],
    );
    response.head_mut().status = StatusCode::GONE;
    response
}

/// `GET /recover/reset?token=`: the new-password form while the link is live.
pub async fn reset_page(req: HttpRequest, state: State, query: Query<TokenQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let token = query.token.clone().unwrap_or_default();
    let hash = hash_token(&token);
    let live = blocking(&state, move |s| {
        s.store.live_link(&hash, LinkPurpose::ResetPassword, now()).map_err(OAuthError::from)
    })
    .await;
    let response = match live {
        Ok(Some(_)) => reset_form(t, &browser, &state, &token, &[], StatusCode::OK),
        Ok(None) => link_expired(t),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}

fn reset_form(
    t: Tr<'static>,
    browser: &Browser,
    state: &AppState,
    token: &str,
    errors: &[(&'static str, String)],
    status: StatusCode,
) -> HttpResponse {
    let min = state.settings.password_min_length.to_string();
    let mut fields = vec![
        Field::new("new_password", t.t("account.new_password"), "password", "")
            .autocomplete("new-password")
            .help(t.f("register.password_help", &[("min", &min)])),
        Field::new("new_password_confirm", t.t("account.new_password_confirm"), "password", "")
            .autocomplete("new-password"),
    ];
    for field in &mut fields {
        field.error = errors.iter().find(|(name, _)| *name == field.name).map(|(_, m)| m.clone());
    }
    let page = RecoverFormPage {
        frame: Frame::new(t, "/recover"),
        title: t.t("recover.reset_title"),
        intro: t.t("recover.reset_intro"),
        action: "/recover/reset",
        csrf_token: &browser.csrf,
        token: Some(token),
        fields,
        submit: t.t("recover.save"),
        error: None,
        hint: None,
    };
    pages::render(status, &page)
}

#[derive(Deserialize)]
pub struct ResetForm {
    csrf_token: String,
    token: String,
    new_password: String,
    new_password_confirm: String,
}

enum Reset {
    Done,
    Invalid(Vec<(&'static str, yagona_account::AccountError)>),
    Gone,
}

/// `POST /recover/reset`: spends the link and sets the password; every session ends and every
/// grant is revoked.
pub async fn reset_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<ResetForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return browser.finish(PageError::bad_request("error.form_expired").page(t), &state);
    }
    let (token, password, confirm) = (form.token.clone(), form.new_password, form.new_password_confirm);
    let outcome = blocking(&state, move |s| {
        let now = now();
        let hash = hash_token(&token);
        let Some(account_id) = s.store.live_link(&hash, LinkPurpose::ResetPassword, now).map_err(OAuthError::from)?
        else {
            return Ok(Reset::Gone);
        };
        let Some(account) = s.store.find_account(&account_id).map_err(OAuthError::from)? else {
            return Ok(Reset::Gone);
        };
        let mut errors = Vec::new();
        if let Err(e) = s.password_policy().check(&password, &account.login) {
            errors.push(("new_password", e));
        }
        if password != confirm {
            errors.push(("new_password_confirm", yagona_account::AccountError::PasswordMismatch));
        }
        if !errors.is_empty() {
            return Ok(Reset::Invalid(errors));
        }
        let new_hash = s.passwords.hash(&password).map_err(OAuthError::from)?;
        match s.store.reset_password_with_link(&hash, &new_hash, now).map_err(OAuthError::from)? {
            Some(reset) => {
                tracing::info!(
                    account = %reset.account_id, sessions_ended = reset.sessions_ended,
                    grants_revoked = reset.grants_revoked, "password recovered by e-mail link"
                );
                // The forgotten password's failures no longer lock the account out.
                let key = format!("account:{}", account.login.as_str().to_lowercase());
                if let Err(e) = s.store.clear_login_failures(&key) {
                    tracing::warn!(detail = %e.description, "clearing the login throttle after a recovery failed");
                }
                Ok(Reset::Done)
            }
            None => Ok(Reset::Gone),
        }
    })
    .await;
    let response = match outcome {
        Ok(Reset::Done) => {
            let mut response = see_other("/recover/done");
            if let Err(e) = response.add_cookie(&super::session_removal_cookie(&state)) {
                tracing::error!(detail = %e, "removing the session cookie failed");
            }
            response
        }
        Ok(Reset::Invalid(errors)) => {
            let min = state.settings.password_min_length.to_string();
            let messages: Vec<(&'static str, String)> = errors
                .iter()
                .map(|(field, e)| (*field, t.t(&format!("validation.{}", e.code())).replace("{min}", &min)))
                .collect();
            reset_form(t, &browser, &state, &form.token, &messages, StatusCode::BAD_REQUEST)
        }
        Ok(Reset::Gone) => link_expired(t),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}

/// `GET /recover/done`
pub async fn done_page(req: HttpRequest, state: State) -> HttpResponse {
    let t = translator(&req, &state, None);
    message_page(t, t.t("recover.done_title"), t.t("recover.done"), vec![("/login".to_owned(), t.t("home.sign_in"))])
}

/// Sends the signed-in person a link confirming their e-mail address (`POST
/// /account/email/verify`, from the cabinet).
pub async fn send_verification(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let t = translator(&req, &state, None);
    super::account::cabinet_action(req, state, body, "email_sent", move |s, account, _: NoFields, now| {
        let Some(email) = account.email.clone() else { return Ok(()) };
        // Without a mail server there is nothing to send: refused before a link is written.
        if s.mailer.is_none() {
            return Err(OAuthError::invalid_request("e-mail is not configured on this server"));
        }
        let window_start = now - s.settings.login.window_seconds;
        let key = format!("verify:account:{}", account.id);
        if s.store.record_login_failure(&key, now, window_start)? > s.settings.mail.max_per_account {
            return Err(OAuthError::invalid_request("too many confirmation links asked for"));
        }
        let secret = random_token();
        let expires = now + s.settings.mail.link_ttl;
        s.store
            .issue_link(&hash_token(&secret), &account.id, LinkPurpose::VerifyEmail, &email, now, expires)
            .map_err(OAuthError::from)?;
        let link = format!("{}/email/verify?token={secret}", s.settings.issuer);
        let body = t.f("recover.verify_body", &[("email", &email), ("minutes", &minutes(s)), ("link", &link)]);
        send(s, &email, t.t("recover.verify_subject"), &body)
    })
    .await
}

#[derive(Deserialize)]
pub struct NoFields {}

/// `GET /email/verify?token=`: the link from the confirmation e-mail. Following it proves the
/// person reads the address (the link is single use and only works while the account's e-mail
/// is still that address).
pub async fn verify_email(req: HttpRequest, state: State, query: Query<TokenQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let hash = hash_token(query.token.as_deref().unwrap_or_default());
    let session = browser.session_hash();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let verified = s.store.verify_email_with_link(&hash, now).map_err(OAuthError::from)?;
        let signed_in = signed_in(s, session.as_deref(), now)?.is_some();
        Ok((verified, signed_in))
    })
    .await;
    match outcome {
        Ok((Some(_), true)) => see_other("/account?done=email_confirmed"),
        Ok((Some(_), false)) => message_page(
            t,
            t.t("account.email_confirmed"),
            t.t("account.email_confirmed"),
            vec![("/login".to_owned(), t.t("home.sign_in"))],
        ),
        Ok((None, _)) => link_expired(t),
        Err(e) => PageError::from(e).page(t),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masked_addresses_keep_only_the_first_letter_and_the_domain() {
        assert_eq!(super::mask("madina@example.uz"), "m***@example.uz");
        assert_eq!(super::mask("nope"), "***");
    }
}
