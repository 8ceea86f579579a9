//! Which servers outbound requests (client-chosen URLs, the E-IMZO server) trust over TLS: the
//! system's trust store (loaded once per process) plus the operator's `outbound.ca_file` (PEM;
//! e.g. the national CA or a private CA of the operator's own relying parties). TLS is rustls
//! with the aws-lc-rs provider, given explicitly: ureq's own default would be ring, which the
//! project does not build. The certificate is checked for the host named in the URL (ureq takes
//! the SNI and verification name from the URL, never from the checked address it connects to).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

/// The system's trust store, loaded at the first use (start-up builds the policy). Certificates
/// the system offers that cannot be read are left out and logged: one bad file in
/// /etc/ssl/certs must not stop the server.
fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "a certificate of the system's trust store could not be loaded");
        }
        if loaded.certs.is_empty() {
            tracing::warn!("the system's trust store is empty: outbound https trusts only outbound.ca_file");
        }
        loaded.certs.iter().map(|der| Certificate::from_der(der.as_ref()).to_owned()).collect()
    })
}

/// The certificates of `outbound.ca_file`: every one must parse as a trust anchor, and there
/// must be at least one.
fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let refused = |why: String| format!("configuration key `outbound.ca_file`: {}: {why}", path.display());
    let pem = std::fs::read(path).map_err(|e| refused(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| refused(format!("not PEM: {e}")))? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(refused("it holds no certificate (PEM, -----BEGIN CERTIFICATE-----)".into()));
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(rustls::pki_types::CertificateDer::from(cert.der()))
            .map_err(|e| refused(format!("a certificate is not usable as a trust anchor: {e}")))?;
    }
    Ok(certs)
}

/// The TLS settings of every outbound agent: rustls with aws-lc-rs, trusting the system's
/// store and the certificates of `ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<TlsConfig, String> {
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    Ok(trusting(extra))
}

/// The TLS settings trusting the system's store only.
pub fn system_tls_config() -> TlsConfig {
    trusting(Vec::new())
}

fn trusting(extra: Vec<Certificate<'static>>) -> TlsConfig {
    let mut roots = system_roots().to_vec();
    roots.extend(extra);
    TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build()
}
