//! The cabinet at `/account`: profile, password change, active sessions, the services the
//! person allowed, and recent logins.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::{Account, AccountRepository as _, AccountStatus};
use yagona_oidc::{ClientId, OAuthError, OidcRepository as _, Session};

use super::error::PageError;
use super::pages::{self, AccountPage, Field, Frame, HistoryRow, ServiceRow, SessionRow};
use super::{blocking, see_other, signed_in, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

/// A member of a company the person heads: (account, person, role, until).
type Member = (String, String, String, Option<i64>);

/// Everything the cabinet shows.
struct Cabinet {
    session: Session,
    account: Account,
    sessions: Vec<Session>,
    services: Vec<(ClientId, String, String, i64)>,
    certificates: Vec<yagona_account::eds::BoundCertificate>,
    memberships: Vec<(String, String, String)>,
    /// The companies the person heads: (TIN, name, members as (account, person, role, until)).
    heads: Vec<(String, String, Vec<Member>)>,
    roles: Vec<String>,
    /// EDS is configured (the "Register EDS" section is shown).
    eds: bool,
    eimzo: String,
    min_length: usize,
    history: Vec<(i64, String, String, String)>,
    /// The account's e-mail, if the person confirmed it.
    verified_email: Option<String>,
    /// E-mail can be sent (`mail.*`, or `--dev`).
    mail: bool,
}

fn load_cabinet(s: &AppState, session_hash: Option<&str>) -> Result<Option<Cabinet>, OAuthError> {
    let now = now();
    let Some((session, account)) = signed_in(s, session_hash, now)? else { return Ok(None) };
    let sessions = s.store.list_sessions(&account.id, now)?;
    let mut services = Vec::new();
    for consent in s.store.list_consents(&account.id)? {
        let name =
            s.store.find_client(&consent.client_id)?.map(|c| c.name).unwrap_or_else(|| consent.client_id.to_string());
        services.push((consent.client_id, name, consent.scopes.to_string(), consent.granted_at));
    }
    let mut history = Vec::new();
    for event in s.store.recent_logins(&account.id, 20)? {
        let client = match &event.client_id {
            Some(id) => s.store.find_client(id)?.map(|c| c.name).unwrap_or_else(|| id.to_string()),
            None => "Yagona".to_owned(),
        };
        history.push((event.at, event.method, client, event.address));
    }
    let certificates = s.store.list_certificates(&account.id).map_err(OAuthError::from)?;
    let memberships = {
        use yagona_account::legal::LegalRepository as _;
        s.store
            .memberships_of(&account.id, now)
            .map_err(OAuthError::from)?
            .into_iter()
            .map(|(e, m)| (e.name, e.tin.to_string(), m.role))
            .collect::<Vec<_>>()
    };
    let mut heads = Vec::new();
    {
        use yagona_account::legal::LegalRepository as _;
        for (entity, membership) in s.store.memberships_of(&account.id, now).map_err(OAuthError::from)? {
            if membership.role != yagona_account::legal::HEAD_ROLE {
                continue;
            }
            let mut members = Vec::new();
            for m in s.store.members(&entity.tin, now).map_err(OAuthError::from)? {
                if m.role == yagona_account::legal::HEAD_ROLE {
                    continue;
                }
                let person = s
                    .store
                    .find_account(&m.account_id)
                    .map_err(OAuthError::from)?
                    .map(|a| a.full_name())
                    .unwrap_or_default();
                members.push((m.account_id.to_string(), person, m.role, m.expires_at));
            }
            heads.push((entity.tin.to_string(), entity.name, members));
        }
    }
    Ok(Some(Cabinet {
        session,
        sessions,
        services,
        certificates,
        memberships,
        heads,
        roles: s.settings.legal.roles.clone(),
        history,
        eds: s.eds().is_some(),
        eimzo: s.settings.eds.eimzo_urls.join(" "),
        min_length: s.settings.password_min_length,
        verified_email: s.store.verified_email_of(&account.id).map_err(OAuthError::from)?,
        mail: s.mailer.is_some(),
        account,
    }))
}

/// Notices shown after an action (`?done=`), by message key.
fn notice_key(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "password" => Some("account.password_changed"),
        "session" => Some("account.session_ended"),
        "revoked" => Some("account.revoked"),
        "eds" => Some("eds.bound"),
        "legal" => Some("legal.linked"),
        "role" => Some("legal.role_granted"),
        "role_revoked" => Some("legal.role_revoked"),
        "contacts" => Some("account.contacts_saved"),
        "email_sent" => Some("account.email_link_sent"),
        "email_confirmed" => Some("account.email_confirmed"),
        _ => None,
    }
}

fn render_cabinet(
    t: Tr<'static>,
    browser: &Browser,
    cabinet: Cabinet,
    notice: Option<&'static str>,
    error: Option<String>,
    password_errors: &[(&'static str, String)],
) -> HttpResponse {
    let (eds_enabled, min_length) = (cabinet.eds, cabinet.min_length);
    let a = &cabinet.account;
    let status = match a.status {
        AccountStatus::Unconfirmed => "account.status_unconfirmed",
        AccountStatus::Confirmed => "account.status_confirmed",
        AccountStatus::Disabled => "account.status_disabled",
    };
    let mut profile = vec![
        (t.t("account.full_name"), a.full_name()),
        (t.t("register.birth_date"), pages::calendar_date(t, &a.birth_date.to_string())),
        (t.t("register.pinfl"), a.pinfl.to_string()),
        (t.t("login.login"), a.login.to_string()),
    ];
    if let Some(p) = &a.passport_number {
        profile.push((t.t("register.passport"), p.as_str().to_owned()));
    }
    if let Some(phone) = &a.phone {
        profile.push((t.t("register.phone"), phone.clone()));
    }
    if let Some(email) = &a.email {
        profile.push((t.t("register.email"), email.clone()));
    }
    // A session signed in with an EDS needs no current password: that is password recovery
    // (and how an account made at a first EDS login gets a password).
    let mut password_fields = Vec::new();
    if !signed_with_eds(&cabinet.session) {
        password_fields.push(
            Field::new("current_password", t.t("account.current_password"), "password", "")
                .autocomplete("current-password"),
        );
    }
    password_fields.extend([
        Field::new("new_password", t.t("account.new_password"), "password", "")
            .autocomplete("new-password")
            .help(t.f("register.password_help", &[("min", &min_length.to_string())])),
        Field::new("new_password_confirm", t.t("account.new_password_confirm"), "password", "")
            .autocomplete("new-password"),
    ]);
    let mut contact_fields = vec![
        Field::new("phone", t.t("register.phone"), "tel", a.phone.clone().unwrap_or_default())
            .optional()
            .autocomplete("tel")
            .help(t.t("register.phone_help")),
        Field::new("email", t.t("register.email"), "email", a.email.clone().unwrap_or_default())
            .optional()
            .autocomplete("email"),
    ];
    // The passport number is added once (an account made by EDS, or one taken over, has none);
    // changing it afterwards is the service desk's.
    if a.passport_number.is_none() {
        contact_fields.push(Field::new("passport", t.t("register.passport"), "text", "").optional().help(format!(
            "{} {}",
            t.t("register.passport_help"),
            t.t("account.passport_once")
        )));
    }
    for field in password_fields.iter_mut().chain(contact_fields.iter_mut()) {
        field.error = password_errors.iter().find(|(name, _)| *name == field.name).map(|(_, m)| m.clone());
    }
    let email_state = a.email.as_ref().map(|_| cabinet.verified_email.is_some());
    let page = AccountPage {
        frame: Frame::new(t, "/account"),
        csrf_token: &browser.csrf,
        notice: notice.map(|k| t.t(k)),
        error: error.clone(),
        profile,
        eds: eds_enabled,
        eimzo: cabinet.eimzo.clone(),
        memberships: cabinet
            .memberships
            .iter()
            .map(|(name, tin, role)| (name.clone(), tin.clone(), pages::role_name(t, role)))
            .collect(),
        heads: cabinet
            .heads
            .into_iter()
            .map(|(tin, name, members)| pages::HeadPanel {
                tin,
                name,
                members: members
                    .into_iter()
                    .map(|(account_id, person, role, until)| pages::MemberRow {
                        account_id,
                        person,
                        role_name: pages::role_name(t, &role),
                        role,
                        until: until.map(|at| pages::utc_day(t, at)).unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
        roles: cabinet.roles.iter().map(|r| (r.clone(), pages::role_name(t, r))).collect(),
        certificates: cabinet
            .certificates
            .iter()
            .map(|c| (c.common_name.clone(), c.serial.clone(), pages::day(t, c.valid_to)))
            .collect(),
        status: t.t(status),
        confirmed: a.status == AccountStatus::Confirmed,
        contact_fields,
        email_state,
        mail: cabinet.mail,
        status_help: (a.status == AccountStatus::Unconfirmed).then(|| t.t("account.status_help")),
        password_fields,
        sessions: cabinet
            .sessions
            .iter()
            .map(|s| SessionRow {
                sid: s.sid.clone(),
                device: pages::device(t, s.user_agent.as_deref()),
                started: pages::when(t, s.created_at),
                address: s.address.clone(),
                current: s.id_hash == cabinet.session.id_hash,
            })
            .collect(),
        services: cabinet
            .services
            .into_iter()
            .map(|(id, name, scopes, since)| ServiceRow {
                client_id: id.to_string(),
                name,
                scopes: pages::scope_names(t, &scopes),
                since: pages::day(t, since),
            })
            .collect(),
        history: cabinet
            .history
            .into_iter()
            .map(|(at, method, client, address)| HistoryRow {
                time: pages::when(t, at),
                method: match method.as_str() {
                    "password" => t.t("account.method_password").to_owned(),
                    "eds" => t.t("account.method_eds").to_owned(),
                    _ => method,
                },
                client,
                address,
            })
            .collect(),
    };
    let status = if error.is_some() || !password_errors.is_empty() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    pages::render(status, &page)
}

#[derive(Deserialize)]
pub struct CabinetQuery {
    done: Option<String>,
}

pub async fn cabinet(req: HttpRequest, state: State, query: Query<CabinetQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let hash = browser.session_hash();
    let response = match blocking(&state, move |s| load_cabinet(s, hash.as_deref())).await {
        Ok(Some(cabinet)) => render_cabinet(t, &browser, cabinet, notice_key(query.done.as_deref()), None, &[]),
        Ok(None) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

enum PasswordOutcome {
    Changed,
    Refused(Vec<(&'static str, yagona_account::AccountError)>),
    SignedOut,
}

pub async fn change_password(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<PasswordForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let hash = browser.session_hash();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let storage = OAuthError::from;
        let Some((session, account)) = signed_in(s, hash.as_deref(), now)? else {
            return Ok(PasswordOutcome::SignedOut);
        };
        // The current password is checked under the account's login throttle (a reservation
        // first, as at login): this form must not be a faster way to guess it. Once the limit is
        // reached the session ends: whoever is guessing is not the person who signed in.
        let throttle_key = super::authorize::account_throttle_key(account.login.as_str());
        if !signed_with_eds(&session) {
            let limits = &s.settings.login;
            let window_start = now - limits.window_seconds;
            if !s.store.reserve_attempt(&throttle_key, limits.max_failures_per_account, window_start, now)? {
                s.store.end_session(&session.id_hash, now)?;
                tracing::warn!(account = %account.id, "password change throttled: the session is ended");
                crate::metrics::throttle_hit("account");
                let detail = serde_json::json!({
                    "method": "password_change", "login": account.login.as_str(), "reason": "throttled",
                });
                crate::audit_log::record(
                    &s.store,
                    AuditEvent::new(AuditKind::LoginFailed, now, detail).by(&account.id).about(&account.id),
                );
                return Ok(PasswordOutcome::SignedOut);
            }
            if !s.passwords.verify(&form.current_password, &account.password_hash) {
                tracing::info!(account = %account.id, "password change refused: wrong current password");
                return Ok(PasswordOutcome::Refused(vec![(
                    "current_password",
                    yagona_account::AccountError::Required("current_password"),
                )]));
            }
            s.store.release_attempt(&throttle_key)?;
        }
        let mut errors = Vec::new();
        if let Err(e) = s.password_policy().check(&form.new_password, &account.login) {
            errors.push(("new_password", e));
        }
        if form.new_password != form.new_password_confirm {
            errors.push(("new_password_confirm", yagona_account::AccountError::PasswordMismatch));
        }
        if !errors.is_empty() {
            return Ok(PasswordOutcome::Refused(errors));
        }
        let new_hash = s.passwords.hash(&form.new_password).map_err(storage)?;
        s.store.set_password_hash(&account.id, &new_hash).map_err(storage)?;
        // Whoever knew the old password is signed out everywhere else.
        let ended = s.store.end_sessions_of(&account.id, Some(&session.id_hash), now)?;
        tracing::info!(account = %account.id, other_sessions_ended = ended, "password changed");
        Ok(PasswordOutcome::Changed)
    })
    .await;
    match outcome {
        Ok(PasswordOutcome::Changed) => see_other("/account?done=password"),
        Ok(PasswordOutcome::SignedOut) => see_other("/login"),
        Ok(PasswordOutcome::Refused(errors)) => {
            let min = state.settings.password_min_length;
            let messages: Vec<(&'static str, String)> = errors
                .iter()
                .map(|(field, e)| {
                    let text = if *field == "current_password" {
                        t.t("account.current_wrong").to_owned()
                    } else {
                        t.t(&format!("validation.{}", e.code())).replace("{min}", &min.to_string())
                    };
                    (*field, text)
                })
                .collect();
            cabinet_with_errors(t, browser, &state, &messages).await
        }
        Err(e) => PageError::from(e).page(t),
    }
}

/// The cabinet again, with the refused form's messages under its fields (a form that fails
/// validation is shown again; one that succeeds redirects).
async fn cabinet_with_errors(
    t: Tr<'static>,
    browser: Browser,
    state: &State,
    messages: &[(&'static str, String)],
) -> HttpResponse {
    let hash = browser.session_hash();
    match blocking(state, move |s| load_cabinet(s, hash.as_deref())).await {
        Ok(Some(cabinet)) => render_cabinet(t, &browser, cabinet, None, None, messages),
        Ok(None) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

/// A cabinet form that acts for the signed-in person: `{csrf_token, <field>}`.
#[derive(Deserialize)]
pub struct ActionForm<T> {
    csrf_token: String,
    #[serde(flatten)]
    fields: T,
}

/// Runs a cabinet action: checks the form and its CSRF token, then `act` for the signed-in
/// person; returns to the cabinet with the notice `done`, or to the login page.
pub(super) async fn cabinet_action<T, F>(
    req: HttpRequest,
    state: State,
    body: Bytes,
    done: &'static str,
    act: F,
) -> HttpResponse
where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: FnOnce(&AppState, &Account, T, i64) -> Result<(), OAuthError> + Send + 'static,
{
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<ActionForm<T>>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let hash = browser.session_hash();
    let result = blocking(&state, move |s| {
        let now = now();
        let Some((_, account)) = signed_in(s, hash.as_deref(), now)? else { return Ok(false) };
        act(s, &account, form.fields, now)?;
        Ok(true)
    })
    .await;
    match result {
        Ok(true) => see_other(&format!("/account?done={done}")),
        Ok(false) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

#[derive(Deserialize)]
pub struct EndSessionFields {
    sid: String,
}

pub async fn end_session(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    cabinet_action(req, state, body, "session", |s, account, form: EndSessionFields, now| {
        let ended = s.store.end_session_by_sid(&account.id, &form.sid, now)?;
        tracing::info!(account = %account.id, ended, "session ended from the cabinet");
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
pub struct RevokeFields {
    client_id: String,
}

pub async fn revoke_service(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    cabinet_action(req, state, body, "revoked", |s, account, form: RevokeFields, now| {
        let client = ClientId::try_from(form.client_id.as_str())?;
        s.store.revoke_consent(&account.id, &client, now)?;
        tracing::info!(account = %account.id, client_id = %client, "service access revoked from the cabinet");
        let event = yagona_account::audit::AuditEvent::new(
            yagona_account::audit::AuditKind::ConsentRevoked,
            now,
            serde_json::json!({ "client": client.as_str() }),
        );
        crate::audit_log::record(&s.store, event.by(&account.id).about(&account.id));
        Ok(())
    })
    .await
}

/// The cabinet again, with a message (a refused EDS signature).
pub async fn cabinet_with_error(
    _req: &HttpRequest,
    state: &State,
    t: Tr<'static>,
    browser: &Browser,
    message: String,
) -> HttpResponse {
    let hash = browser.session_hash();
    match blocking(state, move |s| load_cabinet(s, hash.as_deref())).await {
        Ok(Some(cabinet)) => render_cabinet(t, browser, cabinet, None, Some(message), &[]),
        Ok(None) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

/// Whether the person signed in to this session with an EDS (`amr` `swk`).
fn signed_with_eds(session: &Session) -> bool {
    session.auth.amr.iter().any(|m| m == "swk")
}

#[derive(Deserialize)]
pub struct ContactsForm {
    csrf_token: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    passport: String,
}

enum ContactsOutcome {
    Saved,
    Refused(Vec<(&'static str, yagona_account::AccountError)>),
    SignedOut,
}

/// `POST /account/contacts`: phone and e-mail (either may be emptied), and a passport number
/// where the account has none (an account created by EDS, one taken over). A changed e-mail is
/// no longer confirmed.
pub async fn save_contacts(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    use yagona_account::{AccountError, Email, PassportNumber, PhoneNumber};
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<ContactsForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let hash = browser.session_hash();
    let outcome = blocking(&state, move |s| {
        let Some((_, account)) = signed_in(s, hash.as_deref(), now())? else { return Ok(ContactsOutcome::SignedOut) };
        let optional = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let mut errors = Vec::new();
        let phone = optional(&form.phone).map(|p| PhoneNumber::try_from(p.as_str()).map(|p| p.as_str().to_owned()));
        let email = optional(&form.email).map(|e| Email::try_from(e.as_str()).map(|e| e.as_str().to_owned()));
        let passport = optional(&form.passport)
            .filter(|_| account.passport_number.is_none())
            .map(|p| PassportNumber::try_from(p.as_str()).map(|p| p.as_str().to_owned()));
        let mut take = |name: &'static str, value: Option<Result<String, AccountError>>| match value {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                errors.push((name, e));
                None
            }
            None => None,
        };
        let (phone, email, passport) = (take("phone", phone), take("email", email), take("passport", passport));
        if !errors.is_empty() {
            return Ok(ContactsOutcome::Refused(errors));
        }
        match s.store.set_contacts(&account.id, phone.as_deref(), email.as_deref(), passport.as_deref()) {
            Ok(()) => {}
            Err(e @ AccountError::PassportTaken) => return Ok(ContactsOutcome::Refused(vec![("passport", e)])),
            Err(e) => return Err(OAuthError::from(e)),
        }
        tracing::info!(account = %account.id, "contacts changed in the cabinet");
        Ok(ContactsOutcome::Saved)
    })
    .await;
    match outcome {
        Ok(ContactsOutcome::Saved) => see_other("/account?done=contacts"),
        Ok(ContactsOutcome::SignedOut) => see_other("/login"),
        Ok(ContactsOutcome::Refused(errors)) => {
            let messages: Vec<(&'static str, String)> =
                errors.iter().map(|(field, e)| (*field, t.t(&format!("validation.{}", e.code())).to_owned())).collect();
            cabinet_with_errors(t, browser, &state, &messages).await
        }
        Err(e) => PageError::from(e).page(t),
    }
}
