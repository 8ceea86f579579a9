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
    OAuthError::from(e)
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

#[derive(Deserialize)]
pub struct GrantForm {
    csrf_token: String,
    tin: String,
    pinfl: String,
    role: String,
    #[serde(default)]
    expires: String,
}

#[derive(Deserialize)]
pub struct RevokeRoleForm {
    csrf_token: String,
    tin: String,
    account_id: String,
    role: String,
}

/// Whether `account` heads the company `tin` now.
fn heads(
    s: &crate::state::AppState,
    account: &yagona_account::AccountId,
    tin: &yagona_account::legal::Tin,
    now: i64,
) -> Result<bool, OAuthError> {
    Ok(s.store.memberships_of(account, now).map_err(storage)?.iter().any(|(e, m)| &e.tin == tin && m.role == HEAD_ROLE))
}

enum RoleOutcome {
    Done,
    Refused(AccountError),
    SignedOut,
}

async fn finish_role(
    req: HttpRequest,
    state: State,
    browser: Browser,
    t: crate::i18n::Tr<'static>,
    outcome: Result<RoleOutcome, OAuthError>,
    done: &str,
) -> HttpResponse {
    match outcome {
        Ok(RoleOutcome::Done) => see_other(&format!("/account?done={done}")),
        Ok(RoleOutcome::Refused(e)) => {
            let message = EdsFailure::Account(e).message(t);
            super::account::cabinet_with_error(&req, &state, t, &browser, message).await
        }
        Ok(RoleOutcome::SignedOut) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

/// `POST /account/legal/grant`: the head gives a confirmed person (by PINFL) a role from the
/// catalogue, with an optional expiry date.
pub async fn grant(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let Ok(form) = serde_urlencoded::from_bytes::<GrantForm>(&body) else {
        return PageError::bad_request("error.form_incomplete").page(t);
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let session_hash = browser.session_hash();
    let outcome = blocking(&state, move |s| {
        use yagona_account::AccountRepository as _;
        let now = now();
        let Some((_, head)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(RoleOutcome::SignedOut) };
        let refuse = |e| Ok(RoleOutcome::Refused(e));
        let Ok(tin) = yagona_account::legal::Tin::try_from(form.tin.as_str()) else {
            return refuse(AccountError::TinFormat);
        };
        if !heads(s, &head.id, &tin, now)? {
            tracing::info!(account = %head.id, tin = %tin, "role grant refused: not the head");
            return refuse(AccountError::NotTheHead);
        }
        if !s.settings.legal.roles.contains(&form.role) {
            return refuse(AccountError::UnknownRole);
        }
        let pinfl = match yagona_account::Pinfl::try_from(form.pinfl.as_str()) {
            Ok(p) => p,
            Err(e) => return refuse(e),
        };
        let Some(person) = s.store.find_account_by_pinfl(&pinfl).map_err(storage)? else {
            return refuse(AccountError::NoSuchPerson);
        };
        if person.status != AccountStatus::Confirmed {
            return refuse(AccountError::NotConfirmed);
        }
        let expires_at = match form.expires.trim() {
            "" => None,
            date => match chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                // The role lasts to the end of that day (UTC).
                Ok(d) => d.and_hms_opt(23, 59, 59).map(|t| t.and_utc().timestamp()).filter(|at| *at > now),
                Err(_) => return refuse(AccountError::BirthDateFormat),
            },
        };
        if !form.expires.trim().is_empty() && expires_at.is_none() {
            return refuse(AccountError::BirthDateFormat);
        }
        s.store
            .grant_role(
                &yagona_account::legal::Membership {
                    tin: tin.clone(),
                    account_id: person.id.clone(),
                    role: form.role.clone(),
                    title: None,
                    granted_by: Some(head.id.clone()),
                    granted_at: now,
                    expires_at,
                },
                now,
            )
            .map_err(storage)?;
        tracing::info!(head = %head.id, account = %person.id, tin = %tin, role = %form.role, "role granted");
        Ok(RoleOutcome::Done)
    })
    .await;
    finish_role(req, state, browser, t, outcome, "role").await
}

/// `POST /account/legal/revoke`: the head takes a role back.
pub async fn revoke(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let Ok(form) = serde_urlencoded::from_bytes::<RevokeRoleForm>(&body) else {
        return PageError::bad_request("error.form_incomplete").page(t);
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let session_hash = browser.session_hash();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some((_, head)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(RoleOutcome::SignedOut) };
        let Ok(tin) = yagona_account::legal::Tin::try_from(form.tin.as_str()) else {
            return Ok(RoleOutcome::Refused(AccountError::TinFormat));
        };
        // The head's own role ends only when a newer head links the company.
        if !heads(s, &head.id, &tin, now)? || form.role == HEAD_ROLE {
            return Ok(RoleOutcome::Refused(AccountError::NotTheHead));
        }
        let account = yagona_account::AccountId::from_stored(form.account_id.clone());
        s.store.revoke_role(&tin, &account, &form.role, &head.id, now).map_err(storage)?;
        tracing::info!(head = %head.id, account = %account, tin = %tin, role = %form.role, "role revoked");
        Ok(RoleOutcome::Done)
    })
    .await;
    finish_role(req, state, browser, t, outcome, "role_revoked").await
}
