//! Table tests of verification, with certificates from the development CA only.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode as _, Encode as _};

use crate::dev_ca::{self, DevCa, Issued, KeyAlg, Subject};
use crate::{oids, PkiError, RevocationPolicy, SignatureVerifier as _, TrustStore, Verifier};

const PINFL: &str = "31205900260011";
const DAY: i64 = 86_400;

/// What a refused case must fail with.
type Expectation = Box<dyn Fn(&PkiError) -> bool>;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn subject(alg: KeyAlg) -> Subject {
    Subject {
        pinfl: PINFL.into(),
        name: "KARIMOV ALISHER ANVAROVICH".into(),
        tin: Some("412345678".into()),
        legal_tin: None,
        org: None,
        title: None,
        alg,
        not_before: now() - DAY,
        not_after: now() + 365 * DAY,
        key_usage_signing: true,
    }
}

/// A verifier trusting `ca` with revocation required, and `crls` (the CA's empty CRL if none).
fn verifier(ca: &DevCa, crls: &[Vec<u8>]) -> Verifier {
    let mut trust = TrustStore::new();
    trust.add_anchor_pem(ca.cert_pem.as_bytes(), RevocationPolicy::Required).unwrap();
    if crls.is_empty() {
        trust.add_crl_der(&dev_ca::revoke(ca, &[], now(), now() + 86_400).unwrap()).unwrap();
    }
    for crl in crls {
        trust.add_crl_der(crl).unwrap();
    }
    Verifier { trust }
}

#[test]
fn revocation_fails_closed_unless_the_anchor_is_opted_out() {
    let ca = DevCa::init("Test CA", now() - 3600).unwrap();
    let person = dev_ca::issue(&ca, &subject(KeyAlg::Ecdsa)).unwrap();
    let cms = signed(&person);
    // No CRL for the issuer: refused, naming the issuer.
    let mut required = TrustStore::new();
    required.add_anchor_pem(ca.cert_pem.as_bytes(), RevocationPolicy::Required).unwrap();
    let summary = required.summary();
    assert_eq!(summary.len(), 1);
    assert!(summary[0].crls.is_empty() && !summary[0].accepts_certificates(now()));
    let err = Verifier { trust: required }.verify_attached(&cms, now()).unwrap_err();
    assert!(matches!(&err, PkiError::NoRevocationSource(issuer) if issuer.contains("Test CA")), "{err:?}");
    assert_eq!(err.eimzo_status(), -1);
    // Opted out: accepted without a CRL.
    let mut opted_out = TrustStore::new();
    opted_out.add_anchor_pem(ca.cert_pem.as_bytes(), RevocationPolicy::NotChecked).unwrap();
    assert!(opted_out.summary()[0].accepts_certificates(now()));
    Verifier { trust: opted_out }.verify_attached(&cms, now()).unwrap();
    // With a CRL: accepted, and the summary lists the CRL with its dates.
    let v = verifier(&ca, &[]);
    let summary = v.trust.summary();
    assert_eq!(summary[0].crls.len(), 1);
    assert_eq!(summary[0].crls[0].next_update, Some(now() + 86_400));
    assert!(summary[0].accepts_certificates(now()));
    assert!(!summary[0].accepts_certificates(now() + 86_401), "a CRL past its next update accepts nothing");
    v.verify_attached(&cms, now()).unwrap();
}

fn signed(issued: &Issued) -> Vec<u8> {
    dev_ca::sign_attached(issued, b"challenge-123", now()).unwrap()
}

/// Decodes the CMS, lets `change` edit its SignedData, and encodes it again.
fn edited(cms: &[u8], change: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let info = ContentInfo::from_der(cms).unwrap();
    let mut data: SignedData = info.content.decode_as().unwrap();
    change(&mut data);
    ContentInfo { content_type: info.content_type, content: der::Any::encode_from(&data).unwrap() }.to_der().unwrap()
}

#[test]
fn valid_signatures_individual_and_legal_entity() {
    let ca = DevCa::init("Test CA", now()).unwrap();
    let v = verifier(&ca, &[]);
    for alg in [KeyAlg::Rsa, KeyAlg::Ecdsa] {
        let issued = dev_ca::issue(&ca, &subject(alg)).unwrap();
        let verified = v.verify_attached(&signed(&issued), now()).unwrap();
        assert_eq!(verified.content, b"challenge-123");
        assert_eq!(verified.signer.pinfl.as_deref(), Some(PINFL));
        assert_eq!(verified.signer.personal_tin.as_deref(), Some("412345678"));
        assert_eq!(verified.signer.common_name, "KARIMOV ALISHER ANVAROVICH");
        assert_eq!(verified.signer.surname.as_deref(), Some("KARIMOV"), "SURNAME");
        assert_eq!(verified.signer.given_name.as_deref(), Some("ALISHER"), "GIVENNAME");
        assert_eq!(verified.signer.legal_entity_tin, None);
        assert_eq!(verified.signer.serial_number, issued.serial_hex);
        assert!(verified.signer.issuer.contains("Test CA"));
    }
    let legal = Subject {
        legal_tin: Some("301234567".into()),
        org: Some("\"Registon Savdo\" MChJ".into()),
        title: Some("Direktor".into()),
        ..subject(KeyAlg::Ecdsa)
    };
    let issued = dev_ca::issue(&ca, &legal).unwrap();
    let verified = v.verify_attached(&signed(&issued), now()).unwrap();
    assert_eq!(verified.signer.legal_entity_tin.as_deref(), Some("301234567"));
    assert_eq!(verified.signer.organisation.as_deref(), Some("\"Registon Savdo\" MChJ"));
    assert_eq!(verified.signer.title.as_deref(), Some("Direktor"));
}

#[test]
fn refused_certificates_and_signatures() {
    let ca = DevCa::init("Test CA", now()).unwrap();
    let other_ca = DevCa::init("Other CA", now()).unwrap();
    let good = dev_ca::issue(&ca, &subject(KeyAlg::Ecdsa)).unwrap();
    let revoked = dev_ca::issue(&ca, &subject(KeyAlg::Ecdsa)).unwrap();
    let crl = dev_ca::revoke(&ca, &[(revoked.serial_hex.clone(), now() - 60)], now() - 30, now() + DAY).unwrap();
    let v = verifier(&ca, &[crl]);
    let issue = |s: Subject| dev_ca::issue(&ca, &s).unwrap();
    let today = crate::verify::tests_support::day(now() - 60);

    let cases: Vec<(&str, Vec<u8>, Expectation)> = vec![
        (
            "expired",
            signed(&issue(Subject { not_before: now() - 30 * DAY, not_after: now() - DAY, ..subject(KeyAlg::Ecdsa) })),
            Box::new(|e| matches!(e, PkiError::CertificateExpired(_))),
        ),
        (
            "not yet valid",
            signed(&issue(Subject { not_before: now() + DAY, ..subject(KeyAlg::Ecdsa) })),
            Box::new(|e| matches!(e, PkiError::CertificateNotYetValid(_))),
        ),
        (
            "wrong key usage",
            signed(&issue(Subject { key_usage_signing: false, ..subject(KeyAlg::Ecdsa) })),
            Box::new(|e| matches!(e, PkiError::CertificateInvalid(m) if m.contains("signing"))),
        ),
        (
            "untrusted root",
            signed(&dev_ca::issue(&other_ca, &subject(KeyAlg::Ecdsa)).unwrap()),
            Box::new(|e| *e == PkiError::CertificateUntrusted),
        ),
        ("revoked by CRL", signed(&revoked), Box::new(move |e| *e == PkiError::Revoked(today.clone()))),
        (
            "tampered content",
            {
                let mut cms = signed(&good);
                let at = cms.windows(13).position(|w| w == b"challenge-123").unwrap();
                cms[at] ^= 1;
                cms
            },
            Box::new(|e| *e == PkiError::BadSignature),
        ),
        (
            "wrong digest",
            edited(&signed(&good), |data| {
                let mut infos = data.signer_infos.0.clone().into_vec();
                let attrs = infos[0].signed_attrs.take().unwrap();
                let mut attrs = attrs.into_vec();
                for a in &mut attrs {
                    if a.oid == oids::MESSAGE_DIGEST {
                        let digest = der::asn1::OctetString::new([0u8; 32]).unwrap();
                        a.values =
                            der::asn1::SetOfVec::try_from(vec![der::Any::encode_from(&digest).unwrap()]).unwrap();
                    }
                }
                infos[0].signed_attrs = Some(der::asn1::SetOfVec::try_from(attrs).unwrap());
                data.signer_infos = cms::signed_data::SignerInfos::try_from(infos).unwrap();
            }),
            Box::new(|e| *e == PkiError::BadSignature),
        ),
        (
            "forged signature",
            edited(&signed(&good), |data| {
                let mut infos = data.signer_infos.0.clone().into_vec();
                let mut bytes = infos[0].signature.as_bytes().to_vec();
                let last = bytes.len() - 2;
                bytes[last] ^= 0x55;
                infos[0].signature = der::asn1::OctetString::new(bytes).unwrap();
                data.signer_infos = cms::signed_data::SignerInfos::try_from(infos).unwrap();
            }),
            Box::new(|e| *e == PkiError::BadSignature),
        ),
        (
            "SHA-1",
            edited(&signed(&good), |data| {
                let mut infos = data.signer_infos.0.clone().into_vec();
                infos[0].digest_alg.oid = oids::SHA1;
                data.signer_infos = cms::signed_data::SignerInfos::try_from(infos).unwrap();
            }),
            Box::new(|e| *e == PkiError::WeakAlgorithm("SHA-1".into())),
        ),
        (
            "old signing time",
            dev_ca::sign_attached(&good, b"challenge-123", now() - 3600).unwrap(),
            Box::new(|e| *e == PkiError::BadSigningTime),
        ),
        ("truncated DER", signed(&good)[..200].to_vec(), Box::new(|e| matches!(e, PkiError::Malformed(_)))),
        ("garbage", b"\x30\x82\xff\xffgarbage".to_vec(), Box::new(|e| matches!(e, PkiError::Malformed(_)))),
        ("empty", Vec::new(), Box::new(|e| matches!(e, PkiError::Malformed(_)))),
    ];
    for (name, cms, expected) in cases {
        match v.verify_attached(&cms, now()) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
        }
    }
    // The good one still verifies with the CRL in place.
    assert!(v.verify_attached(&signed(&good), now()).is_ok());
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let ca = DevCa::init("Test CA", now()).unwrap();
    let v = verifier(&ca, &[]);
    let cms = signed(&dev_ca::issue(&ca, &subject(KeyAlg::Ecdsa)).unwrap());
    for len in 0..cms.len() {
        assert!(v.verify_attached(&cms[..len], now()).is_err(), "prefix of {len} bytes");
    }
    let mut flipped = cms.clone();
    for i in (0..cms.len()).step_by(7) {
        flipped[i] ^= 0xa5;
        let _ = v.verify_attached(&flipped, now());
        flipped[i] ^= 0xa5;
    }
}

#[test]
fn detached_signatures() {
    let ca = DevCa::init("Test CA", now()).unwrap();
    let v = verifier(&ca, &[]);
    let issued = dev_ca::issue(&ca, &subject(KeyAlg::Ecdsa)).unwrap();
    let detached = edited(&signed(&issued), |data| data.encap_content_info.econtent = None);
    assert!(v.verify_detached(&detached, b"challenge-123", now()).is_ok());
    assert_eq!(v.verify_detached(&detached, b"challenge-124", now()).unwrap_err(), PkiError::BadSignature);
}

#[test]
fn pkcs12_round_trip() {
    let ca = DevCa::init("Test CA", now()).unwrap();
    let issued = dev_ca::issue(&ca, &subject(KeyAlg::Rsa)).unwrap();
    let p12 = dev_ca::to_pkcs12(&issued, &ca, "parol-123").unwrap();
    assert!(dev_ca::from_pkcs12(&p12, "wrong").is_err());
    let opened = dev_ca::from_pkcs12(&p12, "parol-123").unwrap();
    assert_eq!(opened.cert_der, issued.cert_der);
    assert_eq!(opened.serial_hex, issued.serial_hex);
    let v = verifier(&ca, &[]);
    assert!(v.verify_attached(&signed(&opened), now()).is_ok());
    let reloaded = DevCa::load(&ca.cert_pem, &ca.key_pkcs8_pem).unwrap();
    assert!(v.verify_attached(&signed(&dev_ca::issue(&reloaded, &subject(KeyAlg::Ecdsa)).unwrap()), now()).is_ok());
}

/// OpenSSL accepts what the development CA signs (as it must accept E-IMZO's create_pkcs7).
#[test]
fn openssl_cms_verify_accepts_the_signature() {
    let ca = DevCa::init("Test CA", now()).unwrap();
    let dir = std::env::temp_dir().join(format!("yagona-pki-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    for (name, alg) in [("rsa", KeyAlg::Rsa), ("ecdsa", KeyAlg::Ecdsa)] {
        let cms = signed(&dev_ca::issue(&ca, &subject(alg)).unwrap());
        let path = dir.join(format!("{name}.der"));
        std::fs::write(&path, cms).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in"])
            .arg(&path)
            .arg("-CAfile")
            .arg(dir.join("ca.pem"))
            .output()
            .expect("openssl is installed");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, b"challenge-123");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn inspection_without_verification() {
    let ca = DevCa::init("Inspect CA", now()).unwrap();
    let cms = signed(&dev_ca::issue(&ca, &subject(KeyAlg::Ecdsa)).unwrap());
    let (issuer, content) = crate::inspect_signed_data(&cms).unwrap();
    assert_eq!(content.as_deref(), Some(&b"challenge-123"[..]));
    assert_eq!(vec![issuer], crate::certificate_subjects(ca.cert_pem.as_bytes()).unwrap());
    assert!(crate::inspect_signed_data(b"garbage").is_err());
}

/// RSASSA-PSS signatures verify too (the development CA's own signer uses PKCS#1 v1.5).
#[test]
fn rsa_pss_signatures() {
    use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
    use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
    use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
    use rsa::pkcs8::DecodePrivateKey as _;
    use x509_cert::Certificate;

    let ca = DevCa::init("Test CA", now()).unwrap();
    let issued = dev_ca::issue(&ca, &subject(KeyAlg::Rsa)).unwrap();
    let cert = Certificate::from_der(&issued.cert_der).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&issued.key_pkcs8_der).unwrap();
    let signer = Pss(rsa::pss::SigningKey::<sha2::Sha256>::new(key));
    let content = EncapsulatedContentInfo {
        econtent_type: oids::DATA,
        econtent: Some(der::Any::new(der::Tag::OctetString, b"challenge-123".as_slice()).unwrap()),
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });
    let digest = spki::AlgorithmIdentifierOwned { oid: oids::SHA256, parameters: None };
    let info = SignerInfoBuilder::new(&signer, sid, digest.clone(), &content, None).unwrap();
    let mut builder = SignedDataBuilder::new(&content);
    builder.add_digest_algorithm(digest).unwrap();
    builder.add_certificate(CertificateChoices::Certificate(cert)).unwrap();
    builder.add_signer_info::<_, rsa::pss::Signature>(info).unwrap();
    let cms = builder.build().unwrap().to_der().unwrap();
    let verified = verifier(&ca, &[]).verify_attached(&cms, now()).unwrap();
    assert_eq!(verified.content, b"challenge-123");
}

/// PSS signing is randomized; the CMS builder wants a plain `Signer`.
struct Pss(rsa::pss::SigningKey<sha2::Sha256>);

impl signature::Keypair for Pss {
    type VerifyingKey = rsa::pss::VerifyingKey<sha2::Sha256>;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.0.verifying_key()
    }
}

impl spki::DynSignatureAlgorithmIdentifier for Pss {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        self.0.signature_algorithm_identifier()
    }
}

impl signature::Signer<rsa::pss::Signature> for Pss {
    fn try_sign(&self, msg: &[u8]) -> Result<rsa::pss::Signature, signature::Error> {
        signature::RandomizedSigner::try_sign_with_rng(&self.0, &mut rand::rngs::OsRng, msg)
    }
}
