//! OpenID Connect Front-Channel Logout 1.0: when a session ends in the browser (RP-initiated
//! logout, the cabinet's sign-out, legacy single logout), the page that says so loads each client
//! of the session that registered a `frontchannel_logout_uri` in a hidden iframe, so that client
//! clears its own session in the same browser, then goes on (`<meta http-equiv="refresh">`,
//! which browsers run once the page and its iframes have loaded; the link is for a browser that
//! does not follow it).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use yagona_oidc::logout::frontchannel_logout_url;
use yagona_oidc::{OAuthError, OidcRepository as _};

use super::pages::{current_csp, render_with_csp, Frame};
use crate::i18n::Tr;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "frontchannel_logout.html")]
struct FrontChannelLogoutPage<'a> {
    frame: Frame<'a>,
    frames: &'a [url::Url],
    next: &'a str,
}

/// The front-channel logout URLs of the clients given a grant in the ended session `sid`
/// (with `iss` and `sid` for those that asked for them).
pub(super) fn logout_urls(s: &AppState, sid: &str) -> Result<Vec<url::Url>, OAuthError> {
    let mut urls = Vec::new();
    for id in s.store.session_client_ids(sid)? {
        if let Some(client) = s.clients.find(&s.store, &id)? {
            urls.extend(frontchannel_logout_url(&client, &s.settings.issuer, sid));
        }
    }
    Ok(urls)
}

/// The logged-out page that frames `urls` and then goes to `next`. Its Content-Security-Policy
/// is the pages' one with `frame-src` naming exactly the origins of those URLs.
pub(super) fn page(t: Tr<'static>, urls: &[url::Url], next: &str) -> HttpResponse {
    let mut origins: Vec<String> = urls.iter().map(|u| u.origin().ascii_serialization()).collect();
    origins.sort();
    origins.dedup();
    let csp = format!("{}; frame-src {}", current_csp(), origins.join(" "));
    let page = FrontChannelLogoutPage { frame: Frame::new(t, "/logout/done"), frames: urls, next };
    render_with_csp(StatusCode::OK, &page, &csp)
}
