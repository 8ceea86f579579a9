//! The configuration's sections, one struct per TOML table (`[mail]`, `[login]`, ...): what an
//! operator writes. Their defaults are in `Config::default` and `config/default.toml`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::i18n::Locale;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The SMTP server recovery and verification e-mails go through: `smtps://user:pass@host`
    /// (TLS), `smtp://host:587?tls=required` (STARTTLS), `smtp://localhost:25` (a local relay).
    /// Unset: no e-mail (with `serve --dev`, messages are written to the log).
    pub smtp_url: Option<String>,
    /// The sender: `Yagona <no-reply@id.example.uz>`.
    pub from: String,
    /// Seconds a link sent by e-mail stays usable.
    pub link_ttl: i64,
    /// Links asked for within `login.window_seconds`, per account and per client address, before
    /// more are refused.
    pub max_per_account: u32,
    pub max_per_address: u32,
}

/// Rules for every client's requests (issue 15).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsConfig {
    /// Authorization requests only through the PAR endpoint (RFC 9126), for every client.
    pub require_pushed_authorization_requests: bool,
    /// Seconds a pushed request's `request_uri` is good for (it is also single use).
    pub pushed_request_ttl: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalConfig {
    /// The roles a head may give other people in the company (the head's own role,
    /// `Common For Head`, comes from the company's EDS).
    pub roles: Vec<String>,
    /// The certificate titles (`T`) that make their holder the company's head: only such a
    /// certificate links a company as `Common For Head`. Compared trimmed, with spaces
    /// collapsed, in any case.
    pub head_titles: Vec<String>,
}

/// The head titles written on Uzbek company certificates, in Uzbek (Latin and Cyrillic),
/// Russian and English.
pub const DEFAULT_HEAD_TITLES: &[&str] = &[
    "Direktor",
    "Bosh direktor",
    "Ijrochi direktor",
    "Rahbar",
    "Rais",
    "Boshqaruv raisi",
    "Директор",
    "Бош директор",
    "Раҳбар",
    "Раис",
    "Генеральный директор",
    "Исполнительный директор",
    "Руководитель",
    "Председатель",
    "Председатель правления",
    "Director",
    "General director",
    "Executive director",
    "Chief executive officer",
    "CEO",
    "Chairman",
    "Head",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdsConfig {
    /// PEM files of the certification authorities whose EDS certificates are accepted. Empty:
    /// EDS sign-in and account confirmation are off.
    pub trust_anchors: Vec<PathBuf>,
    /// PEM files of intermediate CA certificates (chains are also taken from the signatures).
    pub intermediates: Vec<PathBuf>,
    /// CRL files (DER or PEM) or `http://` distribution points, re-read every `crl_refresh`
    /// seconds.
    pub crls: Vec<PathBuf>,
    /// Trust anchors (paths exactly as in `trust_anchors`) whose certificates are accepted
    /// without a revocation list. Every other anchor fails closed: a certificate whose issuer
    /// has no CRL is refused.
    pub anchors_without_revocation: Vec<PathBuf>,
    pub crl_refresh: i64,
    /// Seconds a signing challenge lives.
    pub challenge_ttl: i64,
    /// Where the pages look for E-IMZO's local WebSocket API.
    pub eimzo_urls: Vec<String>,
    /// An E-IMZO-server compatible service (`http://host:port`) that verifies signatures with the
    /// national algorithm; empty: none.
    pub eimzo_server_url: Option<String>,
    /// PEM files of the CAs whose certificates the E-IMZO-server verifies (chosen per anchor).
    pub eimzo_server_anchors: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// The language when neither the relying party, the person nor the browser names one:
    /// `uz-Latn`, `ru` or `en`.
    pub default_locale: Locale,
    /// The IANA time zone the pages show dates and times in (`Asia/Tashkent`).
    pub time_zone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Self-registration on `/register`.
    pub enabled: bool,
    /// The offer (terms of use) shown at the first step, as plain text; `{lang}` in the path is
    /// replaced by the page's language (`uz-Latn`, `ru`, `en`). Empty: the built-in text.
    pub offer_file: Option<String>,
    /// Seconds a registration may take before it must be started again.
    pub ttl: i64,
    /// Submissions of the steps that check whether a PINFL, passport or login has an account,
    /// allowed per client address within `checks_window_seconds`.
    pub max_checks_per_address: u32,
    pub checks_window_seconds: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds between SIGTERM and closing the listener: readiness answers 503 at once so the
    /// load balancer stops sending, requests keep being served meanwhile, then in-flight ones
    /// finish.
    pub shutdown_grace: u64,
    /// Peers (CIDRs) whose `Forwarded` / `X-Forwarded-For` header names the client address.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub url_file: Option<PathBuf>,
    pub pool_size: u32,
    /// Milliseconds a request waits for a database connection before it is answered 503.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// 32 bytes, base64: the key-encryption key sealing signing keys at rest.
    pub encryption_key: Option<String>,
    pub encryption_key_file: Option<PathBuf>,
    /// Seconds between `keys rotate` and the new key's first signature: it is published (JWKS,
    /// verification) meanwhile. At least the JWKS max-age (300 s) plus the nodes' key poll (30 s),
    /// so every node and every relying party's cached JWKS has it before it is used.
    pub publish_delay: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// Failed logins allowed per account within `window_seconds` before it is locked.
    pub max_failures_per_account: u32,
    /// Failed logins allowed per client address within `window_seconds`.
    pub max_failures_per_address: u32,
    pub window_seconds: i64,
}

/// Failed client authentications (wrong secrets) allowed within `window_seconds`, per client and
/// per address, before further checks are refused unchecked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    pub max_failures_per_client: u32,
    pub max_failures_per_address: u32,
    pub window_seconds: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub min_length: usize,
    /// A file of breached passwords to refuse: one password, or its SHA-1 in hex, per line.
    pub breached_list: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Subject identifiers (OIDC Core 8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectsConfig {
    /// The subject type of clients registered without one: `public` or `pairwise`.
    pub default_type: yagona_oidc::subject::SubjectType,
    /// The secret pairwise subjects are made with (base64, at least 32 bytes); unset: derived
    /// from the key-encryption key.
    pub pairwise_secret_file: Option<PathBuf>,
}

/// DPoP (RFC 9449).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopConfig {
    /// Every DPoP proof must carry a nonce the server handed out (`DPoP-Nonce`); a proof without
    /// one is answered `use_dpop_nonce` with a fresh nonce. Nonces are checked whenever present.
    pub require_nonce: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeConfig {
    /// Seconds between the server's purges of expired rows (each replica runs its own, in
    /// batches); 0: never, for a deployment that runs `yagona purge` on a schedule of its own.
    pub interval: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Days audit events are kept; 0 keeps them for ever.
    pub retention_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `/metrics` (Prometheus text format) is served, apart from the public listener;
    /// empty: no metrics.
    pub listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, `debug`, `yagona_server=debug,info`.
    pub level: String,
}
