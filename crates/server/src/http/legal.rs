//! Legal entities in the flows (user guide step 8): linking a company with its EDS in the
//! cabinet (with the head-replacement question, post/redirect/get like every signing form:
//! `signature.rs`), the "act as" page that fixes, for the session, whom the person acts for, and
//! the roles a head gives.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::legal::{head_certificate, HeadCertificate, LegalRepository as _, Linked, Membership, HEAD_ROLE};
use yagona_account::{Account, AccountError, AccountId, AccountRepository as _, AccountStatus};
use yagona_oidc::{ActingAs, OAuthError, OidcRepository as _};
use yagona_pki::SignerIdentity;
use yagona_store::SignaturePurpose;

use super::acting::{live_choices, storage};
use super::authorize::live_interaction;
use super::error::PageError;
use super::pages::{self, ActAsPage, Frame, LegalReplacePage};
use super::signature::{
    checked_form, confirmation_expired, keep_signature, spend_kept, verify, with_kept, EdsFailure, PendingQuery,
    SignedForm,
};
use super::{blocking, see_other, signed_in, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

const PURPOSE: SignaturePurpose = SignaturePurpose::ReplaceHead;

/// Who heads the company now, as the confirmation page shows them.
struct CurrentHead {
    masked_name: String,
    membership: Membership,
}

enum LinkOutcome {
    Linked,
    /// Another person heads the company: the signature is kept under this id for the page that
    /// shows them first; they are replaced only on confirmation.
    Confirm(String),
    NotAHeadTitle(String),
    Failed(EdsFailure),
    /// No such kept signature for this browser and account (spent, expired, foreign), or the
    /// question no longer stands (nobody else heads the company now).
    Expired,
    SignedOut,
}

/// A name as the confirmation page shows it: each word's first letter, the rest starred.
fn masked(name: &str) -> String {
    name.split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| std::iter::once(first).chain(chars.map(|_| '*')).collect()).unwrap_or_default()
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// What `signer`'s certificate proves for `account` as a company's head, or the outcome that
/// refuses it (an unconfirmed account, a title that is not a head's, another person's or an
/// expired certificate).
fn head_of(s: &AppState, account: &Account, signer: &SignerIdentity, now: i64) -> Result<HeadCertificate, LinkOutcome> {
    if account.status != AccountStatus::Confirmed {
        return Err(LinkOutcome::Failed(EdsFailure::Account(AccountError::NotConfirmed)));
    }
    match head_certificate(signer, &account.pinfl, &s.settings.legal.head_titles, now) {
        Ok(head) => Ok(head),
        Err(AccountError::NotAHeadTitle) => {
            tracing::info!(account = %account.id, title = ?signer.title, "link refused: not a head's title");
            Err(LinkOutcome::NotAHeadTitle(signer.title.clone().unwrap_or_default()))
        }
        Err(e) => Err(LinkOutcome::Failed(EdsFailure::Account(e))),
    }
}

/// The company's head now, when it is someone other than `account`.
fn other_head(
    s: &AppState,
    account: &Account,
    head: &HeadCertificate,
    now: i64,
) -> Result<Option<Membership>, OAuthError> {
    Ok(s.store.current_head(&head.entity.tin, now).map_err(storage)?.filter(|current| current.account_id != account.id))
}

/// Records `account` as the head of `head`'s company (`replace`: in place of that head, the one
/// the person was shown, if they still head it).
fn record_link(
    s: &AppState,
    account: &Account,
    head: &HeadCertificate,
    replace: Option<&AccountId>,
    now: i64,
) -> Result<LinkOutcome, OAuthError> {
    match s.store.link_legal_entity(head, &account.id, replace, now) {
        Ok(Linked::Replaced { previous }) => {
            tracing::info!(account = %account.id, previous = %previous, tin = %head.entity.tin, "head replaced")
        }
        Ok(_) => tracing::info!(account = %account.id, tin = %head.entity.tin, "legal entity linked"),
        Err(e @ (AccountError::CertificateNotLater | AccountError::ReplacementNotConfirmed)) => {
            return Ok(LinkOutcome::Failed(EdsFailure::Account(e)))
        }
        Err(e) => return Err(storage(e)),
    }
    Ok(LinkOutcome::Linked)
}

/// `POST /account/legal/link`: a confirmed person signs with their company's EDS certificate,
/// issued to them with a head's title (`legal.head_titles`); the company and their membership
/// as its head are recorded. When someone else heads it, the verified signature is kept and the
/// browser is sent to `GET /account/legal/replace`, which shows who first (post/redirect/get);
/// a certificate issued later than theirs replaces them when the person confirms there.
pub async fn link(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match checked_form(&browser, &body, |f: &SignedForm| &f.csrf_token) {
        Ok(form) => form,
        Err(refused) => return refused.page(t),
    };
    let (session_hash, binding) = (browser.session_hash(), browser.binding());
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some((_, account)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(LinkOutcome::SignedOut) };
        let signer = match verify(s, &form.pkcs7, &binding, now)? {
            Ok(signer) => signer,
            Err(failure) => return Ok(LinkOutcome::Failed(failure)),
        };
        let head = match head_of(s, &account, &signer, now) {
            Ok(head) => head,
            Err(refused) => return Ok(refused),
        };
        if let Some(current) = other_head(s, &account, &head, now)? {
            if !current.is_replaced_by_certificate_from(head.valid_from) {
                return Ok(LinkOutcome::Failed(EdsFailure::Account(AccountError::CertificateNotLater)));
            }
            let id = keep_signature(s, PURPOSE, &account.id, &binding, &signer, Some(&current.account_id), now)?;
            return Ok(LinkOutcome::Confirm(id));
        }
        record_link(s, &account, &head, None, now)
    })
    .await;
    finish_link(&req, &state, t, &browser, outcome).await
}

/// `GET /account/legal/replace?pending=ID`: who heads the company now, and the form that
/// replaces them with the kept certificate.
pub async fn replace_page(req: HttpRequest, state: State, query: Query<PendingQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let found =
        with_kept(&state, &browser, PURPOSE, query.pending.clone(), false, |s, account, signer, replaces, now| {
            let head = match head_of(s, &account, &signer, now) {
                Ok(head) => head,
                Err(refused) => return Ok(Err(refused)),
            };
            // Nobody else heads the company now: the question no longer stands.
            let Some(current) = other_head(s, &account, &head, now)? else { return Ok(Err(LinkOutcome::Expired)) };
            // Someone else took the company since the signature: the person was asked about another
            // head and must sign again to be asked about this one.
            if replaces.as_ref() != Some(&current.account_id) {
                return Ok(Err(LinkOutcome::Expired));
            }
            let name = s.store.find_account(&current.account_id).map_err(storage)?.map(|a| a.full_name());
            Ok(Ok((CurrentHead { masked_name: masked(&name.unwrap_or_default()), membership: current }, head)))
        })
        .await
        .map(|kept| kept.or(Err(LinkOutcome::Expired), Err(LinkOutcome::SignedOut)));
    match found {
        Ok(Ok((current, head))) => {
            let page = question(t, &browser, &query.pending, &current, &head);
            browser.finish(pages::render(StatusCode::OK, &page), &state)
        }
        Ok(Err(outcome)) => finish_link(&req, &state, t, &browser, Ok(outcome)).await,
        Err(e) => PageError::from(e).page(t),
    }
}

/// `POST /account/legal/replace`: spends the kept certificate and links the company with it in
/// place of its current head.
pub async fn replace_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let outcome = spend_kept(&state, &browser, &body, PURPOSE, |s, account, signer, replaces, now| {
        match head_of(s, &account, &signer, now) {
            Ok(head) => record_link(s, &account, &head, replaces.as_ref(), now),
            Err(refused) => Ok(refused),
        }
    })
    .await;
    match outcome {
        Ok(kept) => {
            finish_link(&req, &state, t, &browser, Ok(kept.or(LinkOutcome::Expired, LinkOutcome::SignedOut))).await
        }
        Err(refused) => refused.page(t),
    }
}

async fn finish_link(
    req: &HttpRequest,
    state: &State,
    t: Tr<'static>,
    browser: &Browser,
    outcome: Result<LinkOutcome, OAuthError>,
) -> HttpResponse {
    match outcome {
        Ok(LinkOutcome::Linked) => see_other("/account?done=legal"),
        Ok(LinkOutcome::Confirm(id)) => see_other(&format!("/account/legal/replace?pending={id}")),
        Ok(LinkOutcome::NotAHeadTitle(title)) => {
            let message = t.f("legal.not_head_title", &[("title", &title)]);
            super::account::cabinet_with_error(req, state, t, browser, message).await
        }
        Ok(LinkOutcome::Failed(failure)) => {
            super::account::cabinet_with_error(req, state, t, browser, failure.message(t)).await
        }
        Ok(LinkOutcome::Expired) => confirmation_expired().page(t),
        Ok(LinkOutcome::SignedOut) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

fn question<'a>(
    t: Tr<'a>,
    browser: &'a Browser,
    pending: &'a str,
    current: &CurrentHead,
    head: &HeadCertificate,
) -> LegalReplacePage<'a> {
    let unknown = || t.t("legal.unknown").to_owned();
    let m = &current.membership;
    let rows = vec![
        (t.t("legal.current_head"), current.masked_name.clone()),
        (t.t("legal.current_title"), m.title.clone().unwrap_or_else(unknown)),
        (t.t("legal.current_since"), pages::when(t, m.granted_at)),
        (
            t.t("legal.current_certificate"),
            m.certificate_valid_from.map(|at| pages::day(t, at)).unwrap_or_else(unknown),
        ),
        (t.t("legal.your_title"), head.title.clone()),
        (t.t("legal.your_certificate"), pages::day(t, head.valid_from)),
    ];
    let company = format!("{} ({})", head.entity.name, head.entity.tin);
    LegalReplacePage {
        frame: Frame::new(t, format!("/account/legal/replace?pending={pending}")),
        csrf_token: &browser.csrf,
        explain: t.f("legal.replace_explain", &[("company", &company)]),
        rows,
        pending,
    }
}

#[derive(Deserialize)]
pub struct ActAsQuery {
    interaction: String,
}

/// The choices of the "act as" page: the individual first, then the live memberships.
fn choices(
    s: &crate::state::AppState,
    account: &yagona_account::AccountId,
    now: i64,
) -> Result<Vec<ActingAs>, OAuthError> {
    let mut choices = vec![ActingAs::Individual];
    choices.extend(live_choices(s, account, now)?);
    Ok(choices)
}

pub async fn act_as_page(req: HttpRequest, state: State, query: Query<ActAsQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let (session_hash, binding, id) = (browser.session_hash(), browser.binding(), query.interaction.clone());
    let found = blocking(&state, move |s| {
        let now = now();
        let Some((interaction, _)) = live_interaction(s, &id, &binding)? else { return Ok(None) };
        let Some((_, account)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(None) };
        let redirect_uri = interaction.request.redirect_uri.as_str().to_owned();
        Ok(Some((account.full_name(), choices(s, &account.id, now)?, redirect_uri)))
    })
    .await;
    match found {
        Ok(Some((person, choices, redirect_uri))) => {
            let options = choices
                .into_iter()
                .map(|choice| {
                    // The label in the page's language (the role's name translated).
                    let label = match &choice {
                        yagona_oidc::ActingAs::LegalEntity { tin, name, role, .. } => {
                            format!("{name} ({tin}) · {}", pages::role_name(t, role))
                        }
                        _ => t.f("legal.as_individual", &[("person", &person)]),
                    };
                    (choice.form_value(), label)
                })
                .collect();
            let page = ActAsPage {
                frame: Frame::new(t, format!("/act_as?interaction={}", query.interaction)),
                csrf_token: &browser.csrf,
                interaction: &query.interaction,
                options,
            };
            let response = pages::allow_form_target(pages::render(StatusCode::OK, &page), &redirect_uri);
            browser.finish(response, &state)
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
    let form = match super::page_form::<ActAsForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
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
        let Some(choice) = choices(s, &account.id, now)?.into_iter().find(|c| c.form_value() == value) else {
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
    let form = match super::page_form::<GrantForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let session_hash = browser.session_hash();
    let outcome = blocking(&state, move |s| {
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
        // The head acts for the company as its head already: no second role of their own.
        if person.id == head.id {
            return refuse(AccountError::OwnRole);
        }
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
                    certificate_valid_from: None,
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
    let form = match super::page_form::<RevokeRoleForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
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
