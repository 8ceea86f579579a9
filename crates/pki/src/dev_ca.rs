//! A development certification authority, so the whole EDS flow can be tried without a real CA:
//! it issues individual and legal-entity certificates with the national OIDs, packs them as
//! password-protected PKCS#12 key files, revokes them in a CRL, and signs challenges into attached
//! CMS the way E-IMZO's `create_pkcs7` does. The test suites build their fixtures with it.
//!
//! Pure: every function takes and returns bytes; the CLI writes the files.

use std::str::FromStr as _;
use std::time::Duration;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{BitString, OctetString, SetOfVec, UtcTime};
use der::pem::LineEnding;
use der::referenced::OwnedToRef as _;
use der::{Any, Decode as _, DecodePem as _, Encode as _, EncodePem as _, Tag};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rand::RngCore as _;
use spki::{AlgorithmIdentifierOwned, EncodePublicKey as _, SubjectPublicKeyInfoOwned};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::identity::serial_hex;
use crate::{oids, PkiError};

fn failed(e: impl std::fmt::Display) -> PkiError {
    PkiError::Malformed(e.to_string())
}

/// The key algorithm of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// RSA-2048, PKCS#1 v1.5 with SHA-256.
    Rsa,
    /// ECDSA on P-256 with SHA-256.
    Ecdsa,
}

/// The development CA: a self-signed ECDSA P-256 certificate and its key.
pub struct DevCa {
    pub cert_pem: String,
    pub key_pkcs8_pem: String,
    cert: Certificate,
    key: p256::ecdsa::SigningKey,
}

fn time(unix: i64) -> Result<Time, PkiError> {
    let secs = u64::try_from(unix).map_err(|_| PkiError::Malformed("a time before 1970".into()))?;
    Ok(Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(secs)).map_err(failed)?))
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x10; // positive, and no leading zero byte
    SerialNumber::new(&bytes).map_err(failed)
}

fn rdn(oid: const_oid::ObjectIdentifier, value: &str, printable: bool) -> Result<RelativeDistinguishedName, PkiError> {
    let tag = if printable { Tag::PrintableString } else { Tag::Utf8String };
    let value = Any::new(tag, value.as_bytes()).map_err(failed)?;
    let set = SetOfVec::try_from(vec![AttributeTypeAndValue { oid, value }]).map_err(failed)?;
    Ok(RelativeDistinguishedName(set))
}

impl DevCa {
    pub fn init(name: &str, now: i64) -> Result<DevCa, PkiError> {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let subject =
            Name::from_str(&format!("CN={},O=Yagona development,C=UZ", name.replace(',', " "))).map_err(failed)?;
        let validity = Validity { not_before: time(now - 86_400)?, not_after: time(now + 10 * 365 * 86_400)? };
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(failed)?;
        let builder =
            CertificateBuilder::new(Profile::Root, random_serial()?, validity, subject, spki, &key).map_err(failed)?;
        let cert = builder.build::<p256::ecdsa::DerSignature>().map_err(failed)?;
        Self::from_parts(cert, key)
    }

    pub fn load(cert_pem: &str, key_pem: &str) -> Result<DevCa, PkiError> {
        let cert = Certificate::from_pem(cert_pem.as_bytes()).map_err(failed)?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(key_pem).map_err(failed)?;
        Self::from_parts(cert, key)
    }

    fn from_parts(cert: Certificate, key: p256::ecdsa::SigningKey) -> Result<DevCa, PkiError> {
        Ok(DevCa {
            cert_pem: cert.to_pem(LineEnding::LF).map_err(failed)?,
            key_pkcs8_pem: key.to_pkcs8_pem(LineEnding::LF).map_err(failed)?.to_string(),
            cert,
            key,
        })
    }

    pub fn cert_der(&self) -> Result<Vec<u8>, PkiError> {
        self.cert.to_der().map_err(failed)
    }
}

/// Who a certificate is issued to.
#[derive(Debug, Clone)]
pub struct Subject {
    pub pinfl: String,
    /// The full name, `SURNAME NAME PATRONYMIC` (CN).
    pub name: String,
    /// The personal TIN (`UID`).
    pub tin: Option<String>,
    /// The legal entity's TIN (1.2.860.3.16.1.1): a legal entity's certificate.
    pub legal_tin: Option<String>,
    pub org: Option<String>,
    pub title: Option<String>,
    pub alg: KeyAlg,
    pub not_before: i64,
    pub not_after: i64,
    /// `false` gives a certificate whose key may only encipher (a wrong key usage, for tests).
    pub key_usage_signing: bool,
}

/// An issued certificate with its private key.
#[derive(Clone)]
pub struct Issued {
    pub cert_der: Vec<u8>,
    pub key_pkcs8_der: Vec<u8>,
    pub serial_hex: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Issued({})", self.serial_hex)
    }
}

pub fn issue(ca: &DevCa, subject: &Subject) -> Result<Issued, PkiError> {
    let (spki, key_pkcs8_der) = match subject.alg {
        KeyAlg::Rsa => {
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(failed)?;
            let spki_der = key.to_public_key().to_public_key_der().map_err(failed)?;
            let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).map_err(failed)?;
            (spki, key.to_pkcs8_der().map_err(failed)?.as_bytes().to_vec())
        }
        KeyAlg::Ecdsa => {
            let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
            let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(failed)?;
            (spki, key.to_pkcs8_der().map_err(failed)?.as_bytes().to_vec())
        }
    };
    let mut rdns = vec![rdn(oids::C, "UZ", true)?, rdn(oids::CN, &subject.name, false)?];
    // As the national CAs do: the name in parts too (`SURNAME NAME PATRONYMIC` in CN).
    let mut words = subject.name.split_whitespace();
    if let (Some(surname), Some(given)) = (words.next(), words.next()) {
        rdns.push(rdn(oids::SURNAME, surname, false)?);
        rdns.push(rdn(oids::GIVEN_NAME, given, false)?);
    }
    rdns.push(rdn(oids::PINFL, &subject.pinfl, false)?);
    if let Some(tin) = &subject.tin {
        rdns.push(rdn(oids::UID, tin, false)?);
    }
    if let Some(tin) = &subject.legal_tin {
        rdns.push(rdn(oids::LEGAL_ENTITY_TIN, tin, false)?);
    }
    if let Some(org) = &subject.org {
        rdns.push(rdn(oids::O, org, false)?);
    }
    if let Some(title) = &subject.title {
        rdns.push(rdn(oids::TITLE, title, false)?);
    }
    let validity = Validity { not_before: time(subject.not_before)?, not_after: time(subject.not_after)? };
    let issuer = ca.cert.tbs_certificate.subject.clone();
    let mut builder = CertificateBuilder::new(
        Profile::Manual { issuer: Some(issuer) },
        random_serial()?,
        validity,
        Name::from(RdnSequence(rdns)),
        spki.clone(),
        &ca.key,
    )
    .map_err(failed)?;
    let usage = if subject.key_usage_signing {
        KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
    } else {
        KeyUsages::KeyEncipherment.into()
    };
    builder.add_extension(&SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(failed)?).map_err(failed)?;
    let ca_spki = ca.cert.tbs_certificate.subject_public_key_info.owned_to_ref();
    builder.add_extension(&AuthorityKeyIdentifier::try_from(ca_spki).map_err(failed)?).map_err(failed)?;
    builder.add_extension(&BasicConstraints { ca: false, path_len_constraint: None }).map_err(failed)?;
    builder.add_extension(&KeyUsage(usage)).map_err(failed)?;
    builder
        .add_extension(&CertificatePolicies(vec![PolicyInformation {
            policy_identifier: oids::NATIONAL_POLICY,
            policy_qualifiers: None,
        }]))
        .map_err(failed)?;
    let cert = builder.build::<p256::ecdsa::DerSignature>().map_err(failed)?;
    Ok(Issued { serial_hex: serial_hex(&cert), cert_der: cert.to_der().map_err(failed)?, key_pkcs8_der })
}

/// The certificate as PEM.
pub fn certificate_pem(cert_der: &[u8]) -> Result<String, PkiError> {
    Certificate::from_der(cert_der).map_err(failed)?.to_pem(LineEnding::LF).map_err(failed)
}

/// The serial of a PEM certificate (as [`crate::SignerIdentity::serial_number`] writes it).
pub fn certificate_serial(pem: &str) -> Result<String, PkiError> {
    crate::verify::certificate_serial(pem)
}

/// A PKCS#12 key file: the key (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), the certificate and
/// the CA's, with an HMAC-SHA256 MAC.
pub fn to_pkcs12(issued: &Issued, ca: &DevCa, password: &str) -> Result<Vec<u8>, PkiError> {
    use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKeyChain};
    let leaf = p12_keystore::Certificate::from_der(&issued.cert_der).map_err(failed)?;
    let root = p12_keystore::Certificate::from_der(&ca.cert_der()?).map_err(failed)?;
    let mut local_key_id = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut local_key_id);
    let chain = PrivateKeyChain::new(&issued.key_pkcs8_der, local_key_id, [leaf, root]);
    let mut store = KeyStore::new();
    store.add_entry("eds", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().map_err(failed)
}

/// Opens a PKCS#12 key file.
pub fn from_pkcs12(p12: &[u8], password: &str) -> Result<Issued, PkiError> {
    let store = p12_keystore::KeyStore::from_pkcs12(p12, password)
        .map_err(|_| PkiError::Malformed("the key file cannot be opened with this password".into()))?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| PkiError::Malformed("no key in the key file".into()))?;
    let leaf = chain.chain().first().ok_or_else(|| PkiError::Malformed("no certificate in the key file".into()))?;
    let cert = Certificate::from_der(leaf.as_der()).map_err(failed)?;
    Ok(Issued { serial_hex: serial_hex(&cert), cert_der: leaf.as_der().to_vec(), key_pkcs8_der: chain.key().to_vec() })
}

/// The CA's CRL listing `revoked` (serial hex, revocation time).
pub fn revoke(ca: &DevCa, revoked: &[(String, i64)], now: i64, next_update: i64) -> Result<Vec<u8>, PkiError> {
    use signature::Signer as _;
    let mut entries = Vec::new();
    for (serial, at) in revoked {
        let bytes = (0..serial.len())
            .step_by(2)
            .map(|i| serial.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| PkiError::Malformed(format!("serial {serial:?} is not hex")))?;
        entries.push(RevokedCert {
            serial_number: SerialNumber::new(&bytes).map_err(failed)?,
            revocation_date: time(*at)?,
            crl_entry_extensions: None,
        });
    }
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: AlgorithmIdentifierOwned { oid: oids::ECDSA_WITH_SHA256, parameters: None },
        issuer: ca.cert.tbs_certificate.subject.clone(),
        this_update: time(now)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: None,
    };
    let signature: p256::ecdsa::DerSignature = ca.key.sign(&tbs.to_der().map_err(failed)?);
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: AlgorithmIdentifierOwned { oid: oids::ECDSA_WITH_SHA256, parameters: None },
        signature: BitString::from_bytes(signature.as_bytes()).map_err(failed)?,
    };
    crl.to_der().map_err(failed)
}

/// Signs `content` into an attached CMS SignedData (DER ContentInfo) with signed attributes
/// content-type, message-digest and signing-time, carrying the signer's certificate.
pub fn sign_attached(issued: &Issued, content: &[u8], signing_time: i64) -> Result<Vec<u8>, PkiError> {
    let cert = Certificate::from_der(&issued.cert_der).map_err(failed)?;
    let econtent = EncapsulatedContentInfo {
        econtent_type: oids::DATA,
        econtent: Some(
            Any::new(Tag::OctetString, OctetString::new(content).map_err(failed)?.as_bytes()).map_err(failed)?,
        ),
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });
    let digest = AlgorithmIdentifierOwned { oid: oids::SHA256, parameters: None };
    let time_value = Any::from_der(&time(signing_time)?.to_der().map_err(failed)?).map_err(failed)?;
    let signing_time =
        Attribute { oid: oids::SIGNING_TIME, values: SetOfVec::try_from(vec![time_value]).map_err(failed)? };
    let mut builder = SignedDataBuilder::new(&econtent);
    builder.add_digest_algorithm(digest.clone()).map_err(failed)?;
    builder.add_certificate(CertificateChoices::Certificate(cert.clone())).map_err(failed)?;
    let key_algorithm = cert.tbs_certificate.subject_public_key_info.algorithm.oid;
    if key_algorithm == oids::RSA_ENCRYPTION {
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&issued.key_pkcs8_der).map_err(failed)?;
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
        let mut info = SignerInfoBuilder::new(&signer, sid, digest, &econtent, None).map_err(failed)?;
        info.add_signed_attribute(signing_time).map_err(failed)?;
        builder.add_signer_info::<_, rsa::pkcs1v15::Signature>(info).map_err(failed)?;
    } else {
        let signer = p256::ecdsa::SigningKey::from_pkcs8_der(&issued.key_pkcs8_der).map_err(failed)?;
        let mut info = SignerInfoBuilder::new(&signer, sid, digest, &econtent, None).map_err(failed)?;
        info.add_signed_attribute(signing_time).map_err(failed)?;
        builder.add_signer_info::<_, p256::ecdsa::DerSignature>(info).map_err(failed)?;
    }
    builder.build().map_err(failed)?.to_der().map_err(failed)
}
