//! The registration wizard (user guide steps 1 to 5) as pages: `/register` (offer) ->
//! `/register/person` -> `/register/confirm` -> `/register/account` -> `/register/done`.
//!
//! The draft is kept server-side ([`Registration`]), named by a cookie and bound to the browser,
//! so the back button shows each step with what was entered, and it expires. A registration
//! started from a login page inside an authorization request returns to that relying party: the
//! new account is signed in and the authorization resumes.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::registration::{
    new_account, validate_credentials, validate_person, CredentialsForm, Draft, FieldErrors, PersonForm, Registration,
    Step,
};
use yagona_account::{AccountError, AccountRepository as _, PassportNumber, Pinfl};
use yagona_oidc::secrets::{hash_token, random_token};
use yagona_oidc::{AuthContext, OAuthError, OidcRepository as _};

use super::authorize::{live_interaction, start_session};
use super::error::PageError;
use super::pages::{self, Field, Frame, MessagePage, RegisterConfirmPage, RegisterFormPage, RegisterOfferPage};
use super::{blocking, browser_cookie, here, see_other, session_cookie, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

const REGISTRATION_COOKIE: &str = "yagona_registration";

/// The message for a field error, in the page's language.
fn message(t: Tr<'_>, error: &AccountError, min_length: usize) -> String {
    let key = format!("validation.{}", error.code());
    let text = t.t(&key).to_owned();
    text.replace("{min}", &min_length.to_string())
}

fn step_label(t: Tr<'_>, step: Step) -> String {
    t.f("register.step", &[("n", &step.number().to_string())])
}

/// The registration of this browser, if live.
fn current(s: &AppState, secret: Option<&str>, binding: &str) -> Result<Option<Registration>, OAuthError> {
    let Some(secret) = secret else { return Ok(None) };
    let found = s.store.find_registration(&hash_token(secret), now()).map_err(OAuthError::from)?;
    Ok(found.filter(|r| r.browser_hash == binding))
}

struct Request {
    browser: Browser,
    t: Tr<'static>,
    secret: Option<String>,
}

fn request(req: &HttpRequest, state: &AppState) -> Request {
    Request {
        browser: Browser::from_request(req, state),
        t: translator(req, state, None),
        secret: req.cookie(REGISTRATION_COOKIE).map(|c| c.value().to_owned()),
    }
}

/// Loads the registration for a step page; `Err` is the response to send instead (back to the
/// step the person is at, or to the start).
async fn load(state: &State, r: &Request, step: Step) -> Result<Registration, HttpResponse> {
    let (secret, binding) = (r.secret.clone(), r.browser.binding());
    match blocking(state, move |s| current(s, secret.as_deref(), &binding)).await {
        Ok(Some(registration)) if registration.draft.may_show(step) => Ok(registration),
        Ok(Some(registration)) => Err(see_other(path_of(registration.draft.current_step()))),
        Ok(None) => Err(see_other("/register")),
        Err(e) => Err(PageError::from(e).page(r.t)),
    }
}

fn path_of(step: Step) -> &'static str {
    match step {
        Step::Offer => "/register",
        Step::Person => "/register/person",
        Step::Confirm => "/register/confirm",
        Step::Credentials => "/register/account",
    }
}

fn disabled(t: Tr<'_>) -> HttpResponse {
    PageError::new(StatusCode::NOT_FOUND, "error.not_found_title", "error.not_found").page(t)
}

#[derive(Deserialize)]
pub struct OfferQuery {
    interaction: Option<String>,
}

fn offer_response(state: &AppState, r: &Request, here: String, interaction: Option<&str>, error: bool) -> HttpResponse {
    let t = r.t;
    let configured = state.settings.offer_texts.iter().find(|(l, _)| *l == t.locale).map(|(_, text)| text.as_str());
    let text = configured.unwrap_or_else(|| t.t("register.offer_text"));
    let page = RegisterOfferPage {
        frame: Frame::new(t, here),
        step: step_label(t, Step::Offer),
        csrf_token: &r.browser.csrf,
        paragraphs: text.split('\n').map(str::trim).filter(|p| !p.is_empty()).collect(),
        error: error.then(|| t.t("validation.offer_required")),
        interaction,
    };
    let status = if error { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    r.browser.finish(pages::render(status, &page), state)
}

pub async fn offer_page(req: HttpRequest, state: State, query: Query<OfferQuery>) -> HttpResponse {
    let r = request(&req, &state);
    if !state.settings.registration.enabled {
        return disabled(r.t);
    }
    offer_response(&state, &r, here(&req), query.interaction.as_deref(), false)
}

#[derive(Deserialize)]
pub struct OfferForm {
    csrf_token: String,
    accept_offer: Option<String>,
    interaction: Option<String>,
}

pub async fn offer_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let r = request(&req, &state);
    if !state.settings.registration.enabled {
        return disabled(r.t);
    }
    let form = match super::page_form::<OfferForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(r.t),
    };
    if !r.browser.csrf_matches(&form.csrf_token) {
        return r.browser.finish(PageError::bad_request("error.form_expired").page(r.t), &state);
    }
    let interaction = form.interaction.filter(|i| !i.is_empty());
    if form.accept_offer.as_deref() != Some("yes") {
        let here = match &interaction {
            Some(id) => format!("/register?interaction={id}"),
            None => "/register".to_owned(),
        };
        return offer_response(&state, &r, here, interaction.as_deref(), true);
    }
    let (secret, binding) = (r.secret.clone(), r.browser.binding());
    let result = blocking(&state, move |s| {
        let now = now();
        let storage = OAuthError::from;
        if let Some(mut registration) = current(s, secret.as_deref(), &binding)? {
            registration.draft.offer_accepted = true;
            if interaction.is_some() {
                registration.draft.return_interaction = interaction;
            }
            s.store.update_registration(&registration).map_err(storage)?;
            return Ok(None);
        }
        let secret = random_token();
        let draft = Draft { offer_accepted: true, return_interaction: interaction, ..Draft::default() };
        s.store
            .insert_registration(&Registration {
                id_hash: hash_token(&secret),
                browser_hash: binding,
                draft,
                created_at: now,
                expires_at: now + s.settings.registration.ttl,
            })
            .map_err(storage)?;
        Ok(Some(secret))
    })
    .await;
    match result {
        Ok(new_secret) => {
            let mut response = see_other("/register/person");
            if let Some(secret) = new_secret {
                let cookie = browser_cookie(&state, REGISTRATION_COOKIE, secret, state.settings.registration.ttl);
                if let Err(e) = response.add_cookie(&cookie) {
                    tracing::error!(detail = %e, "setting the registration cookie failed");
                }
            }
            r.browser.finish(response, &state)
        }
        Err(e) => PageError::from(e).page(r.t),
    }
}

fn with_errors<'a>(mut fields: Vec<Field<'a>>, errors: &FieldErrors, t: Tr<'_>, min: usize) -> Vec<Field<'a>> {
    for field in &mut fields {
        if let Some((_, e)) = errors.iter().find(|(name, _)| *name == field.name) {
            field.error = Some(message(t, e, min));
        }
    }
    fields
}

fn person_fields<'a>(t: Tr<'a>, form: &PersonForm) -> Vec<Field<'a>> {
    vec![
        Field::new("surname", t.t("register.surname"), "text", &form.surname).autocomplete("family-name"),
        Field::new("first_name", t.t("register.first_name"), "text", &form.first_name).autocomplete("given-name"),
        Field::new("middle_name", t.t("register.middle_name"), "text", &form.middle_name)
            .optional()
            .autocomplete("additional-name"),
        Field::new("birth_date", t.t("register.birth_date"), "date", &form.birth_date).autocomplete("bday"),
        Field::new("pinfl", t.t("register.pinfl"), "text", &form.pinfl).numeric().help(t.t("register.pinfl_help")),
        Field::new("passport", t.t("register.passport"), "text", &form.passport).help(t.t("register.passport_help")),
    ]
}

fn person_response(r: &Request, state: &AppState, form: &PersonForm, errors: &FieldErrors) -> HttpResponse {
    let t = r.t;
    let page = RegisterFormPage {
        frame: Frame::new(t, "/register/person"),
        step: step_label(t, Step::Person),
        title: t.t("register.person_title"),
        action: "/register/person",
        csrf_token: &r.browser.csrf,
        fields: with_errors(person_fields(t, form), errors, t, state.settings.password_min_length),
        submit: t.t("register.next"),
        back: Some("/register"),
        error: None,
        pinfl_taken: errors.iter().any(|(field, e)| *field == "pinfl" && matches!(e, AccountError::PinflTaken)),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    r.browser.finish(pages::render(status, &page), state)
}

pub async fn person_page(req: HttpRequest, state: State) -> HttpResponse {
    let r = request(&req, &state);
    let registration = match load(&state, &r, Step::Person).await {
        Ok(reg) => reg,
        Err(response) => return response,
    };
    let form = registration
        .draft
        .person
        .map(|p| PersonForm {
            surname: p.surname,
            first_name: p.first_name,
            middle_name: p.middle_name.unwrap_or_default(),
            birth_date: p.birth_date,
            pinfl: p.pinfl,
            passport: p.passport,
        })
        .unwrap_or_default();
    person_response(&r, &state, &form, &Vec::new())
}

#[derive(Deserialize)]
pub struct Csrf {
    csrf_token: String,
}

pub async fn person_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let r = request(&req, &state);
    let (csrf, form) =
        match super::page_form::<Csrf>(&body).and_then(|c| Ok((c, super::page_form::<PersonForm>(&body)?))) {
            Ok(pair) => pair,
            Err(e) => return e.page(r.t),
        };
    if !r.browser.csrf_matches(&csrf.csrf_token) {
        return PageError::bad_request("error.form_expired").page(r.t);
    }
    let mut registration = match load(&state, &r, Step::Person).await {
        Ok(reg) => reg,
        Err(response) => return response,
    };
    let checked = form.clone();
    let address = r.browser.address.clone();
    let result = blocking(&state, move |s| {
        let mut person = match validate_person(&checked, now()) {
            Ok(person) => person,
            Err(errors) => return Ok(Err(errors)),
        };
        if !reserve_check(s, &address)? {
            return Ok(Err(Vec::new()));
        }
        let pinfl = Pinfl::try_from(person.pinfl.as_str()).map_err(OAuthError::from)?;
        if s.store.find_account_by_pinfl(&pinfl).map_err(OAuthError::from)?.is_some() {
            return Ok(Err(vec![("pinfl", AccountError::PinflTaken)]));
        }
        let passport = PassportNumber::try_from(person.passport.as_str()).map_err(OAuthError::from)?;
        if s.store.find_account_by_passport(&passport).map_err(OAuthError::from)?.is_some() {
            return Ok(Err(vec![("passport", AccountError::PassportTaken)]));
        }
        person.surname = person.surname.trim().to_owned();
        registration.draft.person = Some(person);
        registration.draft.person_confirmed = false;
        s.store.update_registration(&registration).map_err(OAuthError::from)?;
        Ok(Ok(()))
    })
    .await;
    match result {
        Ok(Ok(())) => see_other("/register/confirm"),
        // No field errors and no success: the address is throttled.
        Ok(Err(errors)) if errors.is_empty() => throttled_page(r.t),
        Ok(Err(errors)) => {
            tracing::info!(fields = ?errors.iter().map(|(f, e)| (*f, e.code())).collect::<Vec<_>>(), "registration data refused");
            person_response(&r, &state, &form, &errors)
        }
        Err(e) => PageError::from(e).page(r.t),
    }
}

pub async fn confirm_page(req: HttpRequest, state: State) -> HttpResponse {
    let r = request(&req, &state);
    let registration = match load(&state, &r, Step::Confirm).await {
        Ok(reg) => reg,
        Err(response) => return response,
    };
    let Some(p) = registration.draft.person else { return see_other("/register/person") };
    let t = r.t;
    let rows = vec![
        (t.t("register.surname"), p.surname),
        (t.t("register.first_name"), p.first_name),
        (t.t("register.middle_name"), p.middle_name.unwrap_or_else(|| "—".into())),
        (t.t("register.birth_date"), p.birth_date),
        (t.t("register.pinfl"), p.pinfl),
        (t.t("register.passport"), p.passport),
    ];
    let page = RegisterConfirmPage {
        frame: Frame::new(t, "/register/confirm"),
        step: step_label(t, Step::Confirm),
        csrf_token: &r.browser.csrf,
        rows,
    };
    r.browser.finish(pages::render(StatusCode::OK, &page), &state)
}

pub async fn confirm_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let r = request(&req, &state);
    let csrf = match super::page_form::<Csrf>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(r.t),
    };
    if !r.browser.csrf_matches(&csrf.csrf_token) {
        return PageError::bad_request("error.form_expired").page(r.t);
    }
    let mut registration = match load(&state, &r, Step::Confirm).await {
        Ok(reg) => reg,
        Err(response) => return response,
    };
    registration.draft.person_confirmed = true;
    match blocking(&state, move |s| s.store.update_registration(&registration).map_err(OAuthError::from)).await {
        Ok(()) => see_other("/register/account"),
        Err(e) => PageError::from(e).page(r.t),
    }
}

fn credentials_response(
    r: &Request,
    state: &AppState,
    form: &CredentialsForm,
    errors: &FieldErrors,
    page_error: Option<String>,
    pinfl_taken: bool,
) -> HttpResponse {
    let t = r.t;
    let min = state.settings.password_min_length;
    let fields = vec![
        Field::new("login", t.t("login.login"), "text", &form.login)
            .autocomplete("username")
            .help(t.t("register.login_help")),
        Field::new("password", t.t("login.password"), "password", "")
            .autocomplete("new-password")
            .help(t.f("register.password_help", &[("min", &min.to_string())])),
        Field::new("password_confirm", t.t("register.password_confirm"), "password", "").autocomplete("new-password"),
        Field::new("phone", t.t("register.phone"), "tel", &form.phone)
            .autocomplete("tel")
            .help(t.t("register.phone_help")),
        Field::new("email", t.t("register.email"), "email", &form.email).optional().autocomplete("email"),
    ];
    let failed = !errors.is_empty() || page_error.is_some();
    let page = RegisterFormPage {
        frame: Frame::new(t, "/register/account"),
        step: step_label(t, Step::Credentials),
        title: t.t("register.account_title"),
        action: "/register/account",
        csrf_token: &r.browser.csrf,
        fields: with_errors(fields, errors, t, min),
        submit: t.t("register.create"),
        back: Some("/register/confirm"),
        error: page_error,
        pinfl_taken,
    };
    let status = if failed { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    r.browser.finish(pages::render(status, &page), state)
}

pub async fn credentials_page(req: HttpRequest, state: State) -> HttpResponse {
    let r = request(&req, &state);
    if let Err(response) = load(&state, &r, Step::Credentials).await {
        return response;
    }
    credentials_response(&r, &state, &CredentialsForm::default(), &Vec::new(), None, false)
}

enum Finish {
    Done {
        session_secret: String,
        interaction: Option<String>,
    },
    Invalid(FieldErrors),
    /// The PINFL or passport number was taken by a concurrent registration.
    Taken(AccountError),
    /// Too many existence checks from this address.
    Throttled,
}

/// Counts one of the wizard's existence checks (PINFL, passport, login) against the client
/// address: they tell whether an account exists, so a stranger may make only
/// `registration.max_checks_per_address` of them per `registration.checks_window_seconds`, every
/// submission counted (a registration needs two or three). `false`: refuse unchecked.
fn reserve_check(s: &AppState, address: &str) -> Result<bool, OAuthError> {
    let limits = &s.settings.registration;
    let now = now();
    let key = format!("registration:{address}");
    let reserved =
        s.store.reserve_attempt(&key, limits.max_checks_per_address, now - limits.checks_window_seconds, now)?;
    if !reserved {
        tracing::warn!("registration checks throttled");
        crate::metrics::throttle_hit("registration");
    }
    Ok(reserved)
}

/// The page of a throttled registration step: it says nothing about the data sent.
fn throttled_page(t: Tr<'static>) -> HttpResponse {
    PageError::new(StatusCode::TOO_MANY_REQUESTS, "register.throttled_title", "register.throttled").page(t)
}

pub async fn credentials_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let r = request(&req, &state);
    let (csrf, form) =
        match super::page_form::<Csrf>(&body).and_then(|c| Ok((c, super::page_form::<CredentialsForm>(&body)?))) {
            Ok(pair) => pair,
            Err(e) => return e.page(r.t),
        };
    if !r.browser.csrf_matches(&csrf.csrf_token) {
        return PageError::bad_request("error.form_expired").page(r.t);
    }
    let registration = match load(&state, &r, Step::Credentials).await {
        Ok(reg) => reg,
        Err(response) => return response,
    };
    let checked = form.clone();
    let (address, user_agent, old_session) =
        (r.browser.address.clone(), r.browser.user_agent.clone(), r.browser.session_hash());
    let binding = r.browser.binding();
    let result = blocking(&state, move |s| {
        let storage = OAuthError::from;
        let credentials = match validate_credentials(&checked, &s.password_policy()) {
            Ok(c) => c,
            Err(errors) => return Ok(Finish::Invalid(errors)),
        };
        if !reserve_check(s, &address)? {
            return Ok(Finish::Throttled);
        }
        if s.store.find_account_by_login(&credentials.login).map_err(storage)?.is_some() {
            return Ok(Finish::Invalid(vec![("login", AccountError::LoginTaken)]));
        }
        let Some(person) = &registration.draft.person else {
            return Err(OAuthError::server_error("registration without personal data at the last step"));
        };
        let now = now();
        let hash = s.passwords.hash(&checked.password).map_err(storage)?;
        let account = new_account(person, &credentials, hash, now).map_err(storage)?;
        // The database decides between concurrent registrations of one PINFL or login.
        match s.store.complete_registration(&registration.id_hash, &account) {
            Ok(()) => {}
            Err(AccountError::LoginTaken) => return Ok(Finish::Invalid(vec![("login", AccountError::LoginTaken)])),
            Err(AccountError::PinflTaken) => return Ok(Finish::Taken(AccountError::PinflTaken)),
            // Both may be taken (one PINFL registered twice at once): the database names one.
            Err(AccountError::PassportTaken) => match s.store.find_account_by_pinfl(&account.account().pinfl) {
                Ok(Some(_)) => return Ok(Finish::Taken(AccountError::PinflTaken)),
                Ok(None) => return Ok(Finish::Taken(AccountError::PassportTaken)),
                Err(e) => return Err(storage(e)),
            },
            Err(e) => return Err(storage(e)),
        }
        let account = account.into_account();
        tracing::info!(account = %account.id, "account registered");
        // The person has just chosen the password: sign them in, and return them to the service
        // they came from, if any.
        let interaction = registration.draft.return_interaction.clone();
        let client = match &interaction {
            Some(id) => live_interaction(s, id, &binding)?,
            None => None,
        };
        let auth = AuthContext::password(&account, now);
        let session_secret = start_session(
            s,
            &account,
            auth,
            old_session.as_deref(),
            client.as_ref().map(|(_, c)| c),
            (&address, user_agent.as_deref()),
            now,
        )?;
        if let Some((pending, _)) = &client {
            s.store.mark_interaction(&pending.id_hash, true, false)?;
        }
        Ok(Finish::Done { session_secret, interaction: client.and(interaction) })
    })
    .await;
    match result {
        Ok(Finish::Done { session_secret, interaction }) => {
            let target = match interaction {
                Some(id) => format!("/register/done?interaction={id}"),
                None => "/register/done".to_owned(),
            };
            let mut response = see_other(&target);
            let mut removal = browser_cookie(&state, REGISTRATION_COOKIE, String::new(), 0);
            removal.make_removal();
            for cookie in [session_cookie(&state, session_secret), removal] {
                if let Err(e) = response.add_cookie(&cookie) {
                    tracing::error!(detail = %e, "setting a cookie failed");
                }
            }
            response
        }
        Ok(Finish::Invalid(errors)) => credentials_response(&r, &state, &form, &errors, None, false),
        Ok(Finish::Taken(e)) => {
            let pinfl_taken = matches!(e, AccountError::PinflTaken);
            credentials_response(&r, &state, &form, &Vec::new(), Some(message(r.t, &e, 0)), pinfl_taken)
        }
        Ok(Finish::Throttled) => throttled_page(r.t),
        Err(e) => PageError::from(e).page(r.t),
    }
}

#[derive(Deserialize)]
pub struct DoneQuery {
    interaction: Option<String>,
}

pub async fn done_page(req: HttpRequest, state: State, query: Query<DoneQuery>) -> HttpResponse {
    let r = request(&req, &state);
    let t = r.t;
    let binding = r.browser.binding();
    let interaction = query.interaction.clone();
    let client = match interaction.clone() {
        Some(id) => blocking(&state, move |s| live_interaction(s, &id, &binding)).await.ok().flatten(),
        None => None,
    };
    let continue_text;
    let links = match (&client, &query.interaction) {
        (Some((_, client)), Some(id)) => {
            continue_text = t.f("register.continue", &[("client", &client.name)]);
            vec![
                (format!("/authorize/resume?interaction={id}"), continue_text.as_str()),
                ("/account".to_owned(), t.t("register.to_cabinet")),
            ]
        }
        _ => vec![("/account".to_owned(), t.t("register.to_cabinet"))],
    };
    let page = MessagePage {
        frame: Frame::new(t, here(&req)),
        title: t.t("register.done_title"),
        message: t.t("register.done_text"),
        links,
    };
    pages::render(StatusCode::OK, &page)
}
