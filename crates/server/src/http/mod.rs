//! The HTTP surface: routes, the request-id middleware, cookies and the small helpers the
//! handlers share.

mod account;
mod acting;
mod authorize;
mod authorize_request;
mod client_address;
mod client_auth;
mod consent;
pub mod cors;
mod dynamic_registration;
mod eds;
mod eds_cabinet;
mod eds_takeover;
pub mod error;
mod frontchannel;
mod introspect;
mod legacy;
mod legal;
mod logout;
mod meta;
pub use pages::show_time;
mod dpop;
pub mod pages;
mod par;
mod recovery;
mod register;
pub mod return_to;
mod signature;
mod step_up;
mod token;
mod userinfo;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use tracing::Instrument as _;
use yagona_oidc::secrets::{constant_time_eq, hash_token, is_token_shaped, random_token};
use yagona_oidc::OAuthError;

use crate::discovery::*;
use crate::i18n::{catalogues, negotiate, Tr};
use crate::state::AppState;

pub type State = web::Data<AppState>;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/openid-configuration", web::get().to(meta::discovery))
        .route(JWKS_PATH, web::get().to(meta::jwks))
        .route("/health", web::get().to(meta::health_ready))
        .route("/health/live", web::get().to(meta::health_live))
        .route("/health/ready", web::get().to(meta::health_ready))
        .route("/assets/style.css", web::get().to(meta::stylesheet))
        .route("/assets/eds.js", web::get().to(meta::eds_script))
        .route("/", web::get().to(meta::home))
        .route("/lang", web::get().to(meta::switch_language))
        .route(AUTHORIZE_PATH, web::get().to(authorize_request::authorize_get))
        .route(AUTHORIZE_PATH, web::post().to(authorize_request::authorize_post))
        .route("/authorize/resume", web::get().to(authorize::resume))
        .route("/authorize/decline", web::post().to(step_up::decline))
        .route("/login", web::get().to(authorize::login_page))
        .route("/login", web::post().to(authorize::login_submit))
        .route("/consent", web::get().to(consent::consent_page))
        .route("/consent", web::post().to(consent::consent_submit))
        .route(TOKEN_PATH, web::post().to(token::token))
        .route(INTROSPECT_PATH, web::post().to(introspect::introspect))
        .route(REVOKE_PATH, web::post().to(token::revoke))
        .route(PAR_PATH, web::post().to(par::push))
        .route(REGISTRATION_PATH, web::post().to(dynamic_registration::register_client))
        .route(&format!("{REGISTRATION_PATH}/{{client_id}}"), web::get().to(dynamic_registration::read_client))
        .route(&format!("{REGISTRATION_PATH}/{{client_id}}"), web::put().to(dynamic_registration::update_client))
        .route(&format!("{REGISTRATION_PATH}/{{client_id}}"), web::delete().to(dynamic_registration::delete_client))
        .route(USERINFO_PATH, web::get().to(userinfo::userinfo_get))
        .route(USERINFO_PATH, web::post().to(userinfo::userinfo_post))
        .route(END_SESSION_PATH, web::get().to(logout::end_session_get))
        .route(END_SESSION_PATH, web::post().to(logout::end_session_post))
        .route("/end_session/confirm", web::post().to(logout::end_session_confirm))
        .route(yagona_oidc::legacy::ENDPOINT, web::get().to(legacy::endpoint_get))
        .route(yagona_oidc::legacy::ENDPOINT, web::post().to(legacy::endpoint_post))
        .route(yagona_oidc::legacy::SLO_PATH, web::get().to(legacy::single_logout))
        .route("/sso/{rest:.*}", web::post().to(legacy::unknown_endpoint))
        .route("/register", web::get().to(register::offer_page))
        .route("/register", web::post().to(register::offer_submit))
        .route("/register/person", web::get().to(register::person_page))
        .route("/register/person", web::post().to(register::person_submit))
        .route("/register/confirm", web::get().to(register::confirm_page))
        .route("/register/confirm", web::post().to(register::confirm_submit))
        .route("/register/account", web::get().to(register::credentials_page))
        .route("/register/account", web::post().to(register::credentials_submit))
        .route("/register/done", web::get().to(register::done_page))
        .route("/account", web::get().to(account::cabinet))
        .route("/account/password", web::post().to(account::change_password))
        .route("/account/contacts", web::post().to(account::save_contacts))
        .route("/account/email/verify", web::post().to(recovery::send_verification))
        .route("/email/verify", web::get().to(recovery::verify_email))
        .route("/recover", web::get().to(recovery::request_page))
        .route("/recover", web::post().to(recovery::request_submit))
        .route("/recover/sent", web::get().to(recovery::sent_page))
        .route("/recover/reset", web::get().to(recovery::reset_page))
        .route("/recover/reset", web::post().to(recovery::reset_submit))
        .route("/recover/done", web::get().to(recovery::done_page))
        .route("/logout/done", web::get().to(logout::done_page))
        .route("/account/sessions/end", web::post().to(account::end_session))
        .route("/account/services/revoke", web::post().to(account::revoke_service))
        .route("/account/eds/preview", web::post().to(eds_cabinet::cabinet_preview))
        .route("/account/eds/preview", web::get().to(eds_cabinet::cabinet_preview_page))
        .route("/account/eds/bind", web::post().to(eds_cabinet::cabinet_bind))
        .route("/eds/challenge", web::post().to(eds::challenge))
        .route("/account/legal/link", web::post().to(legal::link))
        .route("/account/legal/replace", web::get().to(legal::replace_page))
        .route("/account/legal/replace", web::post().to(legal::replace_submit))
        .route("/account/legal/grant", web::post().to(legal::grant))
        .route("/account/legal/revoke", web::post().to(legal::revoke))
        .route("/act_as", web::get().to(legal::act_as_page))
        .route("/act_as", web::post().to(legal::act_as_submit))
        .route("/login/eds", web::post().to(eds::login))
        .route("/login/eds/signup", web::get().to(eds::signup_page))
        .route("/login/eds/signup", web::post().to(eds::signup_submit))
        .route("/login/eds/takeover", web::get().to(eds_takeover::takeover_page))
        .route("/login/eds/takeover", web::post().to(eds_takeover::takeover_submit))
        .default_service(web::to(meta::not_found));
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id, a span carrying it (so every log line of the request names it),
/// and one summary line. Only the path is logged: query strings can carry tokens
/// (`id_token_hint`) and bodies carry secrets.
pub async fn request_span(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // A well-formed id from the load balancer is kept, so its logs and ours name one request.
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let https = req.app_data::<State>().is_some_and(|s| s.settings.issuer_is_https);
    let method = req.method().clone();
    let started = Instant::now();
    async move {
        let mut response = next.call(req).await?;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        let headers = response.headers_mut();
        headers.insert(actix_web::http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(actix_web::http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        // Over https (the issuer's scheme; TLS may end at a proxy in front) browsers are told to
        // use nothing else for a year. No includeSubDomains: other services may share the domain.
        if https {
            headers.insert(
                actix_web::http::header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            );
        }
        let elapsed = started.elapsed().as_secs_f64();
        tracing::info!(status = response.status().as_u16(), elapsed_ms = elapsed * 1000.0, "served");
        crate::metrics::request(route, &method, response.status().as_u16(), elapsed);
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Runs blocking work (database, password hashing, signing) on actix's blocking pool, inside the
/// request's span.
pub async fn blocking<T, F>(state: &State, f: F) -> Result<T, OAuthError>
where
    F: FnOnce(&AppState) -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    let span = tracing::Span::current();
    web::block(move || span.in_scope(|| f(&state)))
        .await
        .map_err(|e| OAuthError::server_error(format!("blocking task failed: {e}")))?
}

/// The cookie remembering the language the person chose on the switcher.
pub const LANG_COOKIE: &str = "yagona_lang";

/// The messages in the language of this request (see [`crate::i18n`]).
pub fn translator(req: &HttpRequest, state: &AppState, ui_locales: Option<&str>) -> Tr<'static> {
    let cookie = req.cookie(LANG_COOKIE).map(|c| c.value().to_owned());
    let accept = req.headers().get(actix_web::http::header::ACCEPT_LANGUAGE).and_then(|h| h.to_str().ok());
    let locale = negotiate(ui_locales, cookie.as_deref(), accept, state.settings.default_locale);
    catalogues().for_locale(locale)
}

/// This page's address (path and query), for the language switcher to return to.
pub fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    }
}

/// A cookie for browser state other than the session (registration, language).
pub fn browser_cookie(state: &AppState, name: &'static str, value: String, max_age: i64) -> Cookie<'static> {
    let mut cookie = base_cookie(name, value, state.settings.issuer_is_https);
    cookie.set_max_age(CookieDuration::seconds(max_age));
    cookie
}

/// The session of this browser with its person, if signed in.
pub fn signed_in(
    state: &AppState,
    browser_session_hash: Option<&str>,
    now: i64,
) -> Result<Option<(yagona_oidc::Session, yagona_account::Account)>, OAuthError> {
    use yagona_account::AccountRepository as _;
    use yagona_oidc::OidcRepository as _;
    let Some(hash) = browser_session_hash else { return Ok(None) };
    let Some(session) = state.store.find_session(hash, now)? else { return Ok(None) };
    let account = state.store.find_account(&session.account_id).map_err(OAuthError::from)?;
    Ok(account.filter(|a| a.ensure_active().is_ok()).map(|a| (session, a)))
}

/// The client an authorization request (OIDC or legacy) names; unknown, it is an error page.
pub async fn requesting_client(
    state: &State,
    id: Result<yagona_oidc::ClientId, OAuthError>,
) -> Result<yagona_oidc::Client, error::PageError> {
    use yagona_oidc::OidcRepository as _;
    let id = id.map_err(error::PageError::authorization)?;
    match blocking(state, move |s| s.store.find_client(&id)).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => {
            Err(error::PageError::authorization(OAuthError::invalid_request("the client_id is not registered here")))
        }
        Err(e) => Err(error::PageError::from(e)),
    }
}

/// Parses `application/x-www-form-urlencoded` pairs (a query string or a form body).
pub fn parse_pairs(input: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(input)
        .map_err(|_| OAuthError::invalid_request("the parameters are not valid form encoding"))
}

/// Parses the form a page posted (`application/x-www-form-urlencoded`) into `T`: every page form
/// comes through here. A control character in any name or value (NUL, which PostgreSQL refuses
/// in text, and the rest of C0, DEL and C1) refuses the whole form with a 400 page saying so;
/// line breaks and tabs are whitespace a browser may send, left to each field's validation.
/// Bytes that are not UTF-8 become U+FFFD (as browsers show them) and fail validation there.
pub fn page_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, error::PageError> {
    let has_control = |text: &str| text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    if url::form_urlencoded::parse(body).any(|(name, value)| has_control(&name) || has_control(&value)) {
        tracing::info!("form refused: control characters");
        return Err(error::PageError::bad_request("error.form_control_characters"));
    }
    serde_urlencoded::from_bytes(body).map_err(|_| error::PageError::bad_request("error.form_incomplete"))
}

/// The cookies that tie a browser to Yagona: the session and the CSRF token. Over https the
/// names take the `__Host-` prefix, which browsers only accept with Secure, Path=/ and no Domain.
pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
}

impl CookieNames {
    pub fn for_https(https: bool) -> Self {
        if https {
            Self { session: "__Host-yagona_session", csrf: "__Host-yagona_csrf" }
        } else {
            Self { session: "yagona_session", csrf: "yagona_csrf" }
        }
    }
}

/// What the browser sent: its CSRF token (a new one when it had none) and its session secret.
pub struct Browser {
    pub csrf: String,
    csrf_is_new: bool,
    pub session_secret: Option<String>,
    pub address: String,
    /// The `User-Agent` header, kept with a new session for the person's session list.
    pub user_agent: Option<String>,
}

impl Browser {
    pub fn from_request(req: &HttpRequest, state: &AppState) -> Self {
        let names = CookieNames::for_https(state.settings.issuer_is_https);
        let csrf = req.cookie(names.csrf).map(|c| c.value().to_owned()).filter(|v| is_token_shaped(v));
        let session_secret = req.cookie(names.session).map(|c| c.value().to_owned()).filter(|v| is_token_shaped(v));
        let address = client_address::client_address(req, &state.settings.trusted_proxies);
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().filter(|c| !c.is_control()).take(256).collect());
        Self {
            csrf_is_new: csrf.is_none(),
            csrf: csrf.unwrap_or_else(random_token),
            session_secret,
            address,
            user_agent,
        }
    }

    /// The hash an interaction stores to stay bound to this browser.
    pub fn binding(&self) -> String {
        hash_token(&self.csrf)
    }

    /// Whether a submitted form carries this browser's CSRF token (double-submit cookie).
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        !self.csrf_is_new && constant_time_eq(self.csrf.as_bytes(), submitted.as_bytes())
    }

    pub fn session_hash(&self) -> Option<String> {
        self.session_secret.as_deref().map(hash_token)
    }

    /// Sets the CSRF cookie when the browser had none.
    pub fn finish(&self, mut response: HttpResponse, state: &AppState) -> HttpResponse {
        if self.csrf_is_new {
            let names = CookieNames::for_https(state.settings.issuer_is_https);
            let cookie = base_cookie(names.csrf, self.csrf.clone(), state.settings.issuer_is_https);
            if let Err(e) = response.add_cookie(&cookie) {
                tracing::error!(detail = %e, "setting the CSRF cookie failed");
            }
        }
        response
    }
}

fn base_cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value).path("/").http_only(true).secure(secure).same_site(SameSite::Lax).finish()
}

/// The session cookie for a new session.
pub fn session_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    let names = CookieNames::for_https(state.settings.issuer_is_https);
    let mut cookie = base_cookie(names.session, secret, state.settings.issuer_is_https);
    cookie.set_max_age(CookieDuration::seconds(state.settings.lifetimes.session));
    cookie
}

/// A cookie that removes the session cookie.
pub fn session_removal_cookie(state: &AppState) -> Cookie<'static> {
    let names = CookieNames::for_https(state.settings.issuer_is_https);
    let mut cookie = base_cookie(names.session, String::new(), state.settings.issuer_is_https);
    cookie.make_removal();
    cookie
}

/// 303 See Other to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish()
}
