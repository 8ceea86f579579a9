//! Legal entities, the people who act for them, and their roles (user guide step 8).
//!
//! A confirmed person links the company they head by signing with the company's EDS certificate
//! (it carries the company TIN, `O`, `T` and the head's own PINFL); the link records the company
//! and a membership with the role [`HEAD_ROLE`]. The head may give other confirmed people roles
//! from the configured catalogue, with an optional expiry. A newer head's link ends the previous
//! head's membership. Every change is recorded with who made it and when.

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
}

impl Membership {
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// The short name: the part in quotes when there is one.
pub fn short_name(full: &str) -> String {
    let quoted = full.split(['"', '«', '»', '“', '”']).nth(1).map(str::trim).filter(|s| !s.is_empty());
    quoted.unwrap_or(full.trim()).to_owned()
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
}

/// A recorded change of a membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipEvent {
    pub tin: Tin,
    pub account_id: AccountId,
    pub role: String,
    /// `linked`, `replaced`, `granted`, `revoked`.
    pub action: String,
    pub by: Option<AccountId>,
    pub at: i64,
}

/// The storage port for legal entities and memberships; each method is one transaction.
pub trait LegalRepository {
    /// Records (or renames) the entity and the head's membership. Another person's head
    /// membership of the same entity ends, with their roles granted to others kept: a newer head
    /// takes over. Linking again by the same head is not an error.
    fn link_legal_entity(
        &self,
        entity: &LegalEntity,
        head: &AccountId,
        title: Option<&str>,
        now: i64,
    ) -> Result<(), AccountError>;
    fn find_legal_entity(&self, tin: &Tin) -> Result<Option<LegalEntity>, AccountError>;
    fn list_legal_entities(&self) -> Result<Vec<LegalEntity>, AccountError>;
    /// A person's live memberships with their entities.
    fn memberships_of(&self, account: &AccountId, now: i64) -> Result<Vec<(LegalEntity, Membership)>, AccountError>;
    /// The live members of an entity.
    fn members(&self, tin: &Tin, now: i64) -> Result<Vec<Membership>, AccountError>;
    /// Gives a role (replacing an ended or expired one of the same name).
    fn grant_role(&self, membership: &Membership, now: i64) -> Result<(), AccountError>;
    /// Ends a live role; `false` when there was none.
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
