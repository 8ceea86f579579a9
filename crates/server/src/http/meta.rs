//! Discovery, JWKS, health, the stylesheet, the home page and the language switcher.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::pages::{self, Frame, MessagePage};
use super::{blocking, browser_cookie, here, see_other, signed_in, translator, Browser, State, LANG_COOKIE};
use crate::i18n::Locale;
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

/// `/health/live`: the process serves HTTP. Touches no database, so an outage of the database
/// does not make an orchestrator restart healthy processes.
pub async fn health_live() -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({ "status": "ok" }))
}

/// How long readiness waits for a database connection.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

/// `/health/ready` (and `/health`): this node should get traffic: it is not draining and the
/// database answers within [`READY_TIMEOUT`].
pub async fn health_ready(state: State) -> HttpResponse {
    let unavailable = |status: &str| {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::RETRY_AFTER, super::error::RETRY_AFTER_SECONDS))
            .json(serde_json::json!({ "status": status }))
    };
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return unavailable("draining");
    }
    let timeout = READY_TIMEOUT.min(state.settings.acquire_timeout);
    match blocking(&state, move |s| Ok(s.store.ping(timeout))).await {
        Ok(Ok(())) => health_live().await,
        Ok(Err(e)) => {
            tracing::warn!(detail = %e, "readiness: the database is unavailable");
            unavailable("unavailable")
        }
        Err(e) => {
            tracing::error!(detail = %e.description, "readiness check failed");
            unavailable("unavailable")
        }
    }
}

/// The EDS signer of the login and cabinet pages (built from `web/` by `make assets`).
pub async fn eds_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(pages::EDS_SCRIPT)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(pages::STYLESHEET)
}

/// The cabinet for a signed-in person; otherwise what Yagona is and where to sign in.
pub async fn home(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let hash = browser.session_hash();
    match blocking(&state, move |s| signed_in(s, hash.as_deref(), now())).await {
        Ok(Some(_)) => see_other("/account"),
        Ok(None) => {
            let mut links = vec![("/login".to_owned(), t.t("home.sign_in"))];
            if state.settings.registration.enabled {
                links.push(("/register".to_owned(), t.t("home.register")));
            }
            let page = MessagePage {
                frame: Frame::new(t, here(&req)),
                title: t.t("home.title"),
                message: t.t("home.text"),
                links,
            };
            browser.finish(pages::render(StatusCode::OK, &page), &state)
        }
        Err(e) => super::error::PageError::from(e).page(t),
    }
}

pub async fn not_found(req: HttpRequest, state: State) -> HttpResponse {
    let t = translator(&req, &state, None);
    super::error::PageError::new(StatusCode::NOT_FOUND, "error.not_found_title", "error.not_found").page(t)
}

#[derive(Deserialize)]
pub struct SwitchLanguage {
    set: String,
    back: Option<String>,
}

/// Remembers the chosen language and goes back to the page (only to a path on this site,
/// [`super::return_to::same_origin_path`]).
pub async fn switch_language(state: State, query: web::Query<SwitchLanguage>) -> HttpResponse {
    let back = query
        .back
        .as_deref()
        .and_then(|b| super::return_to::same_origin_path(&state.settings.issuer, b))
        .unwrap_or_else(|| "/".to_owned());
    let mut response = see_other(&back);
    if let Some(locale) = Locale::from_tag(&query.set) {
        let cookie = browser_cookie(&state, LANG_COOKIE, locale.tag().to_owned(), 365 * 24 * 3600);
        if let Err(e) = response.add_cookie(&cookie) {
            tracing::error!(detail = %e, "setting the language cookie failed");
        }
    }
    response
}
