//! The key-encryption key (KEK) that seals signing keys and client secrets at rest.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::OAuthError;

/// The key-encryption key: 32 bytes for AES-256-GCM. Its `Debug` is redacted.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.id)
    }
}

impl KeyEncryptionKey {
    /// Parses the configured form: 32 bytes, base64 (standard alphabet, as `openssl rand -base64 32`
    /// prints).
    pub fn from_base64(value: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(value.trim())
            .map_err(|_| "the key-encryption key must be base64 (openssl rand -base64 32)".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the key-encryption key must be exactly 32 bytes (openssl rand -base64 32)".to_owned())?;
        Ok(Self::from_bytes(key))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest(key);
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self { id, key }
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// A 32-byte secret for one `purpose`, derived from the KEK (HMAC-SHA256 of the purpose):
    /// every replica with the same KEK derives the same secret, and no two purposes share one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.key);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The KEK's public id, stored beside every key it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Result<Aes256Gcm, OAuthError> {
        Aes256Gcm::new_from_slice(&self.key).map_err(|e| OAuthError::server_error(format!("KEK: {e}")))
    }

    /// Seals `plaintext` with a fresh nonce: `nonce (12) || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, OAuthError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()?
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| OAuthError::server_error("sealing a signing key failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OAuthError> {
        if sealed.len() < 12 + 16 {
            return Err(OAuthError::server_error("sealed signing key is truncated"));
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        self.cipher()?.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad }).map_err(|_| {
            OAuthError::server_error("a signing key does not decrypt with the configured key-encryption key")
        })
    }
}
