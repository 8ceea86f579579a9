//! Signature algorithms: RSA PKCS#1 v1.5 and RSASSA-PSS (RFC 8017), ECDSA on P-256 and P-384
//! (RFC 5758), with SHA-256, SHA-384 or SHA-512. SHA-1 and MD5 are refused (RFC 9155's reasons),
//! and so are RSA keys shorter than 2048 bits.

use der::{Decode as _, Encode as _};
use sha2::Digest as _;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::{oids, PkiError};

/// A digest algorithm Yagona accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub fn from_oid(oid: &const_oid::ObjectIdentifier) -> Result<Self, PkiError> {
        match *oid {
            oids::SHA256 => Ok(Self::Sha256),
            oids::SHA384 => Ok(Self::Sha384),
            oids::SHA512 => Ok(Self::Sha512),
            oids::SHA1 => Err(PkiError::WeakAlgorithm("SHA-1".into())),
            oids::MD5 => Err(PkiError::WeakAlgorithm("MD5".into())),
            other => Err(PkiError::UnsupportedAlgorithm(other.to_string())),
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

fn bad_signature() -> PkiError {
    PkiError::BadSignature
}

/// Verifies `signature` over `message` with the key of `spki`, for the signature algorithm
/// `algorithm`. `digest` is the CMS digest algorithm, used when `algorithm` names only the key
/// type (`rsaEncryption`, `id-ecPublicKey`), as some signers write it.
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    digest: Option<Digest>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    let need_digest = || digest.ok_or_else(|| PkiError::UnsupportedAlgorithm(algorithm.oid.to_string()));
    match algorithm.oid {
        oids::MD5_WITH_RSA => Err(PkiError::WeakAlgorithm("MD5".into())),
        oids::SHA1_WITH_RSA | oids::ECDSA_WITH_SHA1 => Err(PkiError::WeakAlgorithm("SHA-1".into())),
        oids::SHA256_WITH_RSA => rsa_pkcs1(spki, Digest::Sha256, message, signature),
        oids::SHA384_WITH_RSA => rsa_pkcs1(spki, Digest::Sha384, message, signature),
        oids::SHA512_WITH_RSA => rsa_pkcs1(spki, Digest::Sha512, message, signature),
        oids::RSA_ENCRYPTION => rsa_pkcs1(spki, need_digest()?, message, signature),
        oids::RSASSA_PSS => rsa_pss(spki, algorithm, message, signature),
        oids::ECDSA_WITH_SHA256 => ecdsa(spki, Digest::Sha256, message, signature),
        oids::ECDSA_WITH_SHA384 => ecdsa(spki, Digest::Sha384, message, signature),
        oids::ECDSA_WITH_SHA512 => ecdsa(spki, Digest::Sha512, message, signature),
        oids::EC_PUBLIC_KEY => ecdsa(spki, need_digest()?, message, signature),
        oids::OZ_DST_1092 => Err(PkiError::UnsupportedAlgorithm(
            "O'z DSt 1092:2009 (configure the E-IMZO-server verifier for it)".into(),
        )),
        other => Err(PkiError::UnsupportedAlgorithm(other.to_string())),
    }
}

fn rsa_key(spki: &SubjectPublicKeyInfoOwned) -> Result<rsa::RsaPublicKey, PkiError> {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    if spki.algorithm.oid != oids::RSA_ENCRYPTION && spki.algorithm.oid != oids::RSASSA_PSS {
        return Err(PkiError::UnsupportedAlgorithm(format!("an RSA signature with a {} key", spki.algorithm.oid)));
    }
    let der = spki.to_der().map_err(|e| PkiError::Malformed(e.to_string()))?;
    let key = rsa::RsaPublicKey::from_public_key_der(&der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    if key.n().bits() < 2048 {
        return Err(PkiError::WeakAlgorithm(format!("RSA-{}", key.n().bits())));
    }
    Ok(key)
}

fn rsa_pkcs1(
    spki: &SubjectPublicKeyInfoOwned,
    digest: Digest,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    let key = rsa_key(spki)?;
    let hashed = digest.hash(message);
    let scheme = match digest {
        Digest::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        Digest::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        Digest::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
    };
    key.verify(scheme, &hashed, signature).map_err(|_| bad_signature())
}

fn rsa_pss(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    let key = rsa_key(spki)?;
    let params =
        algorithm.parameters.as_ref().ok_or_else(|| PkiError::Malformed("RSASSA-PSS without parameters".into()))?;
    let params_der = params.to_der().map_err(|e| PkiError::Malformed(e.to_string()))?;
    let params = rsa::pkcs1::RsaPssParams::from_der(&params_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let digest = Digest::from_oid(&params.hash.oid)?;
    if Digest::from_oid(&params.mask_gen.parameters.as_ref().map(|p| p.oid).unwrap_or(oids::SHA1))? != digest {
        return Err(PkiError::UnsupportedAlgorithm("RSASSA-PSS with a different MGF1 hash".into()));
    }
    let salt = usize::from(params.salt_len);
    let scheme = match digest {
        Digest::Sha256 => rsa::Pss::new_with_salt::<sha2::Sha256>(salt),
        Digest::Sha384 => rsa::Pss::new_with_salt::<sha2::Sha384>(salt),
        Digest::Sha512 => rsa::Pss::new_with_salt::<sha2::Sha512>(salt),
    };
    key.verify(scheme, &digest.hash(message), signature).map_err(|_| bad_signature())
}

fn ecdsa(spki: &SubjectPublicKeyInfoOwned, digest: Digest, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
    use signature::hazmat::PrehashVerifier as _;
    if spki.algorithm.oid != oids::EC_PUBLIC_KEY {
        return Err(PkiError::UnsupportedAlgorithm(format!("an ECDSA signature with a {} key", spki.algorithm.oid)));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
        .ok_or_else(|| PkiError::Malformed("an EC key without a named curve".into()))?;
    let point = spki.subject_public_key.raw_bytes();
    let hashed = digest.hash(message);
    match curve {
        oids::SECP256R1 => {
            let key =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|e| PkiError::Malformed(e.to_string()))?;
            let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad_signature())?;
            key.verify_prehash(&hashed, &sig).map_err(|_| bad_signature())
        }
        oids::SECP384R1 => {
            let key =
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|e| PkiError::Malformed(e.to_string()))?;
            let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| bad_signature())?;
            key.verify_prehash(&hashed, &sig).map_err(|_| bad_signature())
        }
        other => Err(PkiError::UnsupportedAlgorithm(format!("curve {other}"))),
    }
}
