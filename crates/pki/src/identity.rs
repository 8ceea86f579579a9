//! The signer's identity, read from the certificate's subject (domain.md: `CN`, `SURNAME`,
//! `GIVENNAME`, `UID` (personal
//! TIN), `1.2.860.3.16.1.2` (PINFL), `1.2.860.3.16.1.1` (legal entity TIN), `O`, `T`).

use der::{Any, Tag, Tagged as _};
use x509_cert::Certificate;

use crate::{oids, PkiError, SignerIdentity};

/// The text of a directory string attribute, whatever its ASN.1 string type.
fn text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString | Tag::VisibleString => {
            String::from_utf8(value.value().to_vec()).ok()
        }
        Tag::BmpString => {
            let units: Vec<u16> = value.value().chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// The serial number as lower-case hex, without leading zero bytes.
pub fn serial_hex(cert: &Certificate) -> String {
    let bytes = cert.tbs_certificate.serial_number.as_bytes();
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(first) => &bytes[first..],
        None => bytes,
    };
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn identity(cert: &Certificate) -> Result<SignerIdentity, PkiError> {
    let tbs = &cert.tbs_certificate;
    let mut identity = SignerIdentity {
        pinfl: None,
        personal_tin: None,
        legal_entity_tin: None,
        common_name: String::new(),
        surname: None,
        given_name: None,
        organisation: None,
        title: None,
        serial_number: serial_hex(cert),
        issuer: tbs.issuer.to_string(),
        valid_from: i64::try_from(tbs.validity.not_before.to_unix_duration().as_secs()).unwrap_or(0),
        valid_to: i64::try_from(tbs.validity.not_after.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
    };
    for rdn in tbs.subject.0.iter() {
        for attribute in rdn.0.iter() {
            let Some(value) = text(&attribute.value) else { continue };
            match attribute.oid {
                oids::CN => identity.common_name = value,
                oids::SURNAME => identity.surname = Some(value),
                oids::GIVEN_NAME => identity.given_name = Some(value),
                oids::PINFL => identity.pinfl = Some(value),
                oids::LEGAL_ENTITY_TIN => identity.legal_entity_tin = Some(value),
                oids::UID => identity.personal_tin = Some(value),
                oids::O => identity.organisation = Some(value),
                oids::TITLE => identity.title = Some(value),
                _ => {}
            }
        }
    }
    if identity.common_name.is_empty() {
        return Err(PkiError::CertificateInvalid("the certificate names no holder (CN)".into()));
    }
    Ok(identity)
}
