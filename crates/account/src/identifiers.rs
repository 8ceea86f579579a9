//! Identifiers of people, parsed once at the boundary ("parse, don't validate").

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::AccountError;

/// PINFL: the 14-digit personal identification number of an individual.
///
/// Digit 1 is the century and sex (1/2: 1800s, 3/4: 1900s, 5/6: 2000s), digits 2-7 the birth
/// date `DDMMYY`, 8-10 a region, 11-13 a serial, and digit 14 a check digit: the sum of digits 1-13
/// weighted 7, 3, 1, 7, 3, 1, ... modulo 10.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pinfl(String);

impl Pinfl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The check digit of the first 13 digits.
    fn check_digit(digits: &[u8]) -> u8 {
        const WEIGHTS: [u32; 3] = [7, 3, 1];
        let sum: u32 = digits.iter().take(13).enumerate().map(|(i, d)| u32::from(*d) * WEIGHTS[i % 3]).sum();
        // `sum % 10` is below 10, so it fits.
        (sum % 10) as u8
    }

    fn digits(&self) -> Vec<u8> {
        self.0.bytes().map(|b| b - b'0').collect()
    }

    /// The birth date encoded in digits 1-7, when it is a real date.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        let d = self.digits();
        let century = match d[0] {
            1 | 2 => 1800,
            3 | 4 => 1900,
            5 | 6 => 2000,
            _ => return None,
        };
        let day = u32::from(d[1]) * 10 + u32::from(d[2]);
        let month = u32::from(d[3]) * 10 + u32::from(d[4]);
        let year = century + i32::from(d[5]) * 10 + i32::from(d[6]);
        NaiveDate::from_ymd_opt(year, month, day)
    }

    /// Checks that the PINFL encodes this birth date (digits 1-7).
    pub fn check_birth_date(&self, date: &BirthDate) -> Result<(), AccountError> {
        match self.birth_date() {
            Some(encoded) if encoded == date.0 => Ok(()),
            _ => Err(AccountError::PinflBirthDate(date.to_string())),
        }
    }
}

impl TryFrom<&str> for Pinfl {
    type Error = AccountError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        // People copy the number as printed, in groups: spaces (also no-break ones) are dropped.
        let value: String = value.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}')).collect();
        let value = value.trim();
        if value.len() != 14 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AccountError::PinflFormat);
        }
        let pinfl = Pinfl(value.to_owned());
        let digits = pinfl.digits();
        if Self::check_digit(&digits) != digits[13] {
            return Err(AccountError::PinflCheckDigit);
        }
        Ok(pinfl)
    }
}

impl TryFrom<String> for Pinfl {
    type Error = AccountError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<Pinfl> for String {
    fn from(value: Pinfl) -> Self {
        value.0
    }
}

impl fmt::Display for Pinfl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name: 3-64 characters, ASCII letters, digits, `.`, `_`, `-`, starting with a letter.
/// Logins are compared case-insensitively, so they are stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Login(String);

impl Login {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Logins starting with `p` and 14 digits are those of accounts a first EDS login creates
    /// (`p<PINFL>`, or with a suffix when an old account took it): nobody may register one, or
    /// they could block the owner's first EDS login.
    pub fn is_reserved(&self) -> bool {
        self.0
            .strip_prefix('p')
            .is_some_and(|rest| rest.len() >= 14 && rest.as_bytes()[..14].iter().all(u8::is_ascii_digit))
    }
}

impl TryFrom<&str> for Login {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let value = value.trim();
        let ok = (3..=64).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_alphabetic())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Login(value.to_ascii_lowercase()))
        } else {
            Err(AccountError::LoginFormat)
        }
    }
}

impl TryFrom<String> for Login {
    type Error = AccountError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<Login> for String {
    fn from(value: Login) -> Self {
        value.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A passport or ID card number: two Latin capitals and seven digits (`AA1234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PassportNumber(String);

impl PassportNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for PassportNumber {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let value = value.trim().to_ascii_uppercase();
        let b = value.as_bytes();
        let ok = b.len() == 9 && b[..2].iter().all(u8::is_ascii_uppercase) && b[2..].iter().all(u8::is_ascii_digit);
        if ok {
            Ok(PassportNumber(value))
        } else {
            Err(AccountError::PassportFormat)
        }
    }
}

impl TryFrom<String> for PassportNumber {
    type Error = AccountError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl From<PassportNumber> for String {
    fn from(value: PassportNumber) -> Self {
        value.0
    }
}

/// A mobile phone number in international format: `+` and 9 to 15 digits (E.164). Spaces,
/// dashes and brackets people type are removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for PhoneNumber {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let compact: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let digits = compact.strip_prefix('+').ok_or(AccountError::PhoneFormat)?;
        if (9..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(compact))
        } else {
            Err(AccountError::PhoneFormat)
        }
    }
}

/// An e-mail address, checked for shape only (one `@`, a dotted domain, no spaces); control of
/// the address is not proven.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Email {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        let value = value.trim();
        let ok = value.len() <= 254
            && !value.contains(char::is_whitespace)
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(AccountError::EmailFormat)
        }
    }
}

/// A birth date, written `YYYY-MM-DD` (the OIDC `birthdate` claim format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate(NaiveDate);

impl BirthDate {
    pub fn date(&self) -> NaiveDate {
        self.0
    }
    pub fn year(&self) -> i32 {
        self.0.year()
    }
}

impl TryFrom<&str> for BirthDate {
    type Error = AccountError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map(BirthDate).map_err(|_| AccountError::BirthDateFormat)
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pinfl_typed_in_groups_is_accepted() {
        let plain = Pinfl::try_from("31205900260011").unwrap();
        assert_eq!(Pinfl::try_from("3120 5900 2600 11").unwrap(), plain);
        assert_eq!(Pinfl::try_from(" 312059\u{a0}00260011 ").unwrap(), plain);
        assert_eq!(Pinfl::try_from("3120-5900-2600-11"), Err(AccountError::PinflFormat));
    }

    use super::*;

    #[test]
    fn pinfl_accepts_valid_check_digit() {
        // 3 120590 026 001 -> weights 7,3,1,...: computed check digit appended.
        let body = "3120590026001";
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let check = Pinfl::check_digit(&digits);
        let pinfl = Pinfl::try_from(format!("{body}{check}").as_str()).unwrap();
        assert_eq!(pinfl.birth_date(), NaiveDate::from_ymd_opt(1990, 5, 12));
        let wrong = format!("{body}{}", (check + 1) % 10);
        assert_eq!(Pinfl::try_from(wrong.as_str()), Err(AccountError::PinflCheckDigit));
    }

    #[test]
    fn pinfl_rejects_bad_format() {
        for bad in ["", "1234", "3120590026001a", "312059002600123"] {
            assert_eq!(Pinfl::try_from(bad), Err(AccountError::PinflFormat), "{bad}");
        }
    }

    #[test]
    fn pinfl_birth_date_consistency() {
        let body = "5010103026001";
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let pinfl = Pinfl::try_from(format!("{body}{}", Pinfl::check_digit(&digits)).as_str()).unwrap();
        assert!(pinfl.check_birth_date(&BirthDate::try_from("2003-01-01").unwrap()).is_ok());
        assert!(pinfl.check_birth_date(&BirthDate::try_from("1903-01-01").unwrap()).is_err());
    }

    #[test]
    fn login_rules() {
        assert_eq!(Login::try_from("Alisher.N").unwrap().as_str(), "alisher.n");
        for bad in ["ab", "1abc", "a b", "al!sher", &"a".repeat(65)] {
            assert!(Login::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn p_pinfl_logins_are_reserved() {
        for reserved in ["p31205900260011", "P31205900260011", "p31205900260011-2"] {
            assert!(Login::try_from(reserved).unwrap().is_reserved(), "{reserved}");
        }
        for free in ["p3120590026001", "pulat", "px31205900260011", "alisher31205900260011"] {
            assert!(!Login::try_from(free).unwrap().is_reserved(), "{free}");
        }
    }

    #[test]
    fn phone_and_email() {
        assert_eq!(PhoneNumber::try_from("+998 (90) 123-45-67").unwrap().as_str(), "+998901234567");
        assert!(PhoneNumber::try_from("901234567").is_err());
        assert!(PhoneNumber::try_from("+99890abc").is_err());
        assert!(Email::try_from("a@b.uz").is_ok());
        for bad in ["a@b", "@b.uz", "a b@c.uz", "a@@b.uz", "a@.uz"] {
            assert!(Email::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passport_rules() {
        assert_eq!(PassportNumber::try_from("aa1234567").unwrap().as_str(), "AA1234567");
        for bad in ["A1234567", "AA123456", "AA12345678", "1A1234567"] {
            assert!(PassportNumber::try_from(bad).is_err(), "{bad}");
        }
    }
}
