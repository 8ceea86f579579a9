//! Verification of CMS SignedData (RFC 5652 5.4, 5.6) and certificate paths (RFC 5280 6, in the
//! subset e-government EDS needs: names chain to a configured anchor, every certificate valid at
//! the time, CA certificates marked CA, signing keys allowed to sign, CRLs consulted).

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::OctetString;
use der::{Decode as _, DecodePem as _, Encode as _};
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use x509_cert::Certificate;

use crate::algorithms::{self, Digest};
use crate::identity::{identity, serial_hex};
use crate::{oids, PkiError, SignatureVerifier, VerifiedSignature};

/// How far the signing time may be from the verification time (clock skew and the challenge's
/// lifetime).
const SIGNING_TIME_WINDOW: i64 = 600;
const MAX_CHAIN: usize = 8;

fn malformed(e: impl std::fmt::Display) -> PkiError {
    PkiError::Malformed(e.to_string())
}

fn unix(time: &x509_cert::time::Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn day(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether the certificates under a trust anchor must have their revocation status checked.
///
/// Fail closed: a certificate under a [`RevocationPolicy::Required`] anchor whose issuer has no
/// revocation list is refused ([`PkiError::NoRevocationSource`]); otherwise a revoked certificate
/// would pass wherever the operator forgot to configure a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationPolicy {
    /// Every certificate below the anchor needs a CRL of its issuer (the default).
    Required,
    /// The operator opted this anchor out: revocation lists are used when present, and a
    /// certificate whose issuer has none is accepted.
    NotChecked,
}

#[derive(Clone)]
struct Anchor {
    certificate: Certificate,
    policy: RevocationPolicy,
}

/// The certificates and revocation lists signatures are checked against.
#[derive(Default, Clone)]
pub struct TrustStore {
    anchors: Vec<Anchor>,
    intermediates: Vec<Certificate>,
    crls: Vec<CertificateList>,
}

/// What a trust anchor's certificates are checked against, for the start-up log and
/// `yagona pki status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorSummary {
    /// The anchor's subject (RFC 4514 string).
    pub subject: String,
    pub policy: RevocationPolicy,
    /// The loaded CRLs issued by the anchor or by a configured intermediate it issued.
    pub crls: Vec<CrlSummary>,
}

/// One loaded certificate revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlSummary {
    pub issuer: String,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked: usize,
}

impl AnchorSummary {
    /// Whether certificates under this anchor can be accepted at all at `now`: it has a CRL
    /// that is not past its next update, or the operator opted it out.
    pub fn accepts_certificates(&self, now: i64) -> bool {
        self.policy == RevocationPolicy::NotChecked
            || (!self.crls.is_empty() && self.crls.iter().all(|c| c.next_update.is_none_or(|n| n >= now)))
    }
}

/// A CRL's facts (issuer, dates, entries), read without checking its signature.
pub fn crl_summary(crl: &CertificateList) -> CrlSummary {
    CrlSummary {
        issuer: crl.tbs_cert_list.issuer.to_string(),
        this_update: unix(&crl.tbs_cert_list.this_update),
        next_update: crl.tbs_cert_list.next_update.as_ref().map(unix),
        revoked: crl.tbs_cert_list.revoked_certificates.as_ref().map_or(0, Vec::len),
    }
}

/// Parses a CRL, DER or PEM (`X509 CRL`).
pub fn parse_crl(bytes: &[u8]) -> Result<CertificateList, PkiError> {
    match CertificateList::from_der(bytes) {
        Ok(crl) => Ok(crl),
        Err(_) => {
            let (label, der) = der::pem::decode_vec(bytes).map_err(malformed)?;
            if label != "X509 CRL" {
                return Err(PkiError::Malformed(format!("a PEM {label} is not a CRL")));
            }
            CertificateList::from_der(&der).map_err(malformed)
        }
    }
}

fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    let certs = Certificate::load_pem_chain(pem).map_err(malformed)?;
    if certs.is_empty() {
        return Err(PkiError::Malformed("no certificate in the PEM".into()));
    }
    Ok(certs)
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds trusted root certificates (one or more PEM blocks) with their revocation policy;
    /// returns how many ([`TrustStore::summary`] lists anchors in the order they were added).
    pub fn add_anchor_pem(&mut self, pem: &[u8], policy: RevocationPolicy) -> Result<usize, PkiError> {
        let certificates = certificates_from_pem(pem)?;
        let added = certificates.len();
        self.anchors.extend(certificates.into_iter().map(|certificate| Anchor { certificate, policy }));
        Ok(added)
    }

    /// Adds intermediate CA certificates (one or more PEM blocks).
    pub fn add_intermediate_pem(&mut self, pem: &[u8]) -> Result<(), PkiError> {
        self.intermediates.extend(certificates_from_pem(pem)?);
        Ok(())
    }

    /// Adds a CRL, DER or PEM (`X509 CRL`); returns its facts.
    pub fn add_crl_der(&mut self, bytes: &[u8]) -> Result<CrlSummary, PkiError> {
        let crl = parse_crl(bytes)?;
        let summary = crl_summary(&crl);
        self.crls.push(crl);
        Ok(summary)
    }

    /// Each anchor with its policy and the CRLs that cover its certificates.
    pub fn summary(&self) -> Vec<AnchorSummary> {
        self.anchors
            .iter()
            .map(|anchor| {
                let subject = &anchor.certificate.tbs_certificate.subject;
                let issuers: Vec<_> = std::iter::once(subject)
                    .chain(
                        self.intermediates
                            .iter()
                            .filter(|i| &i.tbs_certificate.issuer == subject)
                            .map(|i| &i.tbs_certificate.subject),
                    )
                    .collect();
                AnchorSummary {
                    subject: subject.to_string(),
                    policy: anchor.policy,
                    crls: self
                        .crls
                        .iter()
                        .filter(|c| issuers.contains(&&c.tbs_cert_list.issuer))
                        .map(crl_summary)
                        .collect(),
                }
            })
            .collect()
    }
}

/// Yagona's own verifier: RSA and ECDSA signatures against a [`TrustStore`].
#[derive(Clone)]
pub struct Verifier {
    pub trust: TrustStore,
}

impl SignatureVerifier for Verifier {
    fn verify_attached(&self, cms_der: &[u8], at: i64) -> Result<VerifiedSignature, PkiError> {
        self.verify_cms(cms_der, None, at)
    }
}

impl Verifier {
    /// Verifies a detached CMS SignedData over `content`.
    pub fn verify_detached(&self, cms_der: &[u8], content: &[u8], at: i64) -> Result<VerifiedSignature, PkiError> {
        self.verify_cms(cms_der, Some(content), at)
    }

    fn verify_cms(&self, der: &[u8], detached: Option<&[u8]>, at: i64) -> Result<VerifiedSignature, PkiError> {
        let info = ContentInfo::from_der(der).map_err(malformed)?;
        if info.content_type != oids::SIGNED_DATA {
            return Err(PkiError::Malformed("not a CMS SignedData".into()));
        }
        let signed: SignedData = info.content.decode_as().map_err(malformed)?;
        let content = match (&signed.encap_content_info.econtent, detached) {
            (Some(any), None) => any.decode_as::<OctetString>().map_err(malformed)?.as_bytes().to_vec(),
            (None, Some(content)) => content.to_vec(),
            (Some(_), Some(_)) => return Err(PkiError::Malformed("content both attached and detached".into())),
            (None, None) => return Err(PkiError::Malformed("no signed content".into())),
        };
        let signer = match signed.signer_infos.0.as_slice() {
            [one] => one,
            _ => return Err(PkiError::Malformed("exactly one signer is expected".into())),
        };
        let carried: Vec<Certificate> = signed
            .certificates
            .as_ref()
            .map(|set| {
                set.0
                    .iter()
                    .filter_map(|c| match c {
                        CertificateChoices::Certificate(c) => Some(c.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let signer_cert = carried
            .iter()
            .chain(&self.trust.intermediates)
            .find(|c| identifies(&signer.sid, c))
            .ok_or_else(|| PkiError::Malformed("the signer's certificate is not in the message".into()))?
            .clone();

        // RFC 5652 5.4: the signature covers the DER of the signed attributes, which must name
        // the content type and carry the content's digest.
        let digest = Digest::from_oid(&signer.digest_alg.oid)?;
        let attributes =
            signer.signed_attrs.as_ref().ok_or_else(|| PkiError::Malformed("no signed attributes".into()))?;
        let attribute = |oid| attributes.iter().find(|a| a.oid == oid).and_then(|a| a.values.iter().next());
        let content_type = attribute(oids::CONTENT_TYPE)
            .ok_or_else(|| PkiError::Malformed("no content-type attribute".into()))?
            .decode_as::<const_oid::ObjectIdentifier>()
            .map_err(malformed)?;
        if content_type != signed.encap_content_info.econtent_type {
            return Err(PkiError::BadSignature);
        }
        let message_digest = attribute(oids::MESSAGE_DIGEST)
            .ok_or_else(|| PkiError::Malformed("no message-digest attribute".into()))?
            .decode_as::<OctetString>()
            .map_err(malformed)?;
        if message_digest.as_bytes() != digest.hash(&content).as_slice() {
            return Err(PkiError::BadSignature);
        }
        let signed_der = attributes.to_der().map_err(malformed)?;
        algorithms::verify(
            &signer_cert.tbs_certificate.subject_public_key_info,
            &signer.signature_algorithm,
            Some(digest),
            &signed_der,
            signer.signature.as_bytes(),
        )?;
        let signing_time = match attribute(oids::SIGNING_TIME) {
            Some(value) => {
                Some(unix(&x509_cert::time::Time::from_der(&value.to_der().map_err(malformed)?).map_err(malformed)?))
            }
            None => None,
        };
        if let Some(time) = signing_time {
            if (time - at).abs() > SIGNING_TIME_WINDOW {
                return Err(PkiError::BadSigningTime);
            }
        }

        let (chain, policy) = self.chain(&signer_cert, &carried)?;
        self.check_chain(&chain, policy, at)?;
        if let Some(time) = signing_time {
            if self.check_chain(&chain, policy, time).is_err() {
                return Err(PkiError::CertificateInvalidAtSigningTime);
            }
        }
        Ok(VerifiedSignature { content, signer: identity(&signer_cert)? })
    }

    /// Builds the path from `leaf` to a trust anchor through carried or configured certificates.
    /// Returns the path (leaf first, anchor last) and the anchor's revocation policy.
    fn chain(
        &self,
        leaf: &Certificate,
        carried: &[Certificate],
    ) -> Result<(Vec<Certificate>, RevocationPolicy), PkiError> {
        let mut chain = vec![leaf.clone()];
        for _ in 0..MAX_CHAIN {
            let Some(current) = chain.last() else { break };
            if let Some(anchor) = self.trust.anchors.iter().find(|a| issued(&a.certificate, current)) {
                if &anchor.certificate != current {
                    chain.push(anchor.certificate.clone());
                }
                return Ok((chain, anchor.policy));
            }
            let next = carried
                .iter()
                .chain(&self.trust.intermediates)
                .find(|c| !chain.contains(c) && issued(c, current))
                .cloned();
            match next {
                Some(next) => chain.push(next),
                None => return Err(PkiError::CertificateUntrusted),
            }
        }
        Err(PkiError::CertificateInvalid("the certificate chain is too long".into()))
    }

    /// Validity, CA and key-usage rules and revocation, for every certificate of `chain` at `at`.
    fn check_chain(&self, chain: &[Certificate], policy: RevocationPolicy, at: i64) -> Result<(), PkiError> {
        for (index, cert) in chain.iter().enumerate() {
            let tbs = &cert.tbs_certificate;
            let (not_before, not_after) = (unix(&tbs.validity.not_before), unix(&tbs.validity.not_after));
            if at < not_before {
                return Err(PkiError::CertificateNotYetValid(day(not_before)));
            }
            if at > not_after {
                return Err(PkiError::CertificateExpired(day(not_after)));
            }
            let key_usage = tbs.get::<KeyUsage>().map_err(malformed)?.map(|(_, k)| k);
            if index == 0 {
                if let Some(usage) = key_usage {
                    if !usage.digital_signature() && !usage.non_repudiation() {
                        return Err(PkiError::CertificateInvalid("the key may not be used for signing".into()));
                    }
                }
            } else {
                let ca = tbs.get::<BasicConstraints>().map_err(malformed)?.is_some_and(|(_, b)| b.ca);
                if !ca {
                    return Err(PkiError::CertificateInvalid("an issuer is not a certification authority".into()));
                }
                if key_usage.is_some_and(|u| !u.key_cert_sign()) {
                    return Err(PkiError::CertificateInvalid("an issuer may not sign certificates".into()));
                }
            }
            if let Some(issuer) = chain.get(index + 1) {
                self.check_revocation(cert, issuer, policy, at)?;
            }
        }
        Ok(())
    }

    fn check_revocation(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        policy: RevocationPolicy,
        at: i64,
    ) -> Result<(), PkiError> {
        let serial = cert.tbs_certificate.serial_number.as_bytes();
        let mut checked = false;
        for crl in self.trust.crls.iter().filter(|c| c.tbs_cert_list.issuer == cert.tbs_certificate.issuer) {
            let tbs_der = crl.tbs_cert_list.to_der().map_err(malformed)?;
            let signature = crl.signature.as_bytes().ok_or(PkiError::StatusCheckFailed)?;
            algorithms::verify(
                &issuer.tbs_certificate.subject_public_key_info,
                &crl.signature_algorithm,
                None,
                &tbs_der,
                signature,
            )
            .map_err(|_| PkiError::StatusCheckFailed)?;
            if crl.tbs_cert_list.next_update.as_ref().is_some_and(|next| unix(next) < at) {
                return Err(PkiError::StatusCheckFailed);
            }
            let revoked = crl.tbs_cert_list.revoked_certificates.iter().flatten();
            for entry in revoked {
                let date = unix(&entry.revocation_date);
                if entry.serial_number.as_bytes() == serial && date <= at {
                    return Err(PkiError::Revoked(day(date)));
                }
            }
            checked = true;
        }
        if !checked && policy == RevocationPolicy::Required {
            return Err(PkiError::NoRevocationSource(cert.tbs_certificate.issuer.to_string()));
        }
        Ok(())
    }
}

/// Whether `sid` names `cert` (by issuer and serial, or by subject key identifier).
fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == cert.tbs_certificate.issuer && id.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            cert.tbs_certificate.get::<SubjectKeyIdentifier>().ok().flatten().is_some_and(|(_, own)| own.0 == ski.0)
        }
    }
}

/// Whether `issuer` issued `cert`: names match and the signature verifies.
fn issued(issuer: &Certificate, cert: &Certificate) -> bool {
    if issuer.tbs_certificate.subject != cert.tbs_certificate.issuer {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else { return false };
    let Some(signature) = cert.signature.as_bytes() else { return false };
    algorithms::verify(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm,
        None,
        &tbs,
        signature,
    )
    .is_ok()
}

/// The issuer of the signer's certificate and the attached content of a CMS SignedData, read
/// without verifying anything: to choose a verifier, and for verifiers that check signatures
/// elsewhere (E-IMZO-server).
pub fn inspect_signed_data(der: &[u8]) -> Result<(String, Option<Vec<u8>>), PkiError> {
    let info = ContentInfo::from_der(der).map_err(malformed)?;
    if info.content_type != oids::SIGNED_DATA {
        return Err(PkiError::Malformed("not a CMS SignedData".into()));
    }
    let signed: SignedData = info.content.decode_as().map_err(malformed)?;
    let content = match &signed.encap_content_info.econtent {
        Some(any) => Some(any.decode_as::<OctetString>().map_err(malformed)?.as_bytes().to_vec()),
        None => None,
    };
    let issuer = match signed.signer_infos.0.as_slice() {
        [one] => match &one.sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => id.issuer.to_string(),
            SignerIdentifier::SubjectKeyIdentifier(_) => {
                let certs = signed.certificates.as_ref().map(|set| set.0.as_slice()).unwrap_or_default();
                certs
                    .iter()
                    .find_map(|c| match c {
                        CertificateChoices::Certificate(c) if identifies(&one.sid, c) => {
                            Some(c.tbs_certificate.issuer.to_string())
                        }
                        _ => None,
                    })
                    .ok_or_else(|| PkiError::Malformed("the signer's certificate is not in the message".into()))?
            }
        },
        _ => return Err(PkiError::Malformed("exactly one signer is expected".into())),
    };
    Ok((issuer, content))
}

/// The subjects of the certificates in a PEM file (to compare with issuers).
pub fn certificate_subjects(pem: &[u8]) -> Result<Vec<String>, PkiError> {
    Ok(certificates_from_pem(pem)?.iter().map(|c| c.tbs_certificate.subject.to_string()).collect())
}

/// The serial of a PEM certificate, as [`crate::SignerIdentity::serial_number`] writes it.
pub fn certificate_serial(pem: &str) -> Result<String, PkiError> {
    let cert = Certificate::from_pem(pem.as_bytes()).map_err(malformed)?;
    Ok(serial_hex(&cert))
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub fn day(unix: i64) -> String {
        super::day(unix)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::day(0), "1970-01-01");
        assert_eq!(super::day(1_795_478_400), "2026-11-24");
        assert_eq!(super::day(951_782_400), "2000-02-29");
    }
}
