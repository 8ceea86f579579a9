//! Prometheus metrics (`/metrics` on `metrics.listen`, apart from the public listener).
//!
//! Recorded through the `metrics` facade (counters and histograms where things happen) and
//! rendered by `metrics-exporter-prometheus`; gauges that describe state (the database pool,
//! signing keys) are read at each scrape. Label values are bounded: routes are actix's match
//! patterns (never raw paths), clients are registered ids, outcomes are fixed words.

use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use yagona_oidc::OidcRepository as _;

use crate::state::{now, AppState};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Seconds: from a fast cached lookup to a slow password hash or a database wait.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the recorder (once per process; the server calls it at start).
pub fn install() -> Result<(), String> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    let _ = HANDLE.set(handle);
    describe_counter!("yagona_http_requests_total", "HTTP requests by route, method and status");
    describe_histogram!(
        "yagona_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route and method"
    );
    describe_counter!("yagona_tokens_issued_total", "Token responses by grant type and client");
    describe_counter!("yagona_logins_total", "Login attempts by method (password, eds) and outcome");
    describe_counter!("yagona_eds_verifications_total", "EDS signature verifications by outcome");
    describe_counter!("yagona_throttle_hits_total", "Requests refused by a throttle, by what was locked");
    describe_gauge!("yagona_db_pool_connections", "Open database connections in the pool");
    describe_gauge!("yagona_db_pool_in_use", "Pool connections handed out to requests");
    describe_gauge!("yagona_db_pool_max", "The pool's size (database.pool_size)");
    describe_histogram!(
        "yagona_db_pool_wait_seconds",
        Unit::Seconds,
        "Time a request waited for a database connection"
    );
    describe_gauge!(
        "yagona_signing_key_age_seconds",
        Unit::Seconds,
        "Age of each published signing key, by kid, alg and state"
    );
    describe_gauge!("yagona_draining", "1 while the node drains after SIGTERM (or stops after SIGINT)");
    Ok(())
}

/// One served HTTP request (on every request: the labels are made once, the method is static).
pub fn request(route: String, method: &actix_web::http::Method, status: u16, seconds: f64) {
    use actix_web::http::Method;
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    histogram!("yagona_http_request_duration_seconds", "route" => route.clone(), "method" => method).record(seconds);
    counter!("yagona_http_requests_total", "route" => route, "method" => method, "status" => status.to_string())
        .increment(1);
}

/// A token response sent (`authorization_code`, `refresh_token`, `client_credentials`, ...).
pub fn token_issued(grant_type: &str, client: &str) {
    counter!("yagona_tokens_issued_total", "grant_type" => grant_type.to_owned(), "client" => client.to_owned())
        .increment(1);
}

/// A login attempt: `method` password or eds; `outcome` success, failure, throttled, ...
pub fn login(method: &'static str, outcome: &'static str) {
    counter!("yagona_logins_total", "method" => method, "outcome" => outcome).increment(1);
}

/// An EDS verification: `ok`, or the E-IMZO-style reason it failed.
pub fn eds_verification(outcome: &'static str) {
    counter!("yagona_eds_verifications_total", "outcome" => outcome).increment(1);
}

/// A refused signature's outcome label (E-IMZO's status groups, revocation apart).
pub fn pki_outcome(e: &yagona_pki::PkiError) -> &'static str {
    use yagona_pki::PkiError as E;
    match e {
        E::Malformed(_) => "malformed",
        E::BadSignature | E::WeakAlgorithm(_) | E::UnsupportedAlgorithm(_) => "bad_signature",
        E::CertificateInvalid(_)
        | E::CertificateExpired(_)
        | E::CertificateNotYetValid(_)
        | E::CertificateUntrusted => "certificate_invalid",
        E::CertificateInvalidAtSigningTime => "certificate_invalid_at_signing_time",
        E::Revoked(_) => "revoked",
        E::StatusCheckFailed | E::NoRevocationSource(_) => "status_unknown",
        E::BadSigningTime => "signing_time",
        E::ChallengeUnknown => "challenge",
    }
}

/// A throttle refused a request; `locked` is `account`, `address`, `client`, `client_address` or
/// `registration`.
pub fn throttle_hit(locked: &'static str) {
    counter!("yagona_throttle_hits_total", "locked" => locked).increment(1);
}

/// The scrape: state gauges read now, then everything rendered in the text format.
pub fn render(state: &AppState) -> String {
    let pool = state.store.pool_state();
    gauge!("yagona_db_pool_connections").set(f64::from(pool.connections));
    gauge!("yagona_db_pool_in_use").set(f64::from(pool.connections - pool.idle));
    gauge!("yagona_db_pool_max").set(f64::from(pool.max));
    gauge!("yagona_draining").set(if state.draining.load(std::sync::atomic::Ordering::Relaxed) { 1.0 } else { 0.0 });
    match state.store.list_signing_keys() {
        Ok(keys) => {
            let now = now();
            for key in keys {
                let labels = [
                    ("kid", key.kid.clone()),
                    ("alg", key.alg.as_str().to_owned()),
                    ("state", key.state.as_str().to_owned()),
                ];
                gauge!("yagona_signing_key_age_seconds", &labels).set((now - key.created_at) as f64);
            }
        }
        Err(e) => tracing::warn!(detail = %e.description, "metrics: signing keys not read"),
    }
    HANDLE.get().map(PrometheusHandle::render).unwrap_or_default()
}
