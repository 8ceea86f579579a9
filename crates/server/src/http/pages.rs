//! Server-rendered pages (askama templates in `templates/`), in the person's language, and the
//! headers every page gets.

use std::sync::LazyLock;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::i18n::Tr;

/// Pages load only our own stylesheet (and scripts, when a page has one); nothing may frame them.
/// The pages' Content-Security-Policy. `connect-src` lets the EDS signer fetch its challenge and
/// reach E-IMZO's local WebSocket API (`eds.eimzo_urls`), set once at start.
static PAGE_CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn set_eimzo_sources(urls: &[String]) {
    let _ = PAGE_CSP.set(page_csp(urls));
}

fn page_csp(urls: &[String]) -> String {
    let sources: Vec<String> = urls
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .map(|u| {
            format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""))
                + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
        })
        .collect();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self' {}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        sources.join(" ")
    )
}

pub(super) fn current_csp() -> &'static str {
    PAGE_CSP.get_or_init(|| page_csp(&[]))
}

const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// The form_post page runs exactly one inline script, allowed by its hash.
static FORM_POST_CSP: LazyLock<String> = LazyLock::new(|| {
    use sha2::Digest as _;
    let hash = STANDARD.encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    format!("default-src 'none'; script-src 'sha256-{hash}'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
});

/// Pages use none of the browser's powerful features: they are all switched off for them (and for
/// anything they could embed).
const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), \
     hid=(), magnetometer=(), microphone=(), payment=(), serial=(), usb=(), xr-spatial-tracking=()";

fn html_with_csp(status: StatusCode, body: String, csp: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY))
        .body(body)
}

/// Lets a page's forms lead to `redirect_uri`'s origin as well as this site (CSP `form-action`).
/// Browsers apply `form-action` to every redirect that follows a form's submission, and the login,
/// consent, act-as and logout forms end in a redirect to the relying party (`/authorize/resume`
/// -> its redirect URI), so those pages allow exactly the origin of the request's verified
/// redirect URI (a scheme for a native app's private-use URI).
pub fn allow_form_target(mut response: HttpResponse, redirect_uri: &str) -> HttpResponse {
    let Ok(url) = url::Url::parse(redirect_uri) else { return response };
    let source = match url.origin() {
        url::Origin::Tuple(..) => url.origin().ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let headers = response.headers_mut();
    let csp = headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(csp) = csp {
        let widened = csp.replace("form-action 'self'", &format!("form-action 'self' {source}"));
        if let Ok(value) = header::HeaderValue::from_str(&widened) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

/// Renders a template; a template that fails to render is a bug, logged and shown as an error.
pub fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    render_with_csp(status, template, current_csp())
}

pub(super) fn render_with_csp(status: StatusCode, template: &impl Template, csp: &str) -> HttpResponse {
    match template.render() {
        Ok(body) => html_with_csp(status, body, csp),
        Err(e) => {
            tracing::error!(detail = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("The page could not be shown.")
        }
    }
}

/// What every page's frame needs: the messages and the address of the page itself (for the
/// language switcher to come back to).
#[derive(Clone)]
pub struct Frame<'a> {
    pub t: Tr<'a>,
    pub here: String,
}

impl<'a> Frame<'a> {
    pub fn new(t: Tr<'a>, here: impl Into<String>) -> Self {
        Self { t, here: here.into() }
    }

    /// Links of the language switcher: (tag, name, is the current language).
    pub fn languages(&self) -> Vec<(&'static str, &'static str, bool)> {
        crate::i18n::Locale::ALL.iter().map(|l| (l.tag(), l.native_name(), *l == self.t.locale)).collect()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub frame: Frame<'a>,
    pub title: &'a str,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    /// A way on besides the start page: (address, label).
    pub way_on: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub frame: Frame<'a>,
    pub title: &'a str,
    pub message: &'a str,
    pub links: Vec<(String, &'a str)>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub interaction: Option<&'a str>,
    pub continue_to: Option<String>,
    pub login: &'a str,
    pub error: Option<String>,
    pub register_href: Option<String>,
    /// EDS sign-in is offered (trust anchors are configured).
    pub eds: bool,
    /// The relying party asked for the highest assurance: only EDS will do.
    pub eds_required: bool,
    /// The relying party asked for `substantial`: EDS, or a confirmed account's password.
    pub step_up_substantial: bool,
    /// The person may say they cannot sign in at the level asked for.
    pub can_decline: bool,
    /// E-IMZO WebSocket URLs for the signer, space-separated.
    pub eimzo: String,
    /// Who this browser is signed in as, told on the EDS-only page before a step-up signs
    /// someone else in.
    pub signed_in_as: Option<String>,
    /// Password recovery by e-mail is offered (e-mail is configured).
    pub recover: bool,
}

#[derive(Template)]
#[template(path = "act_as.html")]
pub struct ActAsPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub interaction: &'a str,
    /// (form value, label)
    pub options: Vec<(String, String)>,
}

/// Shown before a person replaces a company's current head (issue 11): who the head is now, and
/// the certificates' dates; confirming posts the same signature again with `replace=yes`.
#[derive(Template)]
#[template(path = "legal_replace.html")]
pub struct LegalReplacePage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub explain: String,
    pub rows: Vec<(&'a str, String)>,
    /// The id of the kept signature the form confirms.
    pub pending: &'a str,
}

#[derive(Template)]
#[template(path = "eds_preview.html")]
pub struct EdsPreviewPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub rows: Vec<(&'a str, String)>,
    /// (field, entered, certificate) where confirming changes the account's data.
    pub differences: Vec<(String, String, String)>,
    /// The id of the kept signature the form confirms.
    pub pending: &'a str,
}

#[derive(Template)]
#[template(path = "eds_takeover.html")]
pub struct EdsTakeoverPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    /// The unproven account's data, contacts masked.
    pub account: Vec<(&'a str, String)>,
    pub rows: Vec<(&'a str, String)>,
    pub differences: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "eds_signup.html")]
pub struct EdsSignupPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub rows: Vec<(&'a str, String)>,
    pub paragraphs: Vec<&'a str>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub interaction: &'a str,
    pub question: String,
    pub intro: String,
    pub scopes: Vec<&'a str>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(&'a str, String)],
    pub script: &'a str,
}

/// The OAuth 2.0 Form Post response: an auto-submitting form to the client's redirect URI.
pub fn form_post(action: &str, fields: &[(&str, String)]) -> HttpResponse {
    render_with_csp(StatusCode::OK, &FormPostPage { action, fields, script: FORM_POST_SCRIPT }, &FORM_POST_CSP)
}

/// An input of a form page, with its value and, after a failed submit, its error.
pub struct Field<'a> {
    pub name: &'static str,
    pub label: &'a str,
    pub kind: &'static str,
    pub value: String,
    pub required: bool,
    pub autocomplete: &'static str,
    /// `numeric` for numbers typed on a phone's digit keypad (PINFL, TIN); empty otherwise.
    pub inputmode: &'static str,
    pub help: Option<String>,
    pub error: Option<String>,
}

impl<'a> Field<'a> {
    pub fn new(name: &'static str, label: &'a str, kind: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            label,
            kind,
            value: value.into(),
            required: true,
            autocomplete: "off",
            inputmode: "",
            help: None,
            error: None,
        }
    }
    /// A number: phones show the digit keypad.
    pub fn numeric(mut self) -> Self {
        self.inputmode = "numeric";
        self
    }
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
    pub fn autocomplete(mut self, value: &'static str) -> Self {
        self.autocomplete = value;
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

#[derive(Template)]
#[template(path = "register_offer.html")]
pub struct RegisterOfferPage<'a> {
    pub frame: Frame<'a>,
    pub step: String,
    pub csrf_token: &'a str,
    pub paragraphs: Vec<&'a str>,
    pub error: Option<&'a str>,
    pub interaction: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "register_form.html")]
pub struct RegisterFormPage<'a> {
    pub frame: Frame<'a>,
    pub step: String,
    pub title: &'a str,
    pub action: &'static str,
    pub csrf_token: &'a str,
    pub fields: Vec<Field<'a>>,
    pub submit: &'a str,
    pub back: Option<&'static str>,
    pub error: Option<String>,
    /// The PINFL has an account: offer the way on (log in, with the password or the EDS, or
    /// recover the password) instead of a dead end.
    pub pinfl_taken: bool,
}

#[derive(Template)]
#[template(path = "register_confirm.html")]
pub struct RegisterConfirmPage<'a> {
    pub frame: Frame<'a>,
    pub step: String,
    pub csrf_token: &'a str,
    pub rows: Vec<(&'a str, String)>,
}

/// The password-recovery forms: ask for a link, set the new password.
#[derive(Template)]
#[template(path = "recover_form.html")]
pub struct RecoverFormPage<'a> {
    pub frame: Frame<'a>,
    pub title: &'a str,
    pub intro: &'a str,
    pub action: &'static str,
    pub csrf_token: &'a str,
    /// The link's secret, carried by the new-password form.
    pub token: Option<&'a str>,
    pub fields: Vec<Field<'a>>,
    pub submit: &'a str,
    pub error: Option<String>,
    pub hint: Option<&'a str>,
}

/// A role's name in the page's language: the catalogue's roles (`Common For Head`, `Accountant`,
/// `Employee`) are translated (`role.common_for_head`); a role an operator added is shown as named.
pub fn role_name(t: Tr<'_>, role: &str) -> String {
    let key = format!("role.{}", role.trim().to_lowercase().replace(' ', "_"));
    match t.t(&key) {
        found if found == key => role.to_owned(),
        found => found.to_owned(),
    }
}

/// Scopes as the cabinet lists them, each named in the page's language (`scope_name.email`);
/// a scope without a name is shown as it is.
pub fn scope_names(t: Tr<'_>, scopes: &str) -> String {
    scopes
        .split_whitespace()
        .map(|scope| {
            let key = format!("scope_name.{scope}");
            match t.t(&key) {
                found if found == key => scope.to_owned(),
                found => found.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A browser and its system, read simply from a `User-Agent` ("Chrome on Android"), for the
/// person to recognise their sessions; not for any decision.
pub fn device(t: Tr<'_>, user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return t.t("account.device_unknown").to_owned();
    };
    let browser = [
        ("YaBrowser/", "Yandex Browser"),
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(os)) => t.f("account.device", &[("browser", browser), ("os", os)]),
        (Some(name), None) | (None, Some(name)) => name.to_owned(),
        (None, None) => t.t("account.device_unknown").to_owned(),
    }
}

/// One row of the cabinet's session list.
pub struct SessionRow {
    pub sid: String,
    pub device: String,
    pub started: String,
    pub address: String,
    pub current: bool,
}

/// One row of the cabinet's services.
pub struct ServiceRow {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub since: String,
}

/// A company the person heads, and its members.
pub struct HeadPanel {
    pub tin: String,
    pub name: String,
    pub members: Vec<MemberRow>,
}

/// A member of a company the person heads.
pub struct MemberRow {
    pub account_id: String,
    pub person: String,
    /// The role as stored (the revoke form sends it back).
    pub role: String,
    /// The role in the page's language.
    pub role_name: String,
    pub until: String,
}

/// One row of the login history.
pub struct HistoryRow {
    pub time: String,
    pub method: String,
    pub client: String,
    pub address: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub frame: Frame<'a>,
    pub csrf_token: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<String>,
    pub profile: Vec<(&'a str, String)>,
    pub eds: bool,
    pub eimzo: String,
    pub certificates: Vec<(String, String, String)>,
    /// (company, TIN, role)
    pub memberships: Vec<(String, String, String)>,
    /// The companies the person heads, with their members.
    pub heads: Vec<HeadPanel>,
    /// The role catalogue: (role, its name in the page's language).
    pub roles: Vec<(String, String)>,
    pub status: &'a str,
    pub status_help: Option<&'a str>,
    /// Confirmed with an EDS: the EDS section offers a renewed certificate, the legal-entity
    /// link form is shown (to an unconfirmed person it says why not).
    pub confirmed: bool,
    /// Phone, e-mail and (while the account has none) the passport number.
    pub contact_fields: Vec<Field<'a>>,
    /// With an e-mail: whether it is confirmed.
    pub email_state: Option<bool>,
    /// E-mail can be sent (a confirmation link can be asked for).
    pub mail: bool,
    pub password_fields: Vec<Field<'a>>,
    pub sessions: Vec<SessionRow>,
    pub services: Vec<ServiceRow>,
    pub history: Vec<HistoryRow>,
}

pub const STYLESHEET: &str = include_str!("../../assets/style.css");
pub const EDS_SCRIPT: &str = include_str!("../../assets/eds.js");

/// The time zone of the dates on pages (`ui.time_zone`), set once at start.
static TIME_ZONE: std::sync::OnceLock<chrono_tz::Tz> = std::sync::OnceLock::new();

pub fn set_time_zone(zone: chrono_tz::Tz) {
    let _ = TIME_ZONE.set(zone);
}

fn zone() -> chrono_tz::Tz {
    *TIME_ZONE.get_or_init(|| chrono_tz::Asia::Tashkent)
}

fn local(unix: i64) -> Option<chrono::DateTime<chrono_tz::Tz>> {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.with_timezone(&zone()))
}

/// A day as people read it in the page's language: `12 May 2026`, `12 мая 2026`, `12-may 2026`.
pub fn day(t: Tr<'_>, unix: i64) -> String {
    local(unix).map(|at| day_of(t, at)).unwrap_or_default()
}

/// The calendar day of a UTC day boundary (a role's expiry is the end of the chosen day, UTC).
pub fn utc_day(t: Tr<'_>, unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|at| day_of(t, at)).unwrap_or_default()
}

/// A calendar date (`YYYY-MM-DD`, a birth date) in the page's language; as given if unreadable.
pub fn calendar_date(t: Tr<'_>, date: &str) -> String {
    match chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(d) => day_of(t, d.and_time(chrono::NaiveTime::MIN).and_utc()),
        Err(_) => date.to_owned(),
    }
}

fn day_of<Z: chrono::TimeZone>(t: Tr<'_>, at: chrono::DateTime<Z>) -> String {
    use chrono::Datelike as _;
    let month = t.t("time.months").split(',').nth(at.month0() as usize).unwrap_or_default().trim().to_owned();
    t.f("time.date", &[("day", &at.day().to_string()), ("month", &month), ("year", &at.year().to_string())])
}

/// A moment as people read it: the day in the page's language and the time of day (24 h) in
/// `ui.time_zone`.
pub fn when(t: Tr<'_>, unix: i64) -> String {
    let Some(at) = local(unix) else { return String::new() };
    t.f("time.date_time", &[("date", &day(t, unix)), ("time", &at.format("%H:%M").to_string())])
}

/// A unix time as the command line shows it (UTC, ISO 8601).
pub fn show_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::i18n::{Catalogues, Locale};

    fn tr(locale: Locale) -> crate::i18n::Tr<'static> {
        static CATALOGUES: std::sync::LazyLock<Catalogues> =
            std::sync::LazyLock::new(|| Catalogues::load().expect("catalogues load"));
        CATALOGUES.for_locale(locale)
    }

    #[test]
    fn dates_are_written_in_the_language_and_in_tashkent() {
        // 2026-05-11 20:30 UTC is 12 May, 01:30 in Tashkent (UTC+5).
        let at = 1_778_531_400;
        assert_eq!(super::when(tr(Locale::En), at), "12 May 2026, 01:30");
        assert_eq!(super::when(tr(Locale::Ru), at), "12 мая 2026, 01:30");
        assert_eq!(super::day(tr(Locale::UzLatn), at), "12-may 2026");
        assert_eq!(super::calendar_date(tr(Locale::Ru), "1990-12-05"), "5 декабря 1990");
        // A role's expiry, the end of a UTC day, stays that day.
        assert_eq!(super::utc_day(tr(Locale::En), 1_778_543_999), "11 May 2026");
    }

    #[test]
    fn devices_are_read_simply_from_the_user_agent() {
        let t = tr(Locale::En);
        let android =
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
        assert_eq!(super::device(t, Some(android)), "Chrome on Android");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                      Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(super::device(t, Some(iphone)), "Safari on iPhone");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 \
                    Safari/537.36 Edg/126.0";
        assert_eq!(super::device(t, Some(edge)), "Edge on Windows");
        assert_eq!(super::device(t, None), "an unknown browser");
        assert_eq!(super::device(t, Some("curl/8.5")), "an unknown browser");
    }

    #[test]
    fn roles_and_scopes_are_named_in_the_language() {
        assert_eq!(super::role_name(tr(Locale::Ru), "Accountant"), "Бухгалтер");
        assert_eq!(super::role_name(tr(Locale::Ru), "Cashier"), "Cashier", "an operator's own role as written");
        assert_eq!(super::scope_names(tr(Locale::En), "openid email custom"), "Identifier, E-mail, custom");
    }
}
