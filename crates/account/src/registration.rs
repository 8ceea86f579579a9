//! The registration wizard (user guide steps 1 to 5): accept the offer -> personal data ->
//! confirm the data -> login, password and contacts -> done. Its state is kept server-side
//! between steps as a [`Registration`]; each step's form is validated here, field by field.

use serde::{Deserialize, Serialize};

use crate::account::{check_birth_date_past, person_name};
use crate::{
    AccountError, AccountId, BirthDate, Email, Login, NewAccount, PassportNumber, PasswordHash, PasswordPolicy,
    PhoneNumber, Pinfl,
};

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Offer,
    Person,
    Confirm,
    Credentials,
}

impl Step {
    pub fn number(self) -> u8 {
        match self {
            Self::Offer => 1,
            Self::Person => 2,
            Self::Confirm => 3,
            Self::Credentials => 4,
        }
    }
}

/// The personal data of step 2, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonData {
    pub surname: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub birth_date: String,
    pub pinfl: String,
    pub passport: String,
}

/// What the person has entered so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub offer_accepted: bool,
    pub person: Option<PersonData>,
    pub person_confirmed: bool,
    /// The authorization interaction the registration started in, to return to at the end.
    pub return_interaction: Option<String>,
    /// A first EDS login: the verified signer, waiting for the person to accept the offer.
    #[serde(default)]
    pub eds_signer: Option<EdsSigner>,
    /// An EDS login whose PINFL matched an unproven account: that account, offered for takeover
    /// to the signer (kept with the signer until the person confirms or the record expires).
    #[serde(default)]
    pub takeover_account: Option<AccountId>,
}

/// A verified EDS certificate's data as kept server-side between pages: a first EDS login's until
/// the offer is accepted, a takeover's until it is confirmed, and a cabinet signature's until the
/// person confirms it (registering the certificate, replacing a company's head).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdsSigner {
    pub pinfl: Option<String>,
    pub common_name: String,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    pub serial: String,
    pub issuer: String,
    pub valid_from: i64,
    pub valid_to: i64,
    /// A company certificate's fields (absent from records kept before they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_tin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_entity_tin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl From<&yagona_pki::SignerIdentity> for EdsSigner {
    fn from(s: &yagona_pki::SignerIdentity) -> Self {
        Self {
            pinfl: s.pinfl.clone(),
            common_name: s.common_name.clone(),
            surname: s.surname.clone(),
            given_name: s.given_name.clone(),
            serial: s.serial_number.clone(),
            issuer: s.issuer.clone(),
            valid_from: s.valid_from,
            valid_to: s.valid_to,
            personal_tin: s.personal_tin.clone(),
            legal_entity_tin: s.legal_entity_tin.clone(),
            organisation: s.organisation.clone(),
            title: s.title.clone(),
        }
    }
}

impl From<&EdsSigner> for yagona_pki::SignerIdentity {
    fn from(s: &EdsSigner) -> Self {
        Self {
            pinfl: s.pinfl.clone(),
            personal_tin: s.personal_tin.clone(),
            legal_entity_tin: s.legal_entity_tin.clone(),
            common_name: s.common_name.clone(),
            surname: s.surname.clone(),
            given_name: s.given_name.clone(),
            organisation: s.organisation.clone(),
            title: s.title.clone(),
            serial_number: s.serial.clone(),
            issuer: s.issuer.clone(),
            valid_from: s.valid_from,
            valid_to: s.valid_to,
        }
    }
}

impl Draft {
    /// The step the person is at: the first one not yet done.
    pub fn current_step(&self) -> Step {
        if !self.offer_accepted {
            Step::Offer
        } else if self.person.is_none() {
            Step::Person
        } else if !self.person_confirmed {
            Step::Confirm
        } else {
            Step::Credentials
        }
    }

    /// Whether `step` may be shown: done steps can be revisited (the back button), later ones not.
    pub fn may_show(&self, step: Step) -> bool {
        step.number() <= self.current_step().number()
    }
}

/// A registration in progress, keyed by the hash of its cookie and bound to the browser.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id_hash: String,
    pub browser_hash: String,
    pub draft: Draft,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Errors of a form, by field name.
pub type FieldErrors = Vec<(&'static str, AccountError)>;

/// The raw form of step 2.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    pub surname: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub middle_name: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub pinfl: String,
    #[serde(default)]
    pub passport: String,
}

fn name(value: &str, field: &'static str, errors: &mut FieldErrors) -> String {
    person_name(value, field).unwrap_or_else(|e| {
        errors.push((field, e));
        String::new()
    })
}

/// Validates step 2 at `now` (unix seconds): every field, reporting all errors at once.
pub fn validate_person(form: &PersonForm, now: i64) -> Result<PersonData, FieldErrors> {
    let mut errors = FieldErrors::new();
    let surname = name(&form.surname, "surname", &mut errors);
    let first_name = name(&form.first_name, "first_name", &mut errors);
    let middle_name =
        Some(form.middle_name.trim()).filter(|m| !m.is_empty()).map(|m| name(m, "middle_name", &mut errors));
    let birth_date = if form.birth_date.trim().is_empty() {
        errors.push(("birth_date", AccountError::Required("birth_date")));
        None
    } else {
        BirthDate::try_from(form.birth_date.as_str())
            .and_then(|date| check_birth_date_past(&date, now).map(|()| date))
            .map_err(|e| errors.push(("birth_date", e)))
            .ok()
    };
    let pinfl = if form.pinfl.trim().is_empty() {
        errors.push(("pinfl", AccountError::Required("pinfl")));
        None
    } else {
        Pinfl::try_from(form.pinfl.as_str()).map_err(|e| errors.push(("pinfl", e))).ok()
    };
    if let (Some(pinfl), Some(date)) = (&pinfl, &birth_date) {
        if let Err(e) = pinfl.check_birth_date(date) {
            errors.push(("pinfl", e));
        }
    }
    let passport = if form.passport.trim().is_empty() {
        errors.push(("passport", AccountError::Required("passport")));
        None
    } else {
        PassportNumber::try_from(form.passport.as_str()).map_err(|e| errors.push(("passport", e))).ok()
    };
    match (errors.is_empty(), birth_date, pinfl, passport) {
        (true, Some(birth_date), Some(pinfl), Some(passport)) => Ok(PersonData {
            surname,
            first_name,
            middle_name,
            birth_date: birth_date.to_string(),
            pinfl: pinfl.as_str().to_owned(),
            passport: passport.as_str().to_owned(),
        }),
        _ => Err(errors),
    }
}

/// The raw form of step 4.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CredentialsForm {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
}

/// Step 4, validated: everything but the password hash, which the caller computes.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub login: Login,
    pub phone: PhoneNumber,
    pub email: Option<Email>,
}

pub fn validate_credentials(form: &CredentialsForm, policy: &PasswordPolicy) -> Result<Credentials, FieldErrors> {
    let mut errors = FieldErrors::new();
    let login = Login::try_from(form.login.as_str())
        .and_then(|login| if login.is_reserved() { Err(AccountError::LoginReserved) } else { Ok(login) })
        .map_err(|e| errors.push(("login", e)))
        .ok();
    if let Some(login) = &login {
        if let Err(e) = policy.check(&form.password, login) {
            errors.push(("password", e));
        }
    }
    if form.password != form.password_confirm {
        errors.push(("password_confirm", AccountError::PasswordMismatch));
    }
    let phone = if form.phone.trim().is_empty() {
        errors.push(("phone", AccountError::Required("phone")));
        None
    } else {
        PhoneNumber::try_from(form.phone.as_str()).map_err(|e| errors.push(("phone", e))).ok()
    };
    let email = if form.email.trim().is_empty() {
        None
    } else {
        match Email::try_from(form.email.as_str()) {
            Ok(e) => Some(e),
            Err(e) => {
                errors.push(("email", e));
                None
            }
        }
    };
    match (errors.is_empty(), login, phone) {
        (true, Some(login), Some(phone)) => Ok(Credentials { login, phone, email }),
        _ => Err(errors),
    }
}

/// The account a finished registration creates (unconfirmed until an EDS confirms it).
pub fn new_account(
    person: &PersonData,
    credentials: &Credentials,
    hash: PasswordHash,
    now: i64,
) -> Result<NewAccount, AccountError> {
    let account = NewAccount::new(
        credentials.login.clone(),
        Pinfl::try_from(person.pinfl.as_str())?,
        hash,
        &person.surname,
        &person.first_name,
        person.middle_name.as_deref(),
        BirthDate::try_from(person.birth_date.as_str())?,
        now,
    )?
    .with_contacts(
        credentials.email.as_ref().map(|e| e.as_str().to_owned()),
        Some(credentials.phone.as_str().to_owned()),
    )
    .with_passport(Some(PassportNumber::try_from(person.passport.as_str())?));
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01.
    const NOW: i64 = 1_796_083_200;

    fn person() -> PersonForm {
        PersonForm {
            surname: "Karimov".into(),
            first_name: "Alisher".into(),
            middle_name: " ".into(),
            birth_date: "1990-05-12".into(),
            pinfl: "31205900260011".into(),
            passport: "aa1234567".into(),
        }
    }

    #[test]
    fn steps_follow_the_draft() {
        let mut d = Draft::default();
        assert_eq!(d.current_step(), Step::Offer);
        assert!(!d.may_show(Step::Person));
        d.offer_accepted = true;
        assert_eq!(d.current_step(), Step::Person);
        d.person = Some(validate_person(&person(), NOW).unwrap());
        assert_eq!(d.current_step(), Step::Confirm);
        d.person_confirmed = true;
        assert_eq!(d.current_step(), Step::Credentials);
        assert!(d.may_show(Step::Person), "the back button works");
    }

    #[test]
    fn person_validation_reports_every_field() {
        let ok = validate_person(&person(), NOW).unwrap();
        assert_eq!(ok.passport, "AA1234567");
        assert_eq!(ok.middle_name, None);
        let bad = PersonForm { surname: "".into(), pinfl: "31205900260012".into(), passport: "A1".into(), ..person() };
        let errors = validate_person(&bad, NOW).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["surname", "pinfl", "passport"]);
        let mismatch = PersonForm { birth_date: "1991-05-12".into(), ..person() };
        assert_eq!(validate_person(&mismatch, NOW).unwrap_err()[0].1.code(), "pinfl_birth_date");
        let untrue = PersonForm {
            surname: "Karimov2".into(),
            first_name: "Ali\u{202e}sher".into(),
            middle_name: "x".repeat(65),
            ..person()
        };
        let codes: Vec<_> = validate_person(&untrue, NOW).unwrap_err().iter().map(|(f, e)| (*f, e.code())).collect();
        assert_eq!(
            codes,
            [("surname", "name_characters"), ("first_name", "name_characters"), ("middle_name", "too_long")]
        );
        let uzbek = PersonForm { surname: "Oʻgʻilova".into(), middle_name: "Anvar o'g'li".into(), ..person() };
        assert!(validate_person(&uzbek, NOW).is_ok());
    }

    #[test]
    fn credentials_validation() {
        let policy = PasswordPolicy::default();
        let form = CredentialsForm {
            login: "alisher".into(),
            password: "Samarqand-Registon-1".into(),
            password_confirm: "Samarqand-Registon-1".into(),
            phone: "+998901234567".into(),
            email: "".into(),
        };
        assert!(validate_credentials(&form, &policy).is_ok());
        let bad = CredentialsForm { password_confirm: "other".into(), phone: "123".into(), email: "x@".into(), ..form };
        let codes: Vec<_> = validate_credentials(&bad, &policy).unwrap_err().iter().map(|(_, e)| e.code()).collect();
        assert_eq!(codes, ["password_mismatch", "phone_format", "email_format"]);
    }
}
