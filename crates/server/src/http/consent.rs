//! The consent page: what a relying party asks for, and the person's answer (remembered per
//! client, together with what was allowed before).

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_oidc::{Consent, ErrorCode, OAuthError, OidcRepository as _, Scopes};

use super::authorize::{error_of, error_redirect, live_interaction, InteractionQuery};
use super::error::PageError;
use super::pages::{self, ConsentPage, Frame};
use super::{blocking, here, see_other, translator, Browser, State};
use crate::state::now;

pub async fn consent_page(
    req: HttpRequest,
    state: State,
    query: actix_web::web::Query<InteractionQuery>,
) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let binding = browser.binding();
    let session_hash = browser.session_hash();
    let id = query.interaction.clone();
    let found = blocking(&state, move |s| {
        let Some((interaction, client)) = live_interaction(s, &id, &binding)? else { return Ok(None) };
        let Some((_, account)) = super::signed_in(s, session_hash.as_deref(), now())? else { return Ok(None) };
        Ok(Some((interaction, client, account.full_name())))
    })
    .await;
    let response = match found {
        Ok(Some((interaction, client, person))) => {
            let t = translator(&req, &state, interaction.request.ui_locales.as_deref());
            let scopes = interaction.request.scopes.iter().filter_map(scope_key).map(|k| t.t(k)).collect();
            let page = pages::render(
                StatusCode::OK,
                &ConsentPage {
                    frame: Frame::new(t, here(&req)),
                    csrf_token: &browser.csrf,
                    interaction: &query.interaction,
                    question: t.f("consent.question", &[("client", &client.name)]),
                    intro: t.f("consent.signed_in_as", &[("person", &person), ("client", &client.name)]),
                    scopes,
                },
            );
            pages::allow_form_target(page, interaction.request.redirect_uri.as_str())
        }
        Ok(None) => PageError::expired_interaction().page(translator(&req, &state, None)),
        Err(e) => PageError::from(e).page(translator(&req, &state, None)),
    };
    browser.finish(response, &state)
}

/// The message key describing a scope on the consent page.
fn scope_key(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "scope.openid",
        "profile" => "scope.profile",
        "email" => "scope.email",
        "phone" => "scope.phone",
        "pinfl" => "scope.pinfl",
        "legal" => "scope.legal",
        "offline_access" => "scope.offline_access",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct ConsentForm {
    decision: String,
    csrf_token: String,
    interaction: String,
}

pub async fn consent_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<ConsentForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return PageError::bad_request("consent.choose").page(t),
    };
    let binding = browser.binding();
    let session_hash = browser.session_hash();
    let id = form.interaction.clone();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some((interaction, client)) = live_interaction(s, &id, &binding)? else { return Ok(None) };
        let Some((session, _)) = super::signed_in(s, session_hash.as_deref(), now)? else { return Ok(None) };
        if !allow {
            s.store.delete_interaction(&interaction.id_hash)?;
            tracing::info!(client_id = %client.id, "consent denied");
            return Ok(Some(Err(error_of(
                &interaction.request,
                OAuthError::new(ErrorCode::AccessDenied, "the person denied access"),
            ))));
        }
        // Remember what was allowed, together with what was allowed before.
        let previous = s.store.find_consent(&session.account_id, &client.id)?;
        let mut scopes: Vec<String> = interaction.request.scopes.iter().map(str::to_owned).collect();
        if let Some(previous) = previous {
            scopes.extend(previous.scopes.iter().map(str::to_owned));
        }
        s.store.save_consent(&Consent {
            account_id: session.account_id.clone(),
            client_id: client.id.clone(),
            scopes: Scopes::try_from(scopes.join(" ").as_str())?,
            granted_at: now,
        })?;
        s.store.mark_interaction(&interaction.id_hash, false, true)?;
        tracing::info!(client_id = %client.id, "consent given");
        let detail =
            serde_json::json!({ "client": client.id.as_str(), "scopes": interaction.request.scopes.to_string() });
        let event = AuditEvent::new(AuditKind::ConsentGranted, now, detail);
        crate::audit_log::record(&s.store, event.by(&session.account_id).about(&session.account_id));
        Ok(Some(Ok(())))
    })
    .await;
    let response = match outcome {
        Ok(Some(Ok(()))) => see_other(&format!("/authorize/resume?interaction={}", form.interaction)),
        Ok(Some(Err(redirect))) => error_redirect(&state, t, redirect),
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}

#[cfg(test)]
mod tests {
    /// Every scope a person can be asked for is named on the consent page (issue 14: `legal`,
    /// the company and role, was left out).
    #[test]
    fn every_supported_scope_is_described() {
        for scope in yagona_oidc::types_export::SUPPORTED_SCOPES {
            assert!(super::scope_key(scope).is_some(), "{scope}");
        }
    }
}
