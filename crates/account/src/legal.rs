//! Legal entities, the people who act for them, and their roles (user guide step 8).
//!
//! A confirmed person links the company they head by signing with the company's EDS certificate
//! (it carries the company TIN, `O`, `T` and the head's own PINFL); the link records the company
//! and a membership with the role [`HEAD_ROLE`], if the certificate's title is a head's title
//! (configured). The head may give other confirmed people roles from the configured catalogue,
//! with an optional expiry. Another person replaces the head only with a certificate issued later
//! than the current head's, after confirming; the previous head's membership then ends. Every
//! change is recorded with who made it and when.

use std::fmt;

use serde::{Deserialize, Serialize};
use yagona_pki::SignerIdentity;

use crate::{AccountError, AccountId, Pinfl};

/// The role of the head of a legal entity (as OneID names it).
pub const HEAD_ROLE: &str = "Common For Head";

/// A legal entity's TIN: 9 digits, starting with 2 or 3 (individuals' TINs start with 4 to 7).
/// Its check digit's algorithm is not public, so only the format is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tin(String);

impl Tin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Tin {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let value = value.trim();
        if value.len() == 9 && value.bytes().all(|b| b.is_ascii_digit()) && matches!(value.as_bytes()[0], b'2' | b'3') {
            Ok(Self(value.to_owned()))
        } else {
            Err(AccountError::TinFormat)
        }
    }
}

impl fmt::Display for Tin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A legal entity as recorded from its head's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalEntity {
    pub tin: Tin,
    /// The full name (`O`).
    pub name: String,
    /// A short name: the full name without its legal form in quotes, e.g. `Registon Savdo` from
    /// `"Registon Savdo" MChJ`.
    pub short_name: String,
    pub linked_at: i64,
}

/// A person's role in a legal entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tin: Tin,
    pub account_id: AccountId,
    pub role: String,
    /// The head's title from the certificate (`T`), for the head's membership.
    pub title: Option<String>,
    pub granted_by: Option<AccountId>,
    pub granted_at: i64,
    pub expires_at: Option<i64>,
    /// For the head's membership: the notBefore of the certificate it was linked with (unknown
    /// for heads linked before it was recorded).
    pub certificate_valid_from: Option<i64>,
}

impl Membership {
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether a certificate valid from `valid_from` was issued later than the one this head
    /// linked with, and so may replace them. Unknown, the link time stands in for it: the
    /// certificate was valid then, so its notBefore was no later.
    pub fn is_replaced_by_certificate_from(&self, valid_from: i64) -> bool {
        valid_from > self.certificate_valid_from.unwrap_or(self.granted_at)
    }
}

/// A head's title compared as people write it: trimmed, spaces collapsed, any case.
fn normalised_title(title: &str) -> String {
    title.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether `title` (the certificate's `T`) is one of the configured head titles.
pub fn is_head_title(title: &str, head_titles: &[String]) -> bool {
    let title = normalised_title(title);
    !title.is_empty() && head_titles.iter().any(|t| normalised_title(t) == title)
}

/// What a head's company certificate proves: the company, the head's title, and when the
/// certificate was issued (its notBefore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadCertificate {
    pub entity: LegalEntity,
    pub title: String,
    pub valid_from: i64,
}

/// The short name: the part in quotes when there is one.
pub fn short_name(full: &str) -> String {
    let quoted = full.split(['"', '«', '»', '“', '”']).nth(1).map(str::trim).filter(|s| !s.is_empty());
    quoted.unwrap_or(full.trim()).to_owned()
}

/// Checks that a legal entity's certificate was issued to `head` (same PINFL) as its head (a
/// title in `head_titles`) and reads the company from it.
pub fn head_certificate(
    signer: &SignerIdentity,
    head_pinfl: &Pinfl,
    head_titles: &[String],
    now: i64,
) -> Result<HeadCertificate, AccountError> {
    let (entity, title) = entity_from_certificate(signer, head_pinfl, now)?;
    let title = title.map(|t| t.trim().to_owned()).unwrap_or_default();
    if !is_head_title(&title, head_titles) {
        return Err(AccountError::NotAHeadTitle);
    }
    Ok(HeadCertificate { entity, title, valid_from: signer.valid_from })
}

/// Checks that a legal entity's certificate was issued to `head` (same PINFL) and reads the
/// company from it.
pub fn entity_from_certificate(
    signer: &SignerIdentity,
    head_pinfl: &Pinfl,
    now: i64,
) -> Result<(LegalEntity, Option<String>), AccountError> {
    let tin = signer.legal_entity_tin.as_deref().ok_or(AccountError::NotALegalEntityCertificate)?;
    let tin = Tin::try_from(tin)?;
    let pinfl = crate::eds::signer_pinfl(signer)?;
    if &pinfl != head_pinfl {
        return Err(AccountError::CertificatePinflMismatch);
    }
    let name =
        signer.organisation.clone().filter(|o| !o.trim().is_empty()).ok_or(AccountError::NotALegalEntityCertificate)?;
    Ok((LegalEntity { tin, short_name: short_name(&name), name, linked_at: now }, signer.title.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tin_and_short_name() {
        assert!(Tin::try_from("301234567").is_ok());
        assert_eq!(Tin::try_from("401234567"), Err(AccountError::TinFormat));
        assert_eq!(Tin::try_from("30123456"), Err(AccountError::TinFormat));
        assert_eq!(short_name("\"Registon Savdo\" MChJ"), "Registon Savdo");
        assert_eq!(short_name("«Toshkent Non» AJ"), "Toshkent Non");
        assert_eq!(short_name("Yagona LLC"), "Yagona LLC");
    }

    fn signer(legal: Option<&str>, pinfl: &str) -> SignerIdentity {
        SignerIdentity {
            pinfl: Some(pinfl.into()),
            personal_tin: None,
            legal_entity_tin: legal.map(str::to_owned),
            common_name: "KARIMOV ALISHER".into(),
            surname: None,
            given_name: None,
            organisation: Some("\"Registon Savdo\" MChJ".into()),
            title: Some("Direktor".into()),
            serial_number: "01".into(),
            issuer: "CN=CA".into(),
            valid_from: 0,
            valid_to: 1,
        }
    }

    #[test]
    fn entity_needs_a_legal_certificate_of_the_same_person() {
        let head = Pinfl::try_from("31205900260011").unwrap();
        let (entity, title) = entity_from_certificate(&signer(Some("301234567"), "31205900260011"), &head, 5).unwrap();
        assert_eq!(entity.tin.as_str(), "301234567");
        assert_eq!(entity.short_name, "Registon Savdo");
        assert_eq!(title.as_deref(), Some("Direktor"));
        assert_eq!(
            entity_from_certificate(&signer(None, "31205900260011"), &head, 5),
            Err(AccountError::NotALegalEntityCertificate)
        );
        assert!(entity_from_certificate(&signer(Some("301234567"), "31205900260021"), &head, 5).is_err());
    }

    #[test]
    fn only_head_titles_link_as_head() {
        let titles = vec!["Direktor".to_owned(), "Bosh direktor".to_owned(), "Директор".to_owned()];
        assert!(is_head_title("  DIREKTOR ", &titles));
        assert!(is_head_title("bosh   Direktor", &titles));
        assert!(is_head_title("ДИРЕКТОР", &titles));
        assert!(!is_head_title("Bosh buxgalter", &titles));
        assert!(!is_head_title("  ", &titles));
        let head = Pinfl::try_from("31205900260011").unwrap();
        let mut accountant = signer(Some("301234567"), "31205900260011");
        accountant.title = Some("Bosh buxgalter".into());
        assert_eq!(head_certificate(&accountant, &head, &titles, 5), Err(AccountError::NotAHeadTitle));
        accountant.title = None;
        assert_eq!(head_certificate(&accountant, &head, &titles, 5), Err(AccountError::NotAHeadTitle));
        let found = head_certificate(&signer(Some("301234567"), "31205900260011"), &head, &titles, 5).unwrap();
        assert_eq!((found.title.as_str(), found.valid_from), ("Direktor", 0));
    }

    #[test]
    fn a_head_is_replaced_only_by_a_later_certificate() {
        let head = Membership {
            tin: Tin::try_from("301234567").unwrap(),
            account_id: AccountId::from_stored("a".into()),
            role: HEAD_ROLE.into(),
            title: Some("Direktor".into()),
            granted_by: None,
            granted_at: 1_000,
            expires_at: None,
            certificate_valid_from: Some(500),
        };
        assert!(head.is_replaced_by_certificate_from(501));
        assert!(!head.is_replaced_by_certificate_from(500));
        assert!(!head.is_replaced_by_certificate_from(400));
        // Unknown: the link time stands in.
        let unknown = Membership { certificate_valid_from: None, ..head };
        assert!(!unknown.is_replaced_by_certificate_from(900));
        assert!(unknown.is_replaced_by_certificate_from(1_001));
    }
}

/// A recorded change of a membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipEvent {
    pub tin: Tin,
    pub account_id: AccountId,
    pub role: String,
    /// `linked`, `replaced`, `granted`, `revoked`, `expired`.
    pub action: String,
    pub by: Option<AccountId>,
    pub at: i64,
}

/// What linking a company did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// The person became its head (no one was).
    New,
    /// The person was its head already (title and certificate date renewed).
    Again,
    /// The person replaced this previous head.
    Replaced { previous: AccountId },
}

/// The storage port for legal entities and memberships; each method is one transaction.
pub trait LegalRepository {
    /// Records (or renames) the entity and the head's membership. If another person heads it,
    /// they are replaced only when they are `replace` (the head the person was shown and
    /// confirmed replacing: never one who took the company in between) and the certificate was
    /// issued later than theirs ([`Membership::is_replaced_by_certificate_from`]); their
    /// membership then ends, which revokes the grants that carry it, and their roles granted to
    /// others are kept. Otherwise `ReplacementNotConfirmed` or `CertificateNotLater`.
    fn link_legal_entity(
        &self,
        head: &HeadCertificate,
        account: &AccountId,
        replace: Option<&AccountId>,
        now: i64,
    ) -> Result<Linked, AccountError>;
    /// The live head membership of an entity.
    fn current_head(&self, tin: &Tin, now: i64) -> Result<Option<Membership>, AccountError>;
    /// Ends the memberships whose expiry has passed (recorded as `expired`, revoking the grants
    /// that carry them and clearing them from sessions); returns how many ended.
    fn end_expired_memberships(&self, now: i64) -> Result<usize, AccountError>;
    fn find_legal_entity(&self, tin: &Tin) -> Result<Option<LegalEntity>, AccountError>;
    fn list_legal_entities(&self) -> Result<Vec<LegalEntity>, AccountError>;
    /// A person's live memberships with their entities.
    fn memberships_of(&self, account: &AccountId, now: i64) -> Result<Vec<(LegalEntity, Membership)>, AccountError>;
    /// The live members of an entity.
    fn members(&self, tin: &Tin, now: i64) -> Result<Vec<Membership>, AccountError>;
    /// Gives a role (replacing an ended or expired one of the same name, whose grants are revoked).
    fn grant_role(&self, membership: &Membership, now: i64) -> Result<(), AccountError>;
    /// Ends a live role, revoking the grants that carry it and clearing it from sessions;
    /// `false` when there was none.
    fn revoke_role(
        &self,
        tin: &Tin,
        account: &AccountId,
        role: &str,
        by: &AccountId,
        now: i64,
    ) -> Result<bool, AccountError>;
    fn membership_events(&self, tin: &Tin) -> Result<Vec<MembershipEvent>, AccountError>;
}
