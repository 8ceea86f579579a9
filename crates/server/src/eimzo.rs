//! The second EDS verifier: an E-IMZO-server compatible service, for certificates with the
//! national O'z DSt 1092:2009 algorithm that no Rust crate verifies (domain.md, "EDS certificates
//! and E-IMZO").
//!
//! Challenges then come from the service (`POST /frontend/challenge`), so that its
//! `POST /backend/auth` (body: the base64 PKCS#7; headers `X-Real-IP`, `Host`) knows them; Yagona
//! still binds each challenge to the browser and spends it once. The answer
//! `{status, message, subjectCertificateInfo{serialNumber, subjectName{...}, validFrom, validTo}}`
//! becomes a [`VerifiedSignature`]; its status codes map back onto [`PkiError`].
//!
//! Which verifier checks a signature is chosen per trust anchor: signatures whose certificate was
//! issued by one of `eds.eimzo_server_anchors` go to the service, all others to Yagona's own.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use yagona_pki::{PkiError, SignatureVerifier, SignerIdentity, VerifiedSignature};

pub struct EimzoServer {
    base: String,
    agent: ureq::Agent,
}

#[derive(Deserialize)]
struct ChallengeAnswer {
    challenge: String,
    #[serde(default)]
    ttl: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthAnswer {
    status: i64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    subject_certificate_info: Option<CertificateInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateInfo {
    serial_number: String,
    #[serde(default)]
    subject_name: std::collections::HashMap<String, String>,
    #[serde(default)]
    issuer_name: Option<serde_json::Value>,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_to: Option<String>,
}

/// E-IMZO writes times as `YYYY.MM.DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS`; RFC 3339 is accepted.
fn parse_time(text: Option<&str>) -> Option<i64> {
    let text = text?.trim();
    for format in ["%Y.%m.%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp());
        }
    }
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp())
}

impl EimzoServer {
    pub fn new(base: &str, tls: ureq::tls::TlsConfig) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .tls_config(tls)
            .http_status_as_error(false)
            .build();
        Self { base: base.trim_end_matches('/').to_owned(), agent: config.into() }
    }

    fn host(&self) -> String {
        url::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(|h| u.port().map(|p| format!("{h}:{p}")).unwrap_or_else(|| h.to_owned())))
            .unwrap_or_default()
    }

    /// A challenge the service knows: `(challenge, ttl)`.
    pub fn challenge(&self) -> Result<(String, Option<i64>), String> {
        let mut response = self
            .agent
            .post(format!("{}/frontend/challenge", self.base))
            .send_empty()
            .map_err(|e| format!("E-IMZO-server challenge: {e}"))?;
        let text = response.body_mut().read_to_string().map_err(|e| format!("E-IMZO-server challenge answer: {e}"))?;
        let answer: ChallengeAnswer =
            serde_json::from_str(&text).map_err(|e| format!("E-IMZO-server challenge answer: {e}"))?;
        Ok((answer.challenge, answer.ttl))
    }
}

impl SignatureVerifier for EimzoServer {
    fn verify_attached(&self, cms_der: &[u8], _at: i64) -> Result<VerifiedSignature, PkiError> {
        let (issuer, content) = yagona_pki::inspect_signed_data(cms_der)?;
        let content = content.ok_or_else(|| PkiError::Malformed("no signed content".into()))?;
        let body = base64::engine::general_purpose::STANDARD.encode(cms_der);
        let mut response = self
            .agent
            .post(format!("{}/backend/auth", self.base))
            .header("X-Real-IP", "127.0.0.1")
            .header("Host", self.host())
            .send(body)
            .map_err(|e| {
                tracing::error!(detail = %e, "E-IMZO-server is unreachable");
                PkiError::StatusCheckFailed
            })?;
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let answer: AuthAnswer = serde_json::from_str(&text).map_err(|e| {
            tracing::error!(detail = %e, "E-IMZO-server answered something unreadable");
            PkiError::StatusCheckFailed
        })?;
        let message = answer.message.unwrap_or_default();
        match answer.status {
            1 => {}
            -1 => return Err(PkiError::StatusCheckFailed),
            -5 => return Err(PkiError::BadSigningTime),
            -10 => return Err(PkiError::BadSignature),
            -11 => return Err(PkiError::CertificateInvalid(message)),
            -12 => return Err(PkiError::CertificateInvalidAtSigningTime),
            -20 => return Err(PkiError::ChallengeUnknown),
            other => {
                tracing::error!(status = other, message = %message, "E-IMZO-server refused with an unknown status");
                return Err(PkiError::StatusCheckFailed);
            }
        }
        let info = answer
            .subject_certificate_info
            .ok_or_else(|| PkiError::Malformed("E-IMZO-server sent no certificate information".into()))?;
        let name = |keys: &[&str]| keys.iter().find_map(|k| info.subject_name.get(*k).cloned());
        let signer = SignerIdentity {
            pinfl: name(&["1.2.860.3.16.1.2", "PINFL"]),
            personal_tin: name(&["UID", "0.9.2342.19200300.100.1.1"]),
            legal_entity_tin: name(&["1.2.860.3.16.1.1"]),
            common_name: name(&["CN"]).ok_or_else(|| PkiError::CertificateInvalid("no CN".into()))?,
            surname: name(&["SURNAME", "2.5.4.4"]),
            given_name: name(&["Name", "GIVENNAME", "2.5.4.42"]),
            organisation: name(&["O"]),
            title: name(&["T", "TITLE"]),
            serial_number: info.serial_number.to_ascii_lowercase(),
            issuer: match info.issuer_name {
                Some(serde_json::Value::String(s)) => s,
                _ => issuer,
            },
            valid_from: parse_time(info.valid_from.as_deref()).unwrap_or(0),
            valid_to: parse_time(info.valid_to.as_deref()).unwrap_or(i64::MAX),
        };
        Ok(VerifiedSignature { content, signer })
    }
}

/// Chooses the verifier per issuing authority: the E-IMZO-server for signatures issued by one of
/// its anchors, Yagona's own verifier for the rest.
pub struct Dispatch {
    pub local: Option<yagona_pki::Verifier>,
    pub eimzo: Option<(std::sync::Arc<EimzoServer>, Vec<String>)>,
}

impl SignatureVerifier for Dispatch {
    fn verify_attached(&self, cms_der: &[u8], at: i64) -> Result<VerifiedSignature, PkiError> {
        if let Some((server, issuers)) = &self.eimzo {
            let (issuer, _) = yagona_pki::inspect_signed_data(cms_der)?;
            if issuers.contains(&issuer) {
                return server.verify_attached(cms_der, at);
            }
        }
        match &self.local {
            Some(local) => local.verify_attached(cms_der, at),
            None => Err(PkiError::CertificateUntrusted),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn e_imzo_times() {
        assert_eq!(super::parse_time(Some("2026.11.24 10:00:00")), Some(1_795_514_400));
        assert_eq!(super::parse_time(Some("2026-11-24 10:00:00")), Some(1_795_514_400));
        assert_eq!(super::parse_time(Some("2026-11-24T10:00:00Z")), Some(1_795_514_400));
        assert_eq!(super::parse_time(Some("soon")), None);
    }
}
