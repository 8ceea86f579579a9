//! The one place where errors become HTTP responses.
//!
//! - Token, introspection and revocation endpoints answer RFC 6749 5.2 JSON
//!   (`{error, error_description}`), 401 with `WWW-Authenticate: Basic` for `invalid_client`.
//! - Userinfo answers RFC 6750 3: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
//! - Pages answer a readable HTML page.
//!
//! Server errors never show their detail: the body is generic and the detail goes to the log,
//! on the request's span (which carries the request id).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use yagona_oidc::{ErrorCode, OAuthError};

use crate::http::pages;
use crate::i18n::Tr;

/// Seconds a client should wait before retrying after a 503 (the database is unavailable or
/// the node is draining).
pub const RETRY_AFTER_SECONDS: &str = "5";

/// Seconds a throttled client should wait (`client_auth.window_seconds`), set once at start.
pub static CLIENT_AUTH_RETRY_AFTER: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

fn log(error: &OAuthError) {
    if error.code == ErrorCode::ServerError {
        tracing::error!(detail = %error.description, "server error");
    } else if error.code == ErrorCode::TemporarilyUnavailable {
        tracing::warn!(description = %error.description, "request refused: temporarily unavailable");
    } else {
        tracing::info!(error = error.code.as_str(), description = %error.description, "request refused");
    }
}

fn public_description(error: &OAuthError) -> &str {
    if error.code == ErrorCode::ServerError {
        "the server could not complete the request; it has been logged"
    } else {
        &error.description
    }
}

/// An error of the token, introspection or revocation endpoint.
#[derive(Debug)]
pub struct ProtocolError(pub OAuthError);

impl From<OAuthError> for ProtocolError {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ProtocolError {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidClientThrottled => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        log(&self.0);
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.0.code == ErrorCode::InvalidClient {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"yagona\""));
        }
        if self.0.code == ErrorCode::TemporarilyUnavailable {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        if self.0.code == ErrorCode::InvalidClientThrottled {
            response.insert_header((header::RETRY_AFTER, CLIENT_AUTH_RETRY_AFTER.get().copied().unwrap_or(900)));
        }
        response.json(serde_json::json!({
            "error": self.0.code.as_str(),
            "error_description": public_description(&self.0),
        }))
    }
}

/// An error of a bearer-token protected resource (userinfo).
#[derive(Debug)]
pub struct BearerError(pub OAuthError);

impl From<OAuthError> for BearerError {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidScope => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        log(&self.0);
        let code = match self.0.code {
            ErrorCode::InvalidScope => "insufficient_scope",
            other => other.as_str(),
        };
        let description = public_description(&self.0).replace('"', "'");
        let mut response = HttpResponse::build(self.status_code());
        if self.0.code == ErrorCode::TemporarilyUnavailable {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        } else {
            let challenge = format!("Bearer realm=\"yagona\", error=\"{code}\", error_description=\"{description}\"");
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": code, "error_description": description }))
    }
}

/// An error shown to a person on a page: for an authorization request that cannot be redirected
/// back (unknown client, unregistered redirect URI), a stale link, a bad form. Title and message
/// are message keys, shown in the person's language; `detail` is technical text for developers.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: &'static str,
    pub detail: Option<String>,
    /// A way on besides the start page: (address, message key of its label).
    pub way_on: Option<(&'static str, &'static str)>,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: &'static str) -> Self {
        Self { status, title, message, detail: None, way_on: None }
    }

    pub fn bad_request(message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error.bad_request_title", message)
    }

    /// The authorization request is invalid and cannot be sent back to the client.
    pub fn authorization(error: OAuthError) -> Self {
        if matches!(error.code, ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable) {
            return Self::from(error);
        }
        log(&error);
        Self {
            detail: Some(format!("{}: {}", error.code.as_str(), error.description)),
            ..Self::new(StatusCode::BAD_REQUEST, "error.authorization_title", "error.authorization")
        }
    }

    pub fn expired_interaction() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error.expired_title", "error.expired")
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Offers `href` (labelled by the message key `label`) as the way on.
    pub fn with_way_on(mut self, href: &'static str, label: &'static str) -> Self {
        self.way_on = Some((href, label));
        self
    }

    /// The page, in the language of `t`.
    pub fn page(&self, t: Tr<'_>) -> HttpResponse {
        let mut response = pages::render(
            self.status,
            &pages::ErrorPage {
                frame: pages::Frame::new(t, "/"),
                title: t.t(self.title),
                message: t.t(self.message),
                detail: self.detail.as_deref(),
                way_on: self.way_on.map(|(href, label)| (href, t.t(label))),
            },
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

impl From<OAuthError> for PageError {
    fn from(error: OAuthError) -> Self {
        log(&error);
        if error.code == ErrorCode::ServerError {
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error.generic_title", "error.server")
        } else if error.code == ErrorCode::TemporarilyUnavailable {
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "error.generic_title", "error.unavailable")
        } else {
            Self::new(StatusCode::BAD_REQUEST, "error.bad_request_title", "error.form_incomplete")
                .with_detail(error.description.into_owned())
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// Without a request to choose a language from: English.
    fn error_response(&self) -> HttpResponse {
        self.page(crate::i18n::catalogues().for_locale(crate::i18n::Locale::En))
    }
}
