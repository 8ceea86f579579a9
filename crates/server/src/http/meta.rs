//! Discovery, JWKS, health, the stylesheet and the home page.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use yagona_account::AccountRepository as _;
use yagona_oidc::OidcRepository as _;

use super::pages::{self, MessagePage};
use super::{blocking, Browser, State};
use crate::state::now;

pub async fn discovery(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(state.discovery_json.clone())
}

pub async fn jwks(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(state.keys().jwks_json().to_owned())
}

pub async fn health(state: State) -> HttpResponse {
    match blocking(&state, |s| {
        s.store.find_client(&yagona_oidc::ClientId::try_from("-")?)
    })
    .await
    {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        Err(e) => {
            tracing::error!(detail = %e.description, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(pages::STYLESHEET)
}

pub async fn home(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let session_hash = browser.session_hash();
    let person = blocking(&state, move |s| {
        let Some(hash) = session_hash else {
            return Ok(None);
        };
        let Some(session) = s.store.find_session(&hash, now())? else {
            return Ok(None);
        };
        s.store
            .find_account(&session.account_id)
            .map(|a| a.map(|a| a.full_name()))
            .map_err(|e| yagona_oidc::OAuthError::server_error(e.to_string()))
    })
    .await;
    let response = match person {
        Ok(Some(name)) => pages::render(
            StatusCode::OK,
            &MessagePage {
                title: "You are signed in",
                message: &format!("Signed in as {name}."),
                link: Some(("/end_session", "Sign out")),
            },
        ),
        Ok(None) => pages::render(
            StatusCode::OK,
            &MessagePage {
                title: "Yagona",
                message:
                    "The unified identification service. Services you use send you here to sign in.",
                link: Some(("/login", "Sign in")),
            },
        ),
        Err(e) => return super::error::PageError::from(e).into_response(),
    };
    browser.finish(response, &state)
}

pub async fn not_found() -> HttpResponse {
    pages::error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}

impl IntoResponse for super::error::PageError {
    fn into_response(self) -> HttpResponse {
        use actix_web::ResponseError as _;
        self.error_response()
    }
}
