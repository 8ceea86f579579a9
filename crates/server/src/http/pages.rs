//! Server-rendered pages (askama templates in `templates/`) and the headers every page gets.

use std::sync::LazyLock;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Pages load only our own stylesheet; nothing may frame them.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// The form_post page runs exactly one inline script, allowed by its hash.
static FORM_POST_CSP: LazyLock<String> = LazyLock::new(|| {
    use sha2::Digest as _;
    let hash = STANDARD.encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    format!("default-src 'none'; script-src 'sha256-{hash}'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
});

pub fn html(status: StatusCode, body: String) -> HttpResponse {
    html_with_csp(status, body, PAGE_CSP)
}

fn html_with_csp(status: StatusCode, body: String, csp: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

/// Renders a template; a template that fails to render is a bug, logged and shown as an error.
pub fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(detail = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("The page could not be shown.")
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    render(status, &ErrorPage { title, message })
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub link: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub csrf_token: &'a str,
    pub interaction: Option<&'a str>,
    pub client_name: Option<&'a str>,
    pub login: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub csrf_token: &'a str,
    pub interaction: &'a str,
    pub client_name: &'a str,
    pub person: &'a str,
    pub scopes: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
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
    match (FormPostPage {
        action,
        fields,
        script: FORM_POST_SCRIPT,
    })
    .render()
    {
        Ok(body) => html_with_csp(StatusCode::OK, body, &FORM_POST_CSP),
        Err(e) => {
            tracing::error!(detail = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("The page could not be shown.")
        }
    }
}

/// What a person is asked to allow for each scope.
pub fn scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        "openid" => Some("Know who you are (an identifier for your account)"),
        "profile" => Some("Your name, birth date and login"),
        "email" => Some("Your e-mail address"),
        "phone" => Some("Your phone number"),
        "pinfl" => Some("Your PINFL and passport number"),
        "offline_access" => Some("Keep access while you are signed out"),
        _ => None,
    }
}

pub const STYLESHEET: &str = include_str!("../../assets/style.css");
