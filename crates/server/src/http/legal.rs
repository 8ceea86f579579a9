//! Legal entities in the flows (user guide step 8): linking a company with its EDS in the
//! cabinet, and the "act as" page that fixes, for the session, whom the person acts for.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::legal::{entity_from_certificate, LegalRepository as _, HEAD_ROLE};
use yagona_account::{AccountError, AccountStatus};
use yagona_oidc::{ActingAs, OAuthError, OidcRepository as _};

use super::authorize::live_interaction;
use super::eds::{verify, EdsFailure};
use super::error::PageError;
use super::pages::{self, ActAsPage, Frame};
use super::{blocking, see_other, signed_in, translator, Browser, State};
use crate::state::now;

fn storage(e: AccountError) -> OAuthError {
    OAuthError::server_error(e.to_string())
}

#[derive(Deserialize)]
pub struct LinkForm {
    csrf_token: String,
    pkcs7: String,
}

enum LinkOutcome {
    Linked,
    Failed(EdsFailure),
    SignedOut,
}

/// `POST /account/legal/link`: a confirmed person signs with their company's EDS certificate;
/// the company and their membership as its head are recorded.
pub async fn link(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let Ok(form) = serde_urlencoded::from_bytes::<LinkForm>(&body) else {
        return PageError::bad_request("error.form_incomplete").page(t);
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let (session_hash, binding) = (browser.session_hash(), browser.binding());
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some((_, account)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(LinkOutcome::SignedOut) };
        if account.status != AccountStatus::Confirmed {
            return Ok(LinkOutcome::Failed(EdsFailure::Account(AccountError::NotConfirmed)));
        }
        let signer = match verify(s, &form.pkcs7, &binding, true, now)? {
            Ok(signer) => signer,
            Err(failure) => return Ok(LinkOutcome::Failed(failure)),
        };
        let (entity, title) = match entity_from_certificate(&signer, &account.pinfl, now) {
            Ok(found) => found,
            Err(e) => return Ok(LinkOutcome::Failed(EdsFailure::Account(e))),
        };
        s.store.link_legal_entity(&entity, &account.id, title.as_deref(), now).map_err(storage)?;
        tracing::info!(account = %account.id, tin = %entity.tin, "legal entity linked");
        Ok(LinkOutcome::Linked)
    })
    .await;
    match outcome {
        Ok(LinkOutcome::Linked) => see_other("/account?done=legal"),
        Ok(LinkOutcome::Failed(failure)) => {
            super::account::cabinet_with_error(&req, &state, t, &browser, failure.message(t)).await
        }
        Ok(LinkOutcome::SignedOut) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

#[derive(Deserialize)]
pub struct ActAsQuery {
    interaction: String,
}

/// The choices of the "act as" page: (form value, label).
fn choices(
    s: &crate::state::AppState,
    account: &yagona_account::AccountId,
    now: i64,
) -> Result<Vec<(ActingAs, String)>, OAuthError> {
    let mut choices = vec![(ActingAs::Individual, String::new())];
    for (entity, membership) in s.store.memberships_of(account, now).map_err(storage)? {
        let label = format!("{} ({}) · {}", entity.name, entity.tin, membership.role);
        choices.push((
            ActingAs::LegalEntity {
                tin: entity.tin.to_string(),
                name: entity.name,
                short_name: entity.short_name,
                role: membership.role,
            },
            label,
        ));
    }
    Ok(choices)
}

pub async fn act_as_page(req: HttpRequest, state: State, query: Query<ActAsQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let (session_hash, binding, id) = (browser.session_hash(), browser.binding(), query.interaction.clone());
    let found = blocking(&state, move |s| {
        let now = now();
        let Some(_) = live_interaction(s, &id, &binding)? else { return Ok(None) };
        let Some((_, account)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(None) };
        Ok(Some((account.full_name(), choices(s, &account.id, now)?)))
    })
    .await;
    match found {
        Ok(Some((person, choices))) => {
            let options = choices
                .into_iter()
                .map(|(choice, label)| {
                    let label =
                        if label.is_empty() { t.f("legal.as_individual", &[("person", &person)]) } else { label };
                    (choice.form_value(), label)
                })
                .collect();
            let page = ActAsPage {
                frame: Frame::new(t, format!("/act_as?interaction={}", query.interaction)),
                csrf_token: &browser.csrf,
                interaction: &query.interaction,
                options,
            };
            browser.finish(pages::render(StatusCode::OK, &page), &state)
        }
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    }
}

#[derive(Deserialize)]
pub struct ActAsForm {
    csrf_token: String,
    interaction: String,
    act_as: String,
}

pub async fn act_as_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let Ok(form) = serde_urlencoded::from_bytes::<ActAsForm>(&body) else {
        return PageError::bad_request("error.form_incomplete").page(t);
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let (session_hash, binding) = (browser.session_hash(), browser.binding());
    let (id, value) = (form.interaction.clone(), form.act_as.clone());
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some(_) = live_interaction(s, &id, &binding)? else { return Ok(None) };
        let Some((session, account)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(None) };
        // Only a choice the page offered: the person's own memberships, live now.
        let Some((choice, _)) = choices(s, &account.id, now)?.into_iter().find(|(c, _)| c.form_value() == value) else {
            return Ok(Some(false));
        };
        s.store.choose_acting_as(&session.id_hash, &choice)?;
        tracing::info!(account = %account.id, acting_as = %choice.form_value(), "acting as chosen for the session");
        Ok(Some(true))
    })
    .await;
    match outcome {
        Ok(Some(true)) => see_other(&format!("/authorize/resume?interaction={}", form.interaction)),
        Ok(Some(false)) => PageError::bad_request("legal.choose").page(t),
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    }
}

/// After an EDS login with a legal entity's certificate (OneID's `LEPKCSMETHOD`): the session
/// acts for that company as its head, linking it first when the person is confirmed.
pub fn act_for_certificate_company(
    s: &crate::state::AppState,
    session_secret: &str,
    account: &yagona_account::Account,
    signer: &yagona_pki::SignerIdentity,
    now: i64,
) -> Result<(), OAuthError> {
    if signer.legal_entity_tin.is_none() || account.status != AccountStatus::Confirmed {
        return Ok(());
    }
    let Ok((entity, title)) = entity_from_certificate(signer, &account.pinfl, now) else { return Ok(()) };
    s.store.link_legal_entity(&entity, &account.id, title.as_deref(), now).map_err(storage)?;
    let acting = ActingAs::LegalEntity {
        tin: entity.tin.to_string(),
        name: entity.name,
        short_name: entity.short_name,
        role: HEAD_ROLE.to_owned(),
    };
    s.store.choose_acting_as(&yagona_oidc::secrets::hash_token(session_secret), &acting)?;
    Ok(())
}
