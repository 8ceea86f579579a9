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

fn log(error: &OAuthError) {
    if error.code == ErrorCode::ServerError {
        tracing::error!(detail = %error.description, "server error");
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
        let challenge = format!(
            "Bearer realm=\"yagona\", error=\"{code}\", error_description=\"{description}\""
        );
        HttpResponse::build(self.status_code())
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": code, "error_description": description }))
    }
}

/// An error shown to a person on a page: for an authorization request that cannot be redirected
/// back (unknown client, unregistered redirect URI), a stale login link, a bad form.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "The request cannot be completed",
            message,
        )
    }

    /// The authorization request is invalid and cannot be sent back to the client.
    pub fn authorization(error: OAuthError) -> Self {
        if error.code == ErrorCode::ServerError {
            return Self::from(error);
        }
        log(&error);
        Self::new(
            StatusCode::BAD_REQUEST,
            "The service sent an invalid sign-in request",
            format!(
                "{} ({}). Go back to the service and try again, or tell its operator.",
                error.description,
                error.code.as_str()
            ),
        )
    }

    pub fn expired_interaction() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "This sign-in page has expired",
            "Go back to the service you came from and start signing in again.",
        )
    }
}

impl From<OAuthError> for PageError {
    fn from(error: OAuthError) -> Self {
        log(&error);
        if error.code == ErrorCode::ServerError {
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete the request. Please try again later.",
            )
        } else {
            Self::bad_request(error.description.into_owned())
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

    fn error_response(&self) -> HttpResponse {
        pages::error_page(self.status, self.title, &self.message)
    }
}
