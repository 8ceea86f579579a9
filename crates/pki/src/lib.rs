//! Verification of electronic digital signatures (EDS): X.509 certificates and CMS SignedData
//! (RFC 5652), pure and synchronous, with no I/O.
//!
//! This crate is the boundary the EDS login and account confirmation build on. It defines what a
//! verified signature yields ([`SignerIdentity`]), how verification fails ([`PkiError`], mapped
//! onto E-IMZO's status codes), and the [`SignatureVerifier`] port behind which either Yagona's own
//! RSA/ECDSA verifier or an E-IMZO-server compatible service sits. The verifiers themselves arrive
//! as [`Verifier`] over a [`TrustStore`]; [`dev_ca`] makes certificates to try it with.

mod algorithms;
pub mod dev_ca;
mod identity;
pub mod oids;
mod verify;

pub use verify::{
    certificate_serial, certificate_subjects, crl_summary, inspect_signed_data, parse_crl, AnchorSummary, CrlSummary,
    RevocationPolicy, TrustStore, Verifier,
};

use thiserror::Error;

/// Why a signature or certificate was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PkiError {
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the certificate is not valid: {0}")]
    CertificateInvalid(String),
    /// A certificate of the chain expired on this day (`YYYY-MM-DD`).
    #[error("the certificate is not valid: expired on {0}")]
    CertificateExpired(String),
    /// A certificate of the chain is valid only from this day (`YYYY-MM-DD`).
    #[error("the certificate is not valid: not valid before {0}")]
    CertificateNotYetValid(String),
    /// The chain leads to no configured trust anchor.
    #[error("the certificate is not valid: not issued by a trusted authority")]
    CertificateUntrusted,
    #[error("the certificate was not valid at signing time")]
    CertificateInvalidAtSigningTime,
    #[error("the certificate status could not be checked")]
    StatusCheckFailed,
    /// Fail closed: the issuer has no revocation list and its anchor is not opted out.
    #[error("the revocation status of certificates issued by {0} cannot be checked: no revocation list is configured")]
    NoRevocationSource(String),
    #[error("the certificate was revoked on {0}")]
    Revoked(String),
    #[error("the signing time is not acceptable")]
    BadSigningTime,
    #[error("the signed challenge is unknown or expired")]
    ChallengeUnknown,
    #[error("the algorithm {0} is too weak")]
    WeakAlgorithm(String),
    #[error("the algorithm {0} is not supported")]
    UnsupportedAlgorithm(String),
}

impl PkiError {
    /// The E-IMZO-server status code for this failure (domain.md, "EDS certificates and E-IMZO").
    pub fn eimzo_status(&self) -> i32 {
        match self {
            Self::StatusCheckFailed | Self::NoRevocationSource(_) | Self::Revoked(_) => -1,
            Self::BadSigningTime => -5,
            Self::Malformed(_) | Self::BadSignature | Self::WeakAlgorithm(_) | Self::UnsupportedAlgorithm(_) => -10,
            Self::CertificateInvalid(_)
            | Self::CertificateExpired(_)
            | Self::CertificateNotYetValid(_)
            | Self::CertificateUntrusted => -11,
            Self::CertificateInvalidAtSigningTime => -12,
            Self::ChallengeUnknown => -20,
        }
    }
}

/// Who signed: the identity read from the signer's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerIdentity {
    /// PINFL, OID 1.2.860.3.16.1.2.
    pub pinfl: Option<String>,
    /// Personal TIN (`UID`).
    pub personal_tin: Option<String>,
    /// The legal entity's TIN, OID 1.2.860.3.16.1.1; absent for individuals.
    pub legal_entity_tin: Option<String>,
    pub common_name: String,
    /// `SURNAME`, when the certificate names the holder in parts.
    pub surname: Option<String>,
    /// `GIVENNAME` (E-IMZO: `Name`).
    pub given_name: Option<String>,
    pub organisation: Option<String>,
    pub title: Option<String>,
    pub serial_number: String,
    pub issuer: String,
    pub valid_from: i64,
    pub valid_to: i64,
}

/// A verified signed message: the content that was signed and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub content: Vec<u8>,
    pub signer: SignerIdentity,
}

/// The port every signature verifier implements.
pub trait SignatureVerifier: Send + Sync {
    /// Verifies an attached CMS SignedData (DER) at `at` (unix seconds).
    fn verify_attached(&self, cms_der: &[u8], at: i64) -> Result<VerifiedSignature, PkiError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eimzo_status_codes() {
        assert_eq!(PkiError::BadSignature.eimzo_status(), -10);
        assert_eq!(PkiError::ChallengeUnknown.eimzo_status(), -20);
        assert_eq!(PkiError::Revoked("2026-01-01".into()).eimzo_status(), -1);
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod verification_tests;
