//! Registering an EDS certificate in the cabinet (user guide step 7), post/redirect/get:
//!
//! 1. `POST /account/eds/preview` verifies the signature (spending its challenge), checks the
//!    certificate is the person's own, keeps it server-side for this browser and account
//!    (`signature.rs`) and answers 303 to
//! 2. `GET /account/eds/preview?pending=ID`, which shows the certificate and what confirming
//!    changes (reloading shows it again; nothing is resubmitted);
//! 3. `POST /account/eds/bind` spends the kept certificate once and binds it, confirming the
//!    account.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use yagona_account::eds::binding;
use yagona_account::Account;
use yagona_pki::SignerIdentity;
use yagona_store::SignaturePurpose;

use super::eds::{certificate_rows, confirm_with, difference_rows};
use super::error::PageError;
use super::pages::{self, EdsPreviewPage, Frame};
use super::signature::{
    checked_form, confirmation_expired, keep_signature, spend_kept, verify, with_kept, EdsFailure, Kept, PendingQuery,
    SignedForm,
};
use super::{blocking, see_other, signed_in, translator, Browser, State};
use crate::state::now;

const PURPOSE: SignaturePurpose = SignaturePurpose::BindCertificate;

enum CabinetOutcome {
    /// The signature is kept under this id for the preview page.
    Kept(String),
    Bound,
    Failed(EdsFailure),
    /// No such kept signature for this browser and account (spent, expired, foreign).
    Expired,
    SignedOut,
}

/// `POST /account/eds/preview`: verifies the signed challenge and sends the browser to the
/// preview of the certificate.
pub async fn cabinet_preview(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match checked_form(&browser, &body, |f: &SignedForm| &f.csrf_token) {
        Ok(form) => form,
        Err(refused) => return refused.page(t),
    };
    let (session_hash, binding_hash) = (browser.session_hash(), browser.binding());
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some((_, account)) = signed_in(s, session_hash.as_deref(), now)? else {
            return Ok(CabinetOutcome::SignedOut);
        };
        let signer = match verify(s, &form.pkcs7, &binding_hash, now)? {
            Ok(signer) => signer,
            Err(failure) => return Ok(CabinetOutcome::Failed(failure)),
        };
        if let Err(failure) = bindable(&account, &signer, now) {
            return Ok(CabinetOutcome::Failed(failure));
        }
        Ok(CabinetOutcome::Kept(keep_signature(s, PURPOSE, &account.id, &binding_hash, &signer, None, now)?))
    })
    .await;
    finish(&req, &state, t, &browser, outcome).await
}

/// `GET /account/eds/preview?pending=ID`: the kept certificate's data and what confirming
/// changes in the account, with the form that confirms it.
pub async fn cabinet_preview_page(req: HttpRequest, state: State, query: Query<PendingQuery>) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let found = with_kept(&state, &browser, PURPOSE, query.pending.clone(), false, |_, account, signer, _, _| {
        Ok((account, signer))
    })
    .await;
    match found {
        Ok(Kept::Found((account, signer))) => {
            let page = EdsPreviewPage {
                frame: Frame::new(t, format!("/account/eds/preview?pending={}", query.pending)),
                csrf_token: &browser.csrf,
                rows: certificate_rows(t, &signer),
                differences: difference_rows(t, &account, &signer),
                pending: &query.pending,
            };
            browser.finish(pages::render(StatusCode::OK, &page), &state)
        }
        Ok(Kept::Missing) => browser.finish(confirmation_expired().page(t), &state),
        Ok(Kept::SignedOut) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}

/// `POST /account/eds/bind`: spends the kept certificate and binds it (same PINFL), confirming
/// the account.
pub async fn cabinet_bind(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let outcome = spend_kept(&state, &browser, &body, PURPOSE, |s, account, signer, _, now| {
        Ok(match confirm_with(s, &account, &signer, now)? {
            Ok(_) => CabinetOutcome::Bound,
            Err(e) => CabinetOutcome::Failed(EdsFailure::Account(e)),
        })
    })
    .await;
    match outcome {
        Ok(kept) => {
            finish(&req, &state, t, &browser, Ok(kept.or(CabinetOutcome::Expired, CabinetOutcome::SignedOut))).await
        }
        Err(refused) => refused.page(t),
    }
}

/// Whether `signer` may be registered as `account`'s own certificate: a company's certificate
/// links the company (the legal-entity section), it is not listed as the person's own.
fn bindable(account: &Account, signer: &SignerIdentity, now: i64) -> Result<(), EdsFailure> {
    if signer.legal_entity_tin.is_some() {
        return Err(EdsFailure::CompanyCertificate);
    }
    binding(&account.id, &account.pinfl, signer, now).map(|_| ()).map_err(EdsFailure::Account)
}

async fn finish(
    req: &HttpRequest,
    state: &State,
    t: crate::i18n::Tr<'static>,
    browser: &Browser,
    outcome: Result<CabinetOutcome, yagona_oidc::OAuthError>,
) -> HttpResponse {
    match outcome {
        Ok(CabinetOutcome::Kept(id)) => see_other(&format!("/account/eds/preview?pending={id}")),
        Ok(CabinetOutcome::Bound) => see_other("/account?done=eds"),
        Ok(CabinetOutcome::Failed(failure)) => {
            super::account::cabinet_with_error(req, state, t, browser, failure.message(t)).await
        }
        Ok(CabinetOutcome::Expired) => confirmation_expired().page(t),
        Ok(CabinetOutcome::SignedOut) => see_other("/login"),
        Err(e) => PageError::from(e).page(t),
    }
}
