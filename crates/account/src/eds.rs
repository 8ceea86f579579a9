//! Accounts and EDS certificates: binding a certificate to an account (user guide step 7), and
//! the account a first EDS login creates (foreign citizens, or anyone who never registered).

use yagona_pki::SignerIdentity;

use crate::{Account, AccountError, AccountId, BirthDate, Login, NewAccount, PasswordHash, Pinfl};

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

/// What a certificate asserts about its holder. Confirming an account with the certificate makes
/// this the account's verified data (issue 11: "verified" means the certificate's data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedPerson {
    pub surname: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    /// Derived from the PINFL (digits 1-7).
    pub birth_date: BirthDate,
}

/// The holder's name and birth date (from the PINFL). The name is the subject's `SURNAME` and
/// `GIVENNAME` when it has both, the patronymic being what CN adds to them; otherwise CN split
/// as Uzbek CAs write it, `SURNAME NAME PATRONYMIC`.
pub fn certified_person(signer: &SignerIdentity) -> Result<CertifiedPerson, AccountError> {
    let pinfl = signer_pinfl(signer)?;
    let birth = pinfl.birth_date().ok_or(AccountError::PinflFormat)?;
    let birth_date = BirthDate::try_from(birth.format("%Y-%m-%d").to_string().as_str())?;
    let parts = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let (surname, first_name, middle_name) = match (parts(&signer.surname), parts(&signer.given_name)) {
        (Some(surname), Some(given)) => {
            let mut rest: Vec<&str> = signer.common_name.split_whitespace().collect();
            for named in surname.split_whitespace().chain(given.split_whitespace()) {
                if let Some(at) = rest.iter().position(|w| w.eq_ignore_ascii_case(named)) {
                    rest.remove(at);
                }
            }
            (surname, given, (!rest.is_empty()).then(|| rest.join(" ")))
        }
        _ => split_name(&signer.common_name)?,
    };
    Ok(CertifiedPerson { surname, first_name, middle_name, birth_date })
}

/// One field where the account's data and the certificate's differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `surname`, `first_name`, `middle_name` or `birth_date` (the registration form's names).
    pub field: &'static str,
    pub entered: Option<String>,
    pub certified: Option<String>,
}

/// What confirming with the certificate would change in the account, field by field.
pub fn differences(account: &Account, certified: &CertifiedPerson) -> Vec<Difference> {
    let birth = |b: &BirthDate| Some(b.to_string());
    [
        ("surname", Some(account.surname.clone()), Some(certified.surname.clone())),
        ("first_name", Some(account.first_name.clone()), Some(certified.first_name.clone())),
        ("middle_name", account.middle_name.clone(), certified.middle_name.clone()),
        ("birth_date", birth(&account.birth_date), birth(&certified.birth_date)),
    ]
    .into_iter()
    .filter(|(_, entered, certified)| entered != certified)
    .map(|(field, entered, certified)| Difference { field, entered, certified })
    .collect()
}

/// The rightful owner's takeover of an unproven account: the certificate is bound, the
/// certificate's data replaces the entered one, the password becomes `unusable_hash`, contacts
/// and passport number are cleared, every session ends and every grant is revoked.
#[derive(Debug, Clone)]
pub struct Takeover {
    pub account_id: AccountId,
    pub certificate: BoundCertificate,
    pub person: CertifiedPerson,
    pub unusable_hash: PasswordHash,
    pub at: i64,
}

/// The login of the account a first EDS login creates: `p<PINFL>` (reserved: nobody may
/// register it), or `p<PINFL>-<attempt>` when an account from before the reservation holds it.
pub fn first_login(pinfl: &Pinfl, attempt: u32) -> Result<Login, AccountError> {
    match attempt {
        0 => Login::try_from(format!("p{}", pinfl.as_str())),
        n => Login::try_from(format!("p{}-{n}", pinfl.as_str())),
    }
}

/// The confirmed account a first EDS login creates from the certificate: names from CN, birth
/// date from the PINFL, `login` (see [`first_login`]), and no usable password (`unusable_hash`)
/// until the person sets one by password recovery with the same EDS.
pub fn account_from_certificate(
    signer: &SignerIdentity,
    login: Login,
    unusable_hash: PasswordHash,
    now: i64,
) -> Result<NewAccount, AccountError> {
    let pinfl = signer_pinfl(signer)?;
    let person = certified_person(signer)?;
    let mut account = NewAccount::new(
        login,
        pinfl,
        unusable_hash,
        &person.surname,
        &person.first_name,
        person.middle_name.as_deref(),
        person.birth_date,
        now,
    )?;
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
            surname: None,
            given_name: None,
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
    fn the_certified_name_prefers_the_subjects_parts() {
        let mut named = signer(Some("31205900260011"), "Alisher Anvar o'g'li KARIMOV");
        named.surname = Some("KARIMOV".into());
        named.given_name = Some("ALISHER".into());
        let person = certified_person(&named).unwrap();
        assert_eq!((person.surname.as_str(), person.first_name.as_str()), ("KARIMOV", "ALISHER"));
        assert_eq!(person.middle_name.as_deref(), Some("Anvar o'g'li"));
        assert_eq!(person.birth_date.to_string(), "1990-05-12");
        let cn_only = certified_person(&signer(Some("31205900260011"), "KARIMOV ALISHER")).unwrap();
        assert_eq!(
            (cn_only.surname.as_str(), cn_only.first_name.as_str(), cn_only.middle_name),
            ("KARIMOV", "ALISHER", None)
        );
    }

    #[test]
    fn first_eds_login_account() {
        let hash = PasswordHash::from_phc("!".into());
        let pinfl = Pinfl::try_from("31205900260011").unwrap();
        let login = first_login(&pinfl, 0).unwrap();
        let signer = signer(Some("31205900260011"), "KARIMOV ALISHER ANVAR O'G'LI");
        let account = account_from_certificate(&signer, login, hash, 1_796_083_200).unwrap().into_account();
        assert_eq!(account.surname, "KARIMOV");
        assert_eq!(account.middle_name.as_deref(), Some("ANVAR O'G'LI"));
        assert_eq!(account.birth_date.to_string(), "1990-05-12");
        assert_eq!(account.login.as_str(), "p31205900260011");
        assert!(account.is_verified());
        assert_eq!(first_login(&pinfl, 2).unwrap().as_str(), "p31205900260011-2");
    }
}
