//! Verified EDS signatures waiting for the person's confirmation in the cabinet (issue 14, item
//! 12: post/redirect/get). The signing form's POST verifies the signature and keeps the
//! certificate's data here; the page that asks is a GET naming the row; the confirming POST spends
//! it. A row is named by the SHA-256 of a random id, bound to the browser (the hash of its CSRF
//! cookie) and to the account, lives a few minutes and is spent by one conditional
//! `DELETE ... RETURNING`, so of two concurrent confirmations exactly one finds it.

use diesel::prelude::*;
use yagona_account::registration::EdsSigner;
use yagona_account::AccountId;

use crate::schema::pending_signatures as ps;
use crate::{Store, StoreError};

/// What the person is asked to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePurpose {
    /// Registering the certificate to the account (the cabinet's EDS preview).
    BindCertificate,
    /// Linking a company as its head in place of its current head.
    ReplaceHead,
}

impl SignaturePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BindCertificate => "bind_certificate",
            Self::ReplaceHead => "replace_head",
        }
    }
}

/// Whose signature a row is: the keys every lookup must match.
#[derive(Debug, Clone, Copy)]
pub struct PendingKey<'a> {
    pub id_hash: &'a str,
    pub browser_hash: &'a str,
    pub account: &'a AccountId,
    pub purpose: SignaturePurpose,
}

/// A kept signature: the verified certificate's data, and for [`SignaturePurpose::ReplaceHead`]
/// the head the person is asked to replace (the confirmation replaces that head only).
#[derive(Debug, Clone)]
pub struct KeptSignature {
    pub signer: EdsSigner,
    pub replaces: Option<AccountId>,
}

impl Store {
    /// Keeps `kept` under `key` until `expires_at`.
    pub fn keep_pending_signature(
        &self,
        key: PendingKey<'_>,
        kept: &KeptSignature,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (signer, replaces) = (&kept.signer, kept.replaces.as_ref().map(AccountId::as_str));
        let signer = serde_json::to_string(signer).map_err(|e| StoreError::Corrupt(format!("signer: {e}")))?;
        diesel::insert_into(ps::table)
            .values((
                ps::id_hash.eq(key.id_hash),
                ps::browser_hash.eq(key.browser_hash),
                ps::account_id.eq(key.account.as_str()),
                ps::purpose.eq(key.purpose.as_str()),
                ps::signer.eq(signer),
                ps::replaces.eq(replaces),
                ps::created_at.eq(now),
                ps::expires_at.eq(expires_at),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    /// The live signature under `key` (for the page that asks), left in place.
    pub fn pending_signature(&self, key: PendingKey<'_>, now: i64) -> Result<Option<KeptSignature>, StoreError> {
        let found = ps::table
            .find(key.id_hash)
            .filter(ps::browser_hash.eq(key.browser_hash))
            .filter(ps::account_id.eq(key.account.as_str()))
            .filter(ps::purpose.eq(key.purpose.as_str()))
            .filter(ps::expires_at.gt(now))
            .select((ps::signer, ps::replaces))
            .get_result::<(String, Option<String>)>(&mut *self.conn()?)
            .optional()?;
        found.map(parse).transpose()
    }

    /// Spends the live signature under `key`: one conditional `DELETE ... RETURNING`. A row of
    /// another browser or account is neither returned nor spent.
    pub fn take_pending_signature(&self, key: PendingKey<'_>, now: i64) -> Result<Option<KeptSignature>, StoreError> {
        let found = diesel::delete(
            ps::table
                .find(key.id_hash)
                .filter(ps::browser_hash.eq(key.browser_hash))
                .filter(ps::account_id.eq(key.account.as_str()))
                .filter(ps::purpose.eq(key.purpose.as_str()))
                .filter(ps::expires_at.gt(now)),
        )
        .returning((ps::signer, ps::replaces))
        .get_result::<(String, Option<String>)>(&mut *self.conn()?)
        .optional()?;
        found.map(parse).transpose()
    }
}

fn parse((signer, replaces): (String, Option<String>)) -> Result<KeptSignature, StoreError> {
    let signer = serde_json::from_str(&signer).map_err(|e| StoreError::Corrupt(format!("pending signature: {e}")))?;
    Ok(KeptSignature { signer, replaces: replaces.map(AccountId::from_stored) })
}
