//! Object identifiers used here (RFC 5280, RFC 5652, RFC 8017, RFC 5758, and the Uzbek national
//! ones from domain.md).

use const_oid::ObjectIdentifier as Oid;

/// PINFL of the holder (Uzbekistan).
pub const PINFL: Oid = Oid::new_unwrap("1.2.860.3.16.1.2");
/// TIN of the legal entity the holder acts for (Uzbekistan); absent for individuals.
pub const LEGAL_ENTITY_TIN: Oid = Oid::new_unwrap("1.2.860.3.16.1.1");
/// A certificate policy of the national PKI (1.2.860.3.2.2.1.2.1 to .4).
pub const NATIONAL_POLICY: Oid = Oid::new_unwrap("1.2.860.3.2.2.1.2.1");

pub const CN: Oid = const_oid::db::rfc4519::CN;
/// `SURNAME` (2.5.4.4) and `GIVENNAME` (2.5.4.42, E-IMZO's `Name`): the holder's name in parts.
pub const SURNAME: Oid = const_oid::db::rfc4519::SURNAME;
pub const GIVEN_NAME: Oid = const_oid::db::rfc4519::GIVEN_NAME;
pub const O: Oid = const_oid::db::rfc4519::O;
pub const TITLE: Oid = const_oid::db::rfc4519::TITLE;
pub const UID: Oid = const_oid::db::rfc4519::UID;
pub const C: Oid = const_oid::db::rfc4519::C;

pub const SIGNED_DATA: Oid = const_oid::db::rfc5911::ID_SIGNED_DATA;
pub const DATA: Oid = const_oid::db::rfc5911::ID_DATA;
pub const CONTENT_TYPE: Oid = const_oid::db::rfc5911::ID_CONTENT_TYPE;
pub const MESSAGE_DIGEST: Oid = const_oid::db::rfc5911::ID_MESSAGE_DIGEST;
pub const SIGNING_TIME: Oid = const_oid::db::rfc5911::ID_SIGNING_TIME;

pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const MD5: Oid = Oid::new_unwrap("1.2.840.113549.2.5");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
/// The national O'z DSt 1092:2009 key (verified by an E-IMZO-server compatible service).
pub const OZ_DST_1092: Oid = Oid::new_unwrap("1.2.860.3.15.1.1.2.1");
