//! Accounts and EDS certificates: binding a certificate to an account (user guide step 7), and
//! the account a first EDS login creates (foreign citizens, or anyone who never registered).

use yagona_pki::SignerIdentity;

use crate::{AccountError, AccountId, BirthDate, Login, NewAccount, PasswordHash, Pinfl};

/// A certificate bound to an account, named by its serial and issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundCertificate {
    pub serial: String,
    pub issuer: String,
    pub account_id: AccountId,
    pub pinfl: Pinfl,
    pub common_name: String,
    pub valid_to: i64,
    pub bound_at: i64,
}

/// The PINFL a signer's certificate carries (OID 1.2.860.3.16.1.2).
pub fn signer_pinfl(signer: &SignerIdentity) -> Result<Pinfl, AccountError> {
    let pinfl = signer.pinfl.as_deref().ok_or(AccountError::CertificateWithoutPinfl)?;
    Pinfl::try_from(pinfl).map_err(|_| AccountError::CertificateWithoutPinfl)
}

/// The binding of `signer`'s certificate to the account with `account_pinfl`: only a certificate
/// of the same person (same PINFL) confirms an account.
pub fn binding(
    account_id: &AccountId,
    account_pinfl: &Pinfl,
    signer: &SignerIdentity,
    now: i64,
) -> Result<BoundCertificate, AccountError> {
    let pinfl = signer_pinfl(signer)?;
    if &pinfl != account_pinfl {
        return Err(AccountError::CertificatePinflMismatch);
    }
    Ok(BoundCertificate {
        serial: signer.serial_number.clone(),
        issuer: signer.issuer.clone(),
        account_id: account_id.clone(),
        pinfl,
        common_name: signer.common_name.clone(),
        valid_to: signer.valid_to,
        bound_at: now,
    })
}

/// Splits a certificate's full name (`SURNAME NAME PATRONYMIC`, as Uzbek CAs write CN) into
/// surname, first name and patronymic.
fn split_name(common_name: &str) -> Result<(String, String, Option<String>), AccountError> {
    let mut parts = common_name.split_whitespace();
    let surname = parts.next().ok_or(AccountError::Required("surname"))?.to_owned();
    let first = parts.next().ok_or(AccountError::Required("first name"))?.to_owned();
    let rest: Vec<&str> = parts.collect();
    Ok((surname, first, (!rest.is_empty()).then(|| rest.join(" "))))
}

/// The confirmed account a first EDS login creates from the certificate: names from CN, birth
/// date from the PINFL, login `p<PINFL>`, and no usable password (`unusable_hash`) until the
/// person sets one by password recovery with the same EDS.
pub fn account_from_certificate(
    signer: &SignerIdentity,
    unusable_hash: PasswordHash,
    now: i64,
) -> Result<NewAccount, AccountError> {
    let pinfl = signer_pinfl(signer)?;
    let birth = pinfl.birth_date().ok_or(AccountError::PinflFormat)?;
    let birth_date = BirthDate::try_from(birth.format("%Y-%m-%d").to_string().as_str())?;
    let (surname, first, middle) = split_name(&signer.common_name)?;
    let login = Login::try_from(format!("p{}", pinfl.as_str()).as_str())?;
    let mut account =
        NewAccount::new(login, pinfl, unusable_hash, &surname, &first, middle.as_deref(), birth_date, now)?;
    account.account.status = crate::AccountStatus::Confirmed;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(pinfl: Option<&str>, cn: &str) -> SignerIdentity {
        SignerIdentity {
            pinfl: pinfl.map(str::to_owned),
            personal_tin: None,
            legal_entity_tin: None,
            common_name: cn.to_owned(),
            organisation: None,
            title: None,
            serial_number: "01ab".into(),
            issuer: "CN=Dev CA".into(),
            valid_from: 0,
            valid_to: 100,
        }
    }

    #[test]
    fn binding_needs_the_same_pinfl() {
        let id = AccountId::from_stored("a".into());
        let mine = Pinfl::try_from("31205900260011").unwrap();
        assert!(binding(&id, &mine, &signer(Some("31205900260011"), "X Y"), 5).is_ok());
        let other = signer(Some("31205900260021"), "X Y");
        assert!(matches!(
            binding(&id, &mine, &other, 5),
            Err(AccountError::CertificatePinflMismatch) | Err(AccountError::CertificateWithoutPinfl)
        ));
        assert_eq!(binding(&id, &mine, &signer(None, "X Y"), 5), Err(AccountError::CertificateWithoutPinfl));
    }

    #[test]
    fn first_eds_login_account() {
        let hash = PasswordHash::from_phc("!".into());
        let account =
            account_from_certificate(&signer(Some("31205900260011"), "KARIMOV ALISHER ANVAR O'G'LI"), hash, 9)
                .unwrap()
                .into_account();
        assert_eq!(account.surname, "KARIMOV");
        assert_eq!(account.middle_name.as_deref(), Some("ANVAR O'G'LI"));
        assert_eq!(account.birth_date.to_string(), "1990-05-12");
        assert_eq!(account.login.as_str(), "p31205900260011");
        assert!(account.is_verified());
    }
}
