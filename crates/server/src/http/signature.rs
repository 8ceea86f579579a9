//! What every page that takes an EDS signature shares: verifying it ([`verify`]), saying why it
//! was refused ([`EdsFailure`]), and keeping a verified signature server-side while the person
//! is asked to confirm it ([`keep_signature`], [`take_signature`]).
//!
//! The EDS and legal-entity pages were said to form a dependency loop; what the code had was
//! one edge: `legal.rs` reached into `eds.rs` for `verify` and `EdsFailure` (both pages also
//! return to the cabinet through `account.rs`, which uses neither). Those now live here, so
//! `eds.rs`, `eds_cabinet.rs`, `eds_takeover.rs` and `legal.rs` depend on this module and
//! `legal.rs` on no EDS page: no loop can grow between them.
//!
//! Post/redirect/get (issue 14, item 12): the signing form's POST verifies the signature and
//! spends its challenge; what the person must confirm (the certificate to register, the head to
//! replace) is shown by a GET page that names the kept signature (`?pending=`), so reloading and
//! Back never resubmit a form, and the signature never travels back through a hidden field. The
//! confirming POST spends the kept signature once.

use actix_web::http::StatusCode;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use yagona_account::registration::EdsSigner;
use yagona_account::{Account, AccountError, AccountId};
use yagona_oidc::secrets::{hash_token, random_token};
use yagona_oidc::{OAuthError, OidcRepository as _};
use yagona_pki::{PkiError, SignerIdentity};
use yagona_store::{KeptSignature, PendingKey, SignaturePurpose};

use super::error::PageError;
use super::{blocking, signed_in, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

/// How long a verified signature waits for the person's confirmation (seconds): long enough to
/// read the page, short enough that a forgotten tab does not keep it.
pub(super) const PENDING_TTL: i64 = 600;

/// Why an EDS step failed, as a message for the person.
#[derive(Debug)]
pub enum EdsFailure {
    NotAvailable,
    Pki(PkiError),
    Challenge,
    Account(AccountError),
    Disabled,
    /// A company's certificate offered as the person's own in the cabinet.
    CompanyCertificate,
}

impl EdsFailure {
    pub fn message(&self, t: Tr<'_>) -> String {
        let key = match self {
            Self::NotAvailable => "eds.not_available",
            Self::Pki(PkiError::Malformed(_)) => "eds.error_malformed",
            Self::Pki(PkiError::BadSignature | PkiError::WeakAlgorithm(_) | PkiError::UnsupportedAlgorithm(_)) => {
                "eds.error_bad_signature"
            }
            Self::Pki(PkiError::CertificateInvalid(_)) => "eds.error_certificate",
            Self::Pki(PkiError::CertificateInvalidAtSigningTime) => "eds.error_invalid_at_signing_time",
            Self::Pki(PkiError::CertificateExpired(date)) => return t.f("eds.error_expired", &[("date", date)]),
            Self::Pki(PkiError::CertificateNotYetValid(date)) => {
                return t.f("eds.error_not_yet_valid", &[("date", date)])
            }
            Self::Pki(PkiError::CertificateUntrusted) => "eds.error_untrusted",
            Self::Pki(PkiError::Revoked(date)) => return t.f("eds.error_revoked", &[("date", date)]),
            Self::Pki(PkiError::BadSigningTime) => "eds.error_signing_time",
            Self::Pki(PkiError::StatusCheckFailed) => "eds.error_status",
            Self::Pki(PkiError::NoRevocationSource(_)) => "eds.error_no_revocation_source",
            Self::Pki(PkiError::ChallengeUnknown) | Self::Challenge => "eds.error_challenge",
            Self::Account(e) => return t.t(&format!("validation.{}", e.code())).to_owned(),
            Self::Disabled => "eds.error_disabled",
            Self::CompanyCertificate => "eds.company_certificate",
        };
        t.t(key).to_owned()
    }
}

/// A signing form: the signed challenge (base64 attached CMS) and, on a login page, the
/// authorization it continues.
#[derive(Deserialize)]
pub struct SignedForm {
    pub(super) csrf_token: String,
    pub(super) pkcs7: String,
    pub(super) interaction: Option<String>,
}

/// A confirmation form: the kept signature it confirms.
#[derive(Deserialize)]
pub struct ConfirmForm {
    pub(super) csrf_token: String,
    #[serde(default)]
    pub(super) pending: String,
}

/// The query of a confirmation page: the kept signature it shows.
#[derive(Deserialize)]
pub struct PendingQuery {
    #[serde(default)]
    pub(super) pending: String,
}

/// Verifies a base64 attached CMS at `now`, and that it signs a live challenge of this browser,
/// which it spends: a signature is posted once.
pub(super) fn verify(
    s: &AppState,
    pkcs7: &str,
    browser_hash: &str,
    now: i64,
) -> Result<Result<SignerIdentity, EdsFailure>, OAuthError> {
    let Some(verifier) = s.eds() else { return Ok(Err(EdsFailure::NotAvailable)) };
    let compact: String = pkcs7.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('=')))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')));
    let Ok(der) = der else { return Ok(Err(EdsFailure::Pki(PkiError::Malformed("not base64".into())))) };
    let verified = match verifier.verify_attached(&der, now) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, eimzo_status = e.eimzo_status(), "EDS signature refused");
            crate::metrics::eds_verification(crate::metrics::pki_outcome(&e));
            return Ok(Err(EdsFailure::Pki(e)));
        }
    };
    let Ok(challenge) = std::str::from_utf8(&verified.content) else { return Ok(Err(EdsFailure::Challenge)) };
    if !s.store.consume_challenge(&hash_token(challenge.trim()), browser_hash, now)? {
        tracing::info!("EDS signature over an unknown, used, expired or foreign challenge");
        crate::metrics::eds_verification("challenge");
        return Ok(Err(EdsFailure::Challenge));
    }
    crate::metrics::eds_verification("ok");
    Ok(Ok(verified.signer))
}

/// Keeps a verified `signer` for `account` in this browser until the person confirms `purpose`
/// (at most [`PENDING_TTL`]), with the head it `replaces` when that is the question; returns the
/// id the confirmation page's address carries.
pub(super) fn keep_signature(
    s: &AppState,
    purpose: SignaturePurpose,
    account: &AccountId,
    browser_hash: &str,
    signer: &SignerIdentity,
    replaces: Option<&AccountId>,
    now: i64,
) -> Result<String, OAuthError> {
    let id = random_token();
    let id_hash = hash_token(&id);
    let key = PendingKey { id_hash: &id_hash, browser_hash, account, purpose };
    let kept = KeptSignature { signer: EdsSigner::from(signer), replaces: replaces.cloned() };
    s.store.keep_pending_signature(key, &kept, now, now + PENDING_TTL)?;
    Ok(id)
}

/// What a confirmation page or form found of the kept signature it names.
pub(super) enum Kept<T> {
    /// What the caller made of it.
    Found(T),
    /// Unknown, spent, expired, or another browser's or account's.
    Missing,
    SignedOut,
}

impl<T> Kept<T> {
    /// What was found, or the caller's own outcome for `Missing` and `SignedOut`.
    pub(super) fn or(self, missing: T, signed_out: T) -> T {
        match self {
            Self::Found(found) => found,
            Self::Missing => missing,
            Self::SignedOut => signed_out,
        }
    }
}

/// Runs `act` with the signed-in account and the signature of `purpose` kept for it in this
/// browser under `id`: the confirming form `spend`s it (one conditional `DELETE`: of two
/// confirmations, one finds it), the page that asks leaves it in place.
pub(super) async fn with_kept<T, F>(
    state: &State,
    browser: &Browser,
    purpose: SignaturePurpose,
    id: String,
    spend: bool,
    act: F,
) -> Result<Kept<T>, OAuthError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, Account, SignerIdentity, Option<AccountId>, i64) -> Result<T, OAuthError> + Send + 'static,
{
    let (session_hash, browser_hash) = (browser.session_hash(), browser.binding());
    blocking(state, move |s| {
        let now = now();
        let Some((_, account)) = signed_in(s, session_hash.as_deref(), now)? else { return Ok(Kept::SignedOut) };
        let id_hash = hash_token(&id);
        let key = PendingKey { id_hash: &id_hash, browser_hash: &browser_hash, account: &account.id, purpose };
        let kept =
            if spend { s.store.take_pending_signature(key, now)? } else { s.store.pending_signature(key, now)? };
        let Some(KeptSignature { signer, replaces }) = kept else {
            tracing::info!(account = %account.id, purpose = purpose.as_str(), spend, "no such kept signature");
            return Ok(Kept::Missing);
        };
        Ok(Kept::Found(act(s, account, SignerIdentity::from(&signer), replaces, now)?))
    })
    .await
}

/// A page form of this browser, parsed; refused (malformed, or without this browser's CSRF
/// token) with the page that says so.
pub(super) fn checked_form<T: DeserializeOwned>(
    browser: &Browser,
    body: &[u8],
    csrf_token: impl Fn(&T) -> &str,
) -> Result<T, PageError> {
    let form = super::page_form::<T>(body)?;
    if !browser.csrf_matches(csrf_token(&form)) {
        return Err(PageError::bad_request("error.form_expired"));
    }
    Ok(form)
}

/// A confirming form's POST ([`ConfirmForm`]): checks it, then runs `act` on the kept signature
/// it names, spending it.
pub(super) async fn spend_kept<T, F>(
    state: &State,
    browser: &Browser,
    body: &[u8],
    purpose: SignaturePurpose,
    act: F,
) -> Result<Kept<T>, PageError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, Account, SignerIdentity, Option<AccountId>, i64) -> Result<T, OAuthError> + Send + 'static,
{
    let form = checked_form(browser, body, |f: &ConfirmForm| &f.csrf_token)?;
    Ok(with_kept(state, browser, purpose, form.pending, true, act).await?)
}

/// The page for a confirmation that is no longer there (confirmed already, expired, another
/// browser's or account's): it says so and leads back to the cabinet to sign again.
pub(super) fn confirmation_expired() -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "error.expired_title", "error.confirmation_expired")
        .with_way_on("/account", "register.to_cabinet")
}
