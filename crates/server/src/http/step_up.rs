//! "I cannot sign in this way": the way out of a step-up login (the request demands a level of
//! assurance the session has not reached) for a person who cannot reach it.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_oidc::{ErrorCode, OAuthError, OidcRepository as _};

use super::authorize::{error_of, error_redirect, live_interaction};
use super::error::PageError;
use super::{blocking, translator, Browser, State};

#[derive(Deserialize)]
pub struct DeclineForm {
    csrf_token: String,
    interaction: String,
}

/// The person cannot sign in as the request demands ("I cannot sign in this way" on the step-up
/// login page): the relying party gets `unmet_authentication_requirements` (OpenID Connect Core
/// Unmet Authentication Requirements 1.0) instead of a weaker login passed off as the one asked
/// for.
pub async fn decline(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<DeclineForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let binding = browser.binding();
    let outcome = blocking(&state, move |s| {
        let Some((interaction, client)) = live_interaction(s, &form.interaction, &binding)? else { return Ok(None) };
        if interaction.request.step_up_level().is_none() {
            return Err(OAuthError::invalid_request("this sign-in asks for no particular level of assurance"));
        }
        s.store.delete_interaction(&interaction.id_hash)?;
        tracing::info!(client_id = %client.id, "step-up declined");
        Ok(Some(error_of(
            &interaction.request,
            OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "the person cannot sign in at the requested level of assurance",
            ),
        )))
    })
    .await;
    let response = match outcome {
        Ok(Some(redirect)) => error_redirect(&state, t, redirect),
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}
