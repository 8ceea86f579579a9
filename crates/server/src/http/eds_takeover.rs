//! The rightful owner's takeover of an unproven account (issue 11, item 2).
//!
//! Anyone can register with another person's PINFL (it is printed on the ID card). When the
//! real person later logs in with their EDS, that EDS must not confirm the account: its password
//! was chosen by whoever registered it. Instead `/login/eds` keeps the verified signer with the
//! account's id server-side (bound to the browser, like a first-login signup) and sends the
//! person here: the page shows the account (contacts masked) and what the certificate changes;
//! confirming binds the certificate, makes the certificate's data the account's, resets the
//! password, contacts and passport number, ends every session and revokes every grant, in one
//! transaction with an `account_taken_over` audit event, then signs the person in (`acr` high).

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::eds::{binding, certified_person, Takeover};
use yagona_account::registration::Registration;
use yagona_account::{Account, AccountError, AccountRepository as _, PasswordHash};
use yagona_oidc::secrets::hash_token;
use yagona_oidc::OAuthError;
use yagona_pki::SignerIdentity;

use super::eds::{certificate_rows, difference_rows, sign_in_pending, signed_in_response, TAKEOVER_COOKIE};
use super::error::PageError;
use super::pages::{self, EdsTakeoverPage, Frame};
use super::signature::EdsFailure;
use super::{blocking, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

/// The pending takeover of this browser: the record, the signer and the account offered.
fn pending_takeover(
    s: &AppState,
    secret: Option<&str>,
    binding_hash: &str,
) -> Result<Option<(Registration, SignerIdentity, Account)>, OAuthError> {
    let Some(secret) = secret else { return Ok(None) };
    let Some(registration) = s.store.find_registration(&hash_token(secret), now()).map_err(OAuthError::from)? else {
        return Ok(None);
    };
    if registration.browser_hash != binding_hash {
        return Ok(None);
    }
    let (Some(signer), Some(id)) = (&registration.draft.eds_signer, &registration.draft.takeover_account) else {
        return Ok(None);
    };
    let signer = SignerIdentity::from(signer);
    Ok(s.store.find_account(id).map_err(OAuthError::from)?.map(|account| (registration, signer, account)))
}

/// `+998901234567` -> `+998•••••••67`: enough for the person to recognise, not to learn.
fn mask(value: &str, keep_start: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= keep_start + 2 {
        return "•".repeat(chars.len());
    }
    let hidden = chars.len() - keep_start - 2;
    chars[..keep_start].iter().chain(std::iter::repeat_n(&'•', hidden)).chain(&chars[chars.len() - 2..]).collect()
}

fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => mask(email, 1),
    }
}

fn account_rows<'a>(t: Tr<'a>, account: &Account) -> Vec<(&'a str, String)> {
    let mut rows = vec![
        (t.t("login.login"), account.login.to_string()),
        (t.t("eds.owner"), account.full_name()),
        (t.t("register.birth_date"), account.birth_date.to_string()),
    ];
    if let Some(passport) = &account.passport_number {
        rows.push((t.t("register.passport"), mask(passport.as_str(), 2)));
    }
    if let Some(phone) = &account.phone {
        rows.push((t.t("register.phone"), mask(phone, 4)));
    }
    if let Some(email) = &account.email {
        rows.push((t.t("register.email"), mask_email(email)));
    }
    rows
}

/// `GET /login/eds/takeover`: the account with the signer's PINFL, and what confirming does.
pub async fn takeover_page(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let (secret, binding_hash) = (req.cookie(TAKEOVER_COOKIE).map(|c| c.value().to_owned()), browser.binding());
    let found = blocking(&state, move |s| {
        let Some((registration, signer, account)) = pending_takeover(s, secret.as_deref(), &binding_hash)? else {
            return Ok(None);
        };
        let redirect_uri = super::eds::return_redirect_uri(s, &registration, &binding_hash)?;
        Ok(Some((signer, account, redirect_uri)))
    })
    .await;
    match found {
        Ok(Some((signer, account, redirect_uri))) => {
            let page = EdsTakeoverPage {
                frame: Frame::new(t, "/login/eds/takeover"),
                csrf_token: &browser.csrf,
                account: account_rows(t, &account),
                rows: certificate_rows(t, &signer),
                differences: difference_rows(t, &account, &signer),
            };
            let page = super::eds::eds_step_page(pages::render(StatusCode::OK, &page), redirect_uri.as_deref());
            browser.finish(page, &state)
        }
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    }
}

#[derive(Deserialize)]
pub struct TakeoverForm {
    csrf_token: String,
}

/// `POST /login/eds/takeover`: takes the account over and signs the person in.
pub async fn takeover_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<TakeoverForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    let secret = req.cookie(TAKEOVER_COOKIE).map(|c| c.value().to_owned());
    let (binding_hash, address, old_session) = (browser.binding(), browser.address.clone(), browser.session_hash());
    let user_agent = browser.user_agent.clone();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some((registration, signer, account)) = pending_takeover(s, secret.as_deref(), &binding_hash)? else {
            return Ok(None);
        };
        if let Err(e) = account.ensure_active() {
            return Ok(Some(Err(e)));
        }
        let prepared = binding(&account.id, &account.pinfl, &signer, now)
            .and_then(|certificate| Ok((certificate, certified_person(&signer)?)));
        let (certificate, person) = match prepared {
            Ok(found) => found,
            Err(e) => return Ok(Some(Err(e))),
        };
        let takeover = Takeover {
            account_id: account.id.clone(),
            certificate,
            person,
            unusable_hash: PasswordHash::unusable(),
            at: now,
        };
        match s.store.take_over_account(&takeover) {
            Ok(()) => {}
            Err(e @ (AccountError::TakeoverStale | AccountError::CertificateTaken | AccountError::Disabled)) => {
                return Ok(Some(Err(e)))
            }
            Err(e) => return Err(e.into()),
        }
        s.store.delete_registration(&registration.id_hash).map_err(OAuthError::from)?;
        tracing::info!(account = %account.id, "account taken over by the EDS of its PINFL");
        let Some(account) = s.store.find_account(&account.id).map_err(OAuthError::from)? else { return Ok(None) };
        sign_in_pending(
            s,
            &account,
            &registration,
            &binding_hash,
            old_session.as_deref(),
            (&address, user_agent.as_deref()),
            now,
        )
        .map(Some)
    })
    .await;
    match outcome {
        Ok(Some(Ok((session, interaction)))) => signed_in_response(&state, session, interaction, TAKEOVER_COOKIE),
        Ok(Some(Err(AccountError::Disabled))) => {
            PageError::new(StatusCode::FORBIDDEN, "error.bad_request_title", "eds.error_disabled").page(t)
        }
        Ok(Some(Err(e))) => PageError::new(StatusCode::CONFLICT, "error.bad_request_title", "error.form_incomplete")
            .with_detail(EdsFailure::Account(e).message(t))
            .page(t),
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_recognises() {
        assert_eq!(mask("+998907654321", 4), "+998•••••••21");
        assert_eq!(mask("AB7654321", 2), "AB•••••21");
        assert_eq!(mask("abc", 2), "•••");
        assert_eq!(mask_email("nilufar@example.uz"), "n•••@example.uz");
    }
}
