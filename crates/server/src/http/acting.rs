//! Whom a session acts for, kept true to live memberships (issue 11): the EDS login with a
//! company certificate acts for a company the person already heads (it never links one), and a
//! session whose chosen membership has ended forgets the choice. Used by the EDS login
//! (`eds.rs`), the authorization (`authorize.rs`) and the legal pages (`legal.rs`), so those do
//! not depend on each other for it.

use yagona_account::legal::{LegalRepository as _, Tin, HEAD_ROLE};
use yagona_account::{Account, AccountError, AccountId, AccountStatus};
use yagona_oidc::{ActingAs, OAuthError, OidcRepository as _, Session};
use yagona_pki::SignerIdentity;

use crate::state::AppState;

pub(super) fn storage(e: AccountError) -> OAuthError {
    OAuthError::from(e)
}

/// The person's live memberships as "act as" choices (the page labels them in its language).
pub(super) fn live_choices(s: &AppState, account: &AccountId, now: i64) -> Result<Vec<ActingAs>, OAuthError> {
    Ok(s.store
        .memberships_of(account, now)
        .map_err(storage)?
        .into_iter()
        .map(|(entity, membership)| ActingAs::LegalEntity {
            tin: entity.tin.to_string(),
            name: entity.name,
            short_name: entity.short_name,
            role: membership.role,
        })
        .collect())
}

/// After an EDS login with a legal entity's certificate (OneID's `LEPKCSMETHOD`): the session
/// acts for that company as its head if the person heads it now. Linking (or replacing a head)
/// happens only in the cabinet, shown to the person first.
pub(super) fn act_for_certificate_company(
    s: &AppState,
    session_secret: &str,
    account: &Account,
    signer: &SignerIdentity,
    now: i64,
) -> Result<(), OAuthError> {
    let Some(tin) = signer.legal_entity_tin.as_deref().and_then(|t| Tin::try_from(t).ok()) else { return Ok(()) };
    if account.status != AccountStatus::Confirmed {
        return Ok(());
    }
    let head = live_choices(s, &account.id, now)?.into_iter().find(
        |choice| matches!(choice, ActingAs::LegalEntity { tin: t, role, .. } if t == tin.as_str() && role == HEAD_ROLE),
    );
    if let Some(acting) = head {
        s.store.choose_acting_as(&yagona_oidc::secrets::hash_token(session_secret), &acting)?;
    }
    Ok(())
}

/// A session that acts for a company by a membership no longer live (taken back, expired,
/// replaced) forgets that choice, so the person chooses again; ending a membership clears it
/// already, this also covers an expiry not yet purged.
pub(super) fn forget_ended_choice(s: &AppState, session: &mut Session, now: i64) -> Result<(), OAuthError> {
    let Some(chosen @ ActingAs::LegalEntity { .. }) = &session.acting_as else { return Ok(()) };
    let value = chosen.form_value();
    if live_choices(s, &session.account_id, now)?.iter().any(|c| c.form_value() == value) {
        return Ok(());
    }
    s.store.forget_acting_as(&session.id_hash)?;
    tracing::info!(account = %session.account_id, acting_as = %value, "ended membership forgotten by the session");
    session.acting_as = None;
    Ok(())
}
