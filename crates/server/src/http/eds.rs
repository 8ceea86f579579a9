//! Electronic digital signature (EDS) in the browser flows: challenges, and the EDS login with
//! the first-login account creation. Binding a certificate in the cabinet (user guide step 7) is
//! in `eds_cabinet.rs`, the takeover of an unproven account in `eds_takeover.rs`; verification
//! is in `signature.rs`.
//!
//! The protocol (domain.md, "EDS certificates and E-IMZO"): the page asks `/eds/challenge` for a
//! single-use challenge bound to this browser; E-IMZO or the in-browser signer signs it into an
//! attached CMS; the server verifies the signature and certificate ([`yagona_pki`]), checks that
//! the signed content is a live challenge of this browser, and spends it.

use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use yagona_account::eds::{
    account_from_certificate, binding, certified_person, differences, first_login, signer_pinfl,
};
use yagona_account::registration::{Draft, EdsSigner, Registration};
use yagona_account::{Account, AccountError, AccountRepository as _, AccountStatus, PasswordHash};
use yagona_oidc::secrets::{hash_token, random_token};
use yagona_oidc::{AuthContext, OAuthError, OidcRepository as _};
use yagona_pki::SignerIdentity;

use super::authorize::{live_interaction, start_session};
use super::error::PageError;
use super::pages::{self, EdsSignupPage, Frame};
use super::signature::{verify, EdsFailure, SignedForm};
use super::{blocking, browser_cookie, see_other, session_cookie, translator, Browser, State};
use crate::i18n::Tr;
use crate::state::{now, AppState};

const SIGNUP_COOKIE: &str = "yagona_eds_signup";
pub(super) const TAKEOVER_COOKIE: &str = "yagona_eds_takeover";

/// `POST /eds/challenge`: a new challenge for this browser, `{challenge, ttl}`.
pub async fn challenge(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    if state.eds().is_none() {
        return HttpResponse::NotFound().json(serde_json::json!({ "error": "eds_not_configured" }));
    }
    let (binding, ttl) = (browser.binding(), state.settings.eds.challenge_ttl);
    let stored = blocking(&state, move |s| {
        // With an E-IMZO-server, its challenge: its /backend/auth accepts only those.
        let challenge = match crate::state::eimzo_server(&s.settings.eds, &s.settings.outbound.tls()) {
            Some(server) => server.challenge().map_err(OAuthError::server_error)?.0,
            None => random_token(),
        };
        s.store.insert_challenge(&hash_token(&challenge), &binding, now() + ttl)?;
        Ok(challenge)
    })
    .await;
    let response = match stored {
        Ok(challenge) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "challenge": challenge, "ttl": ttl })),
        Err(e) => {
            tracing::error!(detail = %e.description, "storing a challenge failed");
            HttpResponse::InternalServerError().json(serde_json::json!({ "error": "server_error" }))
        }
    };
    browser.finish(response, &state)
}

fn storage(e: AccountError) -> OAuthError {
    OAuthError::from(e)
}

enum LoginOutcome {
    LoggedIn {
        secret: String,
        interaction: Option<String>,
    },
    /// A verified signer kept for the next page (first-login signup or takeover), named by a
    /// cookie.
    Pending {
        page: &'static str,
        cookie: &'static str,
        secret: String,
    },
    /// The failure, and the relying party's name and redirect URI when inside an authorization.
    Failed(EdsFailure, Option<(String, String)>),
    ExpiredInteraction,
}

/// `POST /login/eds`: a signed challenge logs the person in with `acr` high. The certificate's
/// account is found by the certificate itself, or by its PINFL (and the certificate is then
/// bound, confirming the account); with no account at all, the first-login page offers to
/// create one.
pub async fn login(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<SignedForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return browser.finish(PageError::bad_request("error.form_expired").page(t), &state);
    }
    let binding_hash = browser.binding();
    let (address, user_agent, old_session) =
        (browser.address.clone(), browser.user_agent.clone(), browser.session_hash());
    let interaction = form.interaction.clone().filter(|i| !i.is_empty());
    let outcome = blocking(&state, move |s| {
        let now = now();
        let pending = match &interaction {
            Some(id) => match live_interaction(s, id, &binding_hash)? {
                Some(found) => Some(found),
                None => return Ok(LoginOutcome::ExpiredInteraction),
            },
            None => None,
        };
        let client_name = pending.as_ref().map(|(i, c)| (c.name.clone(), i.request.redirect_uri.as_str().to_owned()));
        let signer = match verify(s, &form.pkcs7, &binding_hash, now)? {
            Ok(signer) => signer,
            Err(failure) => return Ok(LoginOutcome::Failed(failure, client_name)),
        };
        // The stored status is checked before anything is written (issue 11, item 5).
        let account = match s
            .store
            .find_account_by_certificate(&signer.serial_number, &signer.issuer)
            .map_err(storage)?
        {
            Some(account) if account.ensure_active().is_err() => {
                return Ok(LoginOutcome::Failed(EdsFailure::Disabled, client_name))
            }
            // A re-enabled account is confirmed again by its bound certificate.
            Some(account) if account.status == AccountStatus::Unconfirmed => {
                s.store.set_account_status(&account.id, AccountStatus::Confirmed).map_err(storage)?;
                Account { status: AccountStatus::Confirmed, ..account }
            }
            Some(account) => account,
            None => {
                let pinfl = match signer_pinfl(&signer) {
                    Ok(p) => p,
                    Err(e) => return Ok(LoginOutcome::Failed(EdsFailure::Account(e), client_name)),
                };
                // The verified signer, kept for a first-login signup or a takeover.
                let draft = Draft {
                    eds_signer: Some(EdsSigner::from(&signer)),
                    return_interaction: interaction.clone(),
                    ..Draft::default()
                };
                let Some(account) = s.store.find_account_by_pinfl(&pinfl).map_err(storage)? else {
                    // A first EDS login: kept until the offer is accepted.
                    let secret = keep_pending(s, draft, &binding_hash, now)?;
                    return Ok(LoginOutcome::Pending { page: "/login/eds/signup", cookie: SIGNUP_COOKIE, secret });
                };
                if account.ensure_active().is_err() {
                    return Ok(LoginOutcome::Failed(EdsFailure::Disabled, client_name));
                }
                // Only an account whose PINFL a certificate proved before is the signer's to
                // sign in to; one nobody proved is offered for takeover (item 2).
                if s.store.list_certificates(&account.id).map_err(storage)?.is_empty() {
                    let draft = Draft { takeover_account: Some(account.id.clone()), ..draft };
                    let secret = keep_pending(s, draft, &binding_hash, now)?;
                    return Ok(LoginOutcome::Pending { page: "/login/eds/takeover", cookie: TAKEOVER_COOKIE, secret });
                }
                // The owner with a new (renewed) certificate: bind it, its data kept current.
                match confirm_with(s, &account, &signer, now)? {
                    Ok(account) => account,
                    Err(e) => return Ok(LoginOutcome::Failed(EdsFailure::Account(e), client_name)),
                }
            }
        };
        let client = pending.as_ref().map(|(_, c)| c);
        let secret = start_session(
            s,
            &account,
            AuthContext::eds(now),
            old_session.as_deref(),
            client,
            (&address, user_agent.as_deref()),
            now,
        )?;
        super::acting::act_for_certificate_company(s, &secret, &account, &signer, now)?;
        if let Some((pending, _)) = &pending {
            s.store.mark_interaction(&pending.id_hash, true, false)?;
        }
        Ok(LoginOutcome::LoggedIn { secret, interaction })
    })
    .await;
    crate::metrics::login(
        "eds",
        match &outcome {
            Ok(LoginOutcome::LoggedIn { .. }) => "success",
            Ok(LoginOutcome::Pending { .. }) => "pending",
            Ok(LoginOutcome::Failed(EdsFailure::Disabled, _)) => "disabled",
            Ok(LoginOutcome::Failed(..)) => "failure",
            Ok(_) => "expired",
            Err(_) => "error",
        },
    );
    let response = match outcome {
        Ok(LoginOutcome::LoggedIn { secret, interaction }) => {
            let target = match interaction {
                Some(id) => format!("/authorize/resume?interaction={id}"),
                None => "/account".to_owned(),
            };
            let mut response = see_other(&target);
            if let Err(e) = response.add_cookie(&session_cookie(&state, secret)) {
                tracing::error!(detail = %e, "setting the session cookie failed");
            }
            response
        }
        Ok(LoginOutcome::Pending { page, cookie, secret }) => {
            let mut response = see_other(page);
            let cookie = browser_cookie(&state, cookie, secret, state.settings.registration.ttl);
            if let Err(e) = response.add_cookie(&cookie) {
                tracing::error!(detail = %e, "setting the cookie of a pending EDS step failed");
            }
            response
        }
        Ok(LoginOutcome::Failed(failure, client_name)) => {
            let message = failure.message(t);
            let mut response = super::authorize::login_page_with_error(
                &req,
                &state,
                t,
                &browser,
                form.interaction.as_deref(),
                client_name.as_ref().map(|(name, uri)| (name.as_str(), uri.as_str())),
                message,
            );
            if matches!(failure, EdsFailure::Disabled) {
                response.head_mut().status = StatusCode::FORBIDDEN;
            }
            response
        }
        Ok(LoginOutcome::ExpiredInteraction) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    };
    browser.finish(response, &state)
}

/// Keeps a verified EDS signer server-side for the next page (first-login signup, takeover),
/// bound to this browser; returns the secret its cookie carries.
pub(super) fn keep_pending(s: &AppState, draft: Draft, binding_hash: &str, now: i64) -> Result<String, OAuthError> {
    let secret = random_token();
    s.store
        .insert_registration(&Registration {
            id_hash: hash_token(&secret),
            browser_hash: binding_hash.to_owned(),
            draft,
            created_at: now,
            expires_at: now + s.settings.registration.ttl,
        })
        .map_err(storage)?;
    Ok(secret)
}

/// Binds `signer`'s certificate to `account` (same PINFL), confirming it with the certificate's
/// name and birth date; the account as it now is.
pub(super) fn confirm_with(
    s: &AppState,
    account: &Account,
    signer: &SignerIdentity,
    now: i64,
) -> Result<Result<Account, AccountError>, OAuthError> {
    let bound = binding(&account.id, &account.pinfl, signer, now)
        .and_then(|certificate| Ok((certificate, certified_person(signer)?)));
    let (certificate, holder) = match bound {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    match s.store.bind_certificate(&certificate, &holder) {
        Ok(()) => {}
        Err(e @ (AccountError::CertificateTaken | AccountError::Disabled)) => return Ok(Err(e)),
        Err(e) => return Err(storage(e)),
    }
    tracing::info!(account = %account.id, "certificate bound; account confirmed");
    match s.store.find_account(&account.id).map_err(storage)? {
        Some(account) => Ok(Ok(account)),
        None => Ok(Err(AccountError::TakeoverStale)),
    }
}

/// The pending first-EDS-login of this browser.
fn pending_signup(s: &AppState, secret: Option<&str>, binding: &str) -> Result<Option<Registration>, OAuthError> {
    let Some(secret) = secret else { return Ok(None) };
    let found = s.store.find_registration(&hash_token(secret), now()).map_err(storage)?;
    Ok(found
        .filter(|r| r.browser_hash == binding && r.draft.eds_signer.is_some() && r.draft.takeover_account.is_none()))
}

pub(super) fn certificate_rows<'a>(t: Tr<'a>, signer: &SignerIdentity) -> Vec<(&'a str, String)> {
    let mut rows = vec![(t.t("eds.owner"), signer.common_name.clone())];
    if let Some(pinfl) = &signer.pinfl {
        rows.push((t.t("register.pinfl"), pinfl.clone()));
    }
    if let Some(org) = &signer.organisation {
        rows.push((t.t("eds.organisation"), org.clone()));
    }
    rows.push((t.t("eds.serial"), signer.serial_number.clone()));
    rows.push((t.t("eds.issuer"), signer.issuer.clone()));
    rows.push((t.t("eds.valid_until"), pages::day(t, signer.valid_to)));
    rows
}

/// What confirming with `signer`'s certificate changes in `account`: (field, entered value,
/// certificate value), shown before the person confirms.
pub(super) fn difference_rows(t: Tr<'_>, account: &Account, signer: &SignerIdentity) -> Vec<(String, String, String)> {
    let Ok(certified) = certified_person(signer) else { return Vec::new() };
    differences(account, &certified)
        .into_iter()
        .map(|d| {
            let shown = |v: Option<String>| v.unwrap_or_else(|| "—".to_owned());
            (t.t(&format!("register.{}", d.field)).to_owned(), shown(d.entered), shown(d.certified))
        })
        .collect()
}

/// The redirect URI of the authorization a pending EDS step (first-login signup, takeover) goes
/// back to, if any: its page's forms may lead there (CSP `form-action`, [`pages::allow_form_target`]).
pub(super) fn return_redirect_uri(
    s: &AppState,
    registration: &Registration,
    binding_hash: &str,
) -> Result<Option<String>, OAuthError> {
    let Some(id) = &registration.draft.return_interaction else { return Ok(None) };
    Ok(live_interaction(s, id, binding_hash)?.map(|(i, _)| i.request.redirect_uri.as_str().to_owned()))
}

/// A page of a pending EDS step, its forms allowed to lead to `redirect_uri` when the step
/// continues an authorization.
pub(super) fn eds_step_page(page: HttpResponse, redirect_uri: Option<&str>) -> HttpResponse {
    match redirect_uri {
        Some(uri) => pages::allow_form_target(page, uri),
        None => page,
    }
}

pub async fn signup_page(req: HttpRequest, state: State) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let (secret, binding_hash) = (req.cookie(SIGNUP_COOKIE).map(|c| c.value().to_owned()), browser.binding());
    let found = blocking(&state, move |s| {
        let Some(registration) = pending_signup(s, secret.as_deref(), &binding_hash)? else { return Ok(None) };
        let redirect_uri = return_redirect_uri(s, &registration, &binding_hash)?;
        Ok(Some((registration, redirect_uri)))
    })
    .await;
    match found {
        Ok(Some((registration, redirect_uri))) => {
            let signer = registration.draft.eds_signer.as_ref().map(SignerIdentity::from);
            let Some(signer) = signer else { return see_other("/login") };
            let offer = t.t("register.offer_text");
            let page = EdsSignupPage {
                frame: Frame::new(t, "/login/eds/signup"),
                csrf_token: &browser.csrf,
                rows: certificate_rows(t, &signer),
                paragraphs: offer.split('\n').map(str::trim).filter(|p| !p.is_empty()).collect(),
                error: None,
            };
            browser.finish(eds_step_page(pages::render(StatusCode::OK, &page), redirect_uri.as_deref()), &state)
        }
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    }
}

#[derive(Deserialize)]
pub struct SignupForm {
    csrf_token: String,
    accept_offer: Option<String>,
}

pub async fn signup_submit(req: HttpRequest, state: State, body: Bytes) -> HttpResponse {
    let browser = Browser::from_request(&req, &state);
    let t = translator(&req, &state, None);
    let form = match super::page_form::<SignupForm>(&body) {
        Ok(form) => form,
        Err(e) => return e.page(t),
    };
    if !browser.csrf_matches(&form.csrf_token) {
        return PageError::bad_request("error.form_expired").page(t);
    }
    if form.accept_offer.as_deref() != Some("yes") {
        return see_other("/login/eds/signup");
    }
    let secret = req.cookie(SIGNUP_COOKIE).map(|c| c.value().to_owned());
    let (binding_hash, address, old_session) = (browser.binding(), browser.address.clone(), browser.session_hash());
    let user_agent = browser.user_agent.clone();
    let outcome = blocking(&state, move |s| {
        let now = now();
        let Some(registration) = pending_signup(s, secret.as_deref(), &binding_hash)? else { return Ok(None) };
        let Some(signer) = registration.draft.eds_signer.as_ref().map(SignerIdentity::from) else { return Ok(None) };
        // No password yet: a hash nothing verifies against, until the person sets one.
        let pinfl = signer_pinfl(&signer).map_err(storage)?;
        // `p<PINFL>`; an account registered before such logins were reserved may hold it.
        let mut attempt = 0;
        let account = loop {
            let login = first_login(&pinfl, attempt).map_err(storage)?;
            // A certificate whose name the account rules refuse (digits, say) is told, not a 500.
            let account = match account_from_certificate(&signer, login, PasswordHash::unusable(), now) {
                Ok(account) => account,
                Err(e @ (AccountError::Storage(_) | AccountError::Hashing(_))) => return Err(storage(e)),
                Err(e) => return Ok(Some(Err(e))),
            };
            let certificate = binding(&account.account().id, &pinfl, &signer, now).map_err(storage)?;
            match s.store.insert_account_with_certificate(&account, &certificate) {
                Ok(()) => break account,
                Err(AccountError::LoginTaken) if attempt < 9 => attempt += 1,
                Err(e @ (AccountError::PinflTaken | AccountError::LoginTaken | AccountError::CertificateTaken)) => {
                    return Ok(Some(Err(e)));
                }
                Err(e) => return Err(storage(e)),
            }
        };
        s.store.delete_registration(&registration.id_hash).map_err(storage)?;
        let account = account.into_account();
        tracing::info!(account = %account.id, "account created at a first EDS login");
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
        Ok(Some(Ok((session, interaction)))) => signed_in_response(&state, session, interaction, SIGNUP_COOKIE),
        Ok(Some(Err(e))) => PageError::new(StatusCode::CONFLICT, "error.bad_request_title", "error.form_incomplete")
            .with_detail(EdsFailure::Account(e).message(t))
            .page(t),
        Ok(None) => PageError::expired_interaction().page(t),
        Err(e) => PageError::from(e).page(t),
    }
}

/// Signs `account` in with `acr` high after a pending EDS step (first-login signup, takeover),
/// resuming the authorization the EDS login came from, if it is still live: the session's
/// cookie secret and the interaction to resume.
pub(super) fn sign_in_pending(
    s: &AppState,
    account: &Account,
    registration: &Registration,
    binding_hash: &str,
    old_session: Option<&str>,
    (address, user_agent): (&str, Option<&str>),
    now: i64,
) -> Result<Result<(String, Option<String>), AccountError>, OAuthError> {
    let interaction = registration.draft.return_interaction.clone();
    let pending = match &interaction {
        Some(id) => live_interaction(s, id, binding_hash)?,
        None => None,
    };
    let client = pending.as_ref().map(|(_, c)| c);
    let session = start_session(s, account, AuthContext::eds(now), old_session, client, (address, user_agent), now)?;
    if let Some((pending, _)) = &pending {
        s.store.mark_interaction(&pending.id_hash, true, false)?;
    }
    Ok(Ok((session, pending.and(interaction))))
}

/// The redirect after [`sign_in_pending`]: the session cookie set, the pending step's removed.
pub(super) fn signed_in_response(
    state: &AppState,
    session: String,
    interaction: Option<String>,
    pending_cookie: &'static str,
) -> HttpResponse {
    let target = match interaction {
        Some(id) => format!("/authorize/resume?interaction={id}"),
        None => "/account".to_owned(),
    };
    let mut response = see_other(&target);
    let mut removal = browser_cookie(state, pending_cookie, String::new(), 0);
    removal.make_removal();
    for cookie in [session_cookie(state, session), removal] {
        if let Err(e) = response.add_cookie(&cookie) {
            tracing::error!(detail = %e, "setting a cookie failed");
        }
    }
    response
}
