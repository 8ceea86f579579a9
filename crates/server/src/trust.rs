//! EDS trust from the configuration: anchors (each with its revocation policy), intermediates,
//! CRLs and the E-IMZO-server's anchors; what each anchor's certificates are checked against,
//! told in the log; and the record of CRL loads (`revocation_sources`) that `yagona pki status`
//! reads.
//!
//! Revocation fails closed (issue 11): an anchor without a CRL refuses its certificates unless
//! it is listed in `eds.anchors_without_revocation`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use yagona_pki::{AnchorSummary, CrlSummary, RevocationPolicy, SignatureVerifier};
use yagona_store::Store;

use crate::config::EdsConfig;

/// What one configured anchor file's certificates are checked against.
pub enum AnchorSource {
    /// Verified by Yagona: the anchor's policy and the CRLs that cover it.
    Local(AnchorSummary),
    /// Verified by the E-IMZO-server, which checks the status itself.
    EimzoServer { subject: String },
}

impl AnchorSource {
    /// In the words of the start-up log and `pki status`.
    pub fn revocation(&self) -> &'static str {
        match self {
            AnchorSource::Local(a) if a.policy == RevocationPolicy::NotChecked => "not checked (operator opt-out)",
            AnchorSource::Local(a) if a.crls.is_empty() => "none (its certificates are refused)",
            AnchorSource::Local(_) => "CRL",
            AnchorSource::EimzoServer { .. } => "E-IMZO-server (the service checks the status)",
        }
    }

    /// Whether certificates under this anchor can be accepted at `now`.
    pub fn accepts_certificates(&self, now: i64) -> bool {
        match self {
            AnchorSource::Local(a) => a.accepts_certificates(now),
            AnchorSource::EimzoServer { .. } => true,
        }
    }

    pub fn subject(&self) -> &str {
        match self {
            AnchorSource::Local(a) => &a.subject,
            AnchorSource::EimzoServer { subject } => subject,
        }
    }
}

/// One configured CRL source and what reading it gave.
pub struct CrlLoad {
    pub source: String,
    pub result: Result<CrlSummary, String>,
}

/// The configured trust, loaded.
pub struct EdsTrust {
    /// `None` when neither trust anchors nor an E-IMZO-server are configured (EDS is off).
    pub verifier: Option<Arc<dyn SignatureVerifier>>,
    pub anchors: Vec<(PathBuf, AnchorSource)>,
}

/// Reads every configured certificate and CRL. A CRL that cannot be read fails the whole load
/// (at start: the start; at a refresh: the previous trust stays); the per-source results are
/// returned either way so they can be recorded.
pub fn load(eds: &EdsConfig, tls: &ureq::tls::TlsConfig) -> (Result<EdsTrust, String>, Vec<CrlLoad>) {
    let mut loads = Vec::new();
    let mut crls = Vec::new();
    for path in &eds.crls {
        let source = path.to_string_lossy().into_owned();
        let remote = source.starts_with("http://") || source.starts_with("https://");
        let bytes = if remote { fetch_crl(&source, tls) } else { read("crls", path) };
        let result = bytes.and_then(|b| {
            let summary = yagona_pki::parse_crl(&b)
                .map(|crl| yagona_pki::crl_summary(&crl))
                .map_err(|e| format!("configuration key `eds.crls`: {source}: {e}"))?;
            crls.push(b);
            Ok(summary)
        });
        loads.push(CrlLoad { source, result });
    }
    let trust = match loads.iter().find_map(|l| l.result.as_ref().err()) {
        Some(e) => Err(e.clone()),
        None => build(eds, &crls, tls),
    };
    (trust, loads)
}

fn build(eds: &EdsConfig, crls: &[Vec<u8>], tls: &ureq::tls::TlsConfig) -> Result<EdsTrust, String> {
    let mut anchors = Vec::new();
    let local = if eds.trust_anchors.is_empty() {
        None
    } else {
        let mut trust = yagona_pki::TrustStore::new();
        let mut files = Vec::new();
        for path in &eds.trust_anchors {
            let policy = if eds.anchors_without_revocation.contains(path) {
                RevocationPolicy::NotChecked
            } else {
                RevocationPolicy::Required
            };
            let count = trust
                .add_anchor_pem(&read("trust_anchors", path)?, policy)
                .map_err(|e| format!("configuration key `eds.trust_anchors`: {}: {e}", path.display()))?;
            files.extend(std::iter::repeat_n(path.clone(), count));
        }
        for path in &eds.intermediates {
            trust
                .add_intermediate_pem(&read("intermediates", path)?)
                .map_err(|e| format!("configuration key `eds.intermediates`: {}: {e}", path.display()))?;
        }
        for crl in crls {
            trust.add_crl_der(crl).map_err(|e| format!("configuration key `eds.crls`: {e}"))?;
        }
        anchors.extend(files.into_iter().zip(trust.summary()).map(|(f, s)| (f, AnchorSource::Local(s))));
        Some(yagona_pki::Verifier { trust })
    };
    let eimzo = match crate::state::eimzo_server(eds, tls) {
        Some(server) => {
            let mut issuers = Vec::new();
            for path in &eds.eimzo_server_anchors {
                let subjects = yagona_pki::certificate_subjects(&read("eimzo_server_anchors", path)?)
                    .map_err(|e| format!("configuration key `eds.eimzo_server_anchors`: {}: {e}", path.display()))?;
                anchors
                    .extend(subjects.iter().map(|s| (path.clone(), AnchorSource::EimzoServer { subject: s.clone() })));
                issuers.extend(subjects);
            }
            Some((server, issuers))
        }
        None => None,
    };
    let verifier: Option<Arc<dyn SignatureVerifier>> =
        if local.is_none() && eimzo.is_none() { None } else { Some(Arc::new(crate::eimzo::Dispatch { local, eimzo })) };
    Ok(EdsTrust { verifier, anchors })
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("configuration key `eds.{key}`: cannot read {}: {e}", path.display()))
}

/// Downloads a CRL from its distribution point (http: CRLs are signed, so plain HTTP is the
/// norm, RFC 5280 4.2.1.13; https, or a redirect to it, is verified like every outbound request,
/// `outbound.ca_file`).
fn fetch_crl(url: &str, tls: &ureq::tls::TlsConfig) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(20)))
        .tls_config(tls.clone())
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| format!("configuration key `eds.crls`: {url}: {e}"))?;
    response
        .body_mut()
        .with_config()
        .limit(50 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("configuration key `eds.crls`: {url}: {e}"))
}

/// Tells, one line per anchor, what its certificates are checked against: at start (`verbose`)
/// every anchor; at a refresh only the anchors that accept nothing.
pub fn log_anchors(trust: &EdsTrust, now: i64, verbose: bool) {
    for (file, anchor) in &trust.anchors {
        let (file, subject) = (file.display(), anchor.subject());
        if !anchor.accepts_certificates(now) {
            match anchor {
                AnchorSource::Local(a) if a.crls.is_empty() => tracing::warn!(
                    %file, anchor = subject,
                    "trust anchor has no revocation source: its certificates are refused (configure `eds.crls`, \
                     or list it in `eds.anchors_without_revocation`)"
                ),
                _ => tracing::warn!(
                    %file, anchor = subject,
                    "trust anchor's CRL is past its next update: its certificates are refused until a fresh one is loaded"
                ),
            }
        } else if !verbose {
        } else if let AnchorSource::Local(a) = anchor {
            if a.policy == RevocationPolicy::NotChecked {
                tracing::warn!(%file, anchor = subject, "trust anchor: revocation not checked (operator opt-out)");
            } else {
                let next_update = a.crls.iter().filter_map(|c| c.next_update).min().map(rfc3339);
                tracing::info!(%file, anchor = subject, crls = a.crls.len(), next_update, "trust anchor: revocation by CRL");
            }
        } else {
            tracing::info!(%file, anchor = subject, "trust anchor: status checked by the E-IMZO-server");
        }
    }
}

/// Records each CRL source's load in the database (for `pki status`); a failure to record is
/// logged, never fatal.
pub fn record_loads(store: &Store, loads: &[CrlLoad], now: i64) {
    for load in loads {
        let recorded = match &load.result {
            Ok(c) => store.record_crl_loaded(&load.source, &c.issuer, c.this_update, c.next_update, c.revoked, now),
            Err(e) => {
                tracing::error!(source = load.source, detail = %e, "a CRL could not be loaded");
                store.record_crl_failed(&load.source, e, now)
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(source = load.source, detail = %e, "recording the CRL load failed");
        }
    }
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
