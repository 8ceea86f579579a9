//! Configuration: built-in defaults, then a TOML file (`--config` or `YAGONA_CONFIG`), then
//! `YAGONA_*` environment variables (`__` separates levels: `YAGONA_DATABASE__URL`). Secrets may
//! come from files (`database.url_file`, `keys.encryption_key_file`, or the `_FILE` environment
//! variants). Unknown keys and bad values stop the start with a message naming the key.
//! `config/default.toml` lists every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format as _, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use yagona_account::PasswordParams;
use yagona_oidc::keys::KeyEncryptionKey;
use yagona_oidc::Lifetimes;
use yagona_store::DatabaseUrl;

use crate::i18n::Locale;

/// The configuration as written (before validation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The issuer identifier: the public base URL, no trailing slash.
    pub issuer: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub keys: KeysConfig,
    pub tokens: Lifetimes,
    pub login: LoginConfig,
    pub client_auth: ClientAuthConfig,
    pub password: PasswordConfig,
    pub ui: UiConfig,
    pub registration: RegistrationConfig,
    pub eds: EdsConfig,
    pub legal: LegalConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub audit: AuditConfig,
    pub clients: ClientsConfig,
    pub dpop: DpopConfig,
    pub subjects: SubjectsConfig,
    pub mail: MailConfig,
    pub outbound: crate::outbound::OutboundConfig,
}

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

impl Default for Config {
    fn default() -> Self {
        let argon = PasswordParams::default();
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            http: HttpConfig {
                listen: "127.0.0.1:8080".into(),
                workers: 0,
                shutdown_grace: 30,
                trusted_proxies: Vec::new(),
            },
            database: DatabaseConfig {
                url: "sqlite://./data/yagona.db".into(),
                url_file: None,
                pool_size: 8,
                acquire_timeout_ms: 2000,
            },
            keys: KeysConfig { encryption_key: None, encryption_key_file: None, publish_delay: 330 },
            tokens: Lifetimes::default(),
            clients: ClientsConfig { require_pushed_authorization_requests: false, pushed_request_ttl: 60 },
            login: LoginConfig { max_failures_per_account: 5, max_failures_per_address: 50, window_seconds: 900 },
            client_auth: ClientAuthConfig {
                max_failures_per_client: 20,
                max_failures_per_address: 40,
                window_seconds: 900,
            },
            password: PasswordConfig {
                memory_kib: argon.memory_kib,
                iterations: argon.iterations,
                parallelism: argon.parallelism,
                min_length: 10,
                breached_list: None,
            },
            ui: UiConfig { default_locale: Locale::UzLatn, time_zone: "Asia/Tashkent".into() },
            registration: RegistrationConfig {
                enabled: true,
                offer_file: None,
                ttl: 3600,
                max_checks_per_address: 30,
                checks_window_seconds: 900,
            },
            eds: EdsConfig {
                trust_anchors: Vec::new(),
                intermediates: Vec::new(),
                crls: Vec::new(),
                anchors_without_revocation: Vec::new(),
                crl_refresh: 3600,
                challenge_ttl: 120,
                eimzo_urls: vec![
                    "ws://127.0.0.1:64646/service/cryptapi".into(),
                    "wss://127.0.0.1:64443/service/cryptapi".into(),
                ],
                eimzo_server_url: None,
                eimzo_server_anchors: Vec::new(),
            },
            legal: LegalConfig {
                roles: vec!["Accountant".into(), "Employee".into()],
                head_titles: DEFAULT_HEAD_TITLES.iter().map(|t| (*t).to_owned()).collect(),
            },
            log: LogConfig { format: LogFormat::Text, level: "info".into() },
            metrics: MetricsConfig { listen: "127.0.0.1:9464".into() },
            audit: AuditConfig { retention_days: 365 },
            dpop: DpopConfig { require_nonce: false },
            subjects: SubjectsConfig { default_type: Default::default(), pairwise_secret_file: None },
            mail: MailConfig {
                smtp_url: None,
                from: "Yagona <no-reply@localhost>".into(),
                link_ttl: 1800,
                max_per_account: 3,
                max_per_address: 20,
            },
            outbound: Default::default(),
        }
    }
}

/// The validated settings the program runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: String,
    pub issuer_is_https: bool,
    pub listen: SocketAddr,
    pub workers: usize,
    pub database: DatabaseUrl,
    pub pool_size: u32,
    pub acquire_timeout: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub encryption_key: Option<KeyEncryptionKey>,
    /// `keys.encryption_key_file`, when the key came from a file.
    pub encryption_key_file: Option<PathBuf>,
    /// `keys.publish_delay`, seconds.
    pub key_publish_delay: i64,
    pub lifetimes: Lifetimes,
    pub login: LoginConfig,
    pub client_auth: ClientAuthConfig,
    pub password: PasswordParams,
    pub password_min_length: usize,
    /// `password.breached_list`, read at start.
    pub breached_passwords: Option<std::sync::Arc<yagona_account::BreachedPasswords>>,
    pub default_locale: Locale,
    /// `ui.time_zone`.
    pub time_zone: chrono_tz::Tz,
    pub registration: RegistrationConfig,
    pub eds: EdsConfig,
    pub legal: LegalConfig,
    /// The offer text per language, read at start when `registration.offer_file` is set.
    pub offer_texts: Vec<(Locale, String)>,
    pub log: LogConfig,
    /// `metrics.listen`, when metrics are on.
    pub metrics_listen: Option<SocketAddr>,
    /// `audit.retention_days` in seconds; `None` keeps events for ever.
    pub audit_retention: Option<i64>,
    pub clients: ClientsConfig,
    pub dpop: DpopConfig,
    pub subjects: SubjectsConfig,
    /// `subjects.pairwise_secret_file`, read and decoded.
    pub pairwise_secret: Option<Vec<u8>>,
    pub mail: MailConfig,
    /// `[outbound]`: which addresses requests to client-chosen URLs may reach.
    pub outbound: crate::outbound::OutboundPolicy,
}

impl Config {
    /// Loads the layers: defaults, the TOML file if any, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("configuration file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("YAGONA_").split("__").ignore(&["config"]));
        figment.extract::<Config>().map_err(|e| {
            e.into_iter()
                .map(|e| {
                    let key = e.path.join(".");
                    if key.is_empty() {
                        format!("configuration: {e}")
                    } else {
                        format!("configuration key `{key}`: {}", e.kind)
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Checks every value and reads secret files.
    pub fn validate(self) -> Result<Settings, String> {
        let issuer_url = url::Url::parse(&self.issuer).map_err(|e| format!("configuration key `issuer`: {e}"))?;
        if !matches!(issuer_url.scheme(), "http" | "https")
            || issuer_url.query().is_some()
            || issuer_url.fragment().is_some()
            || self.issuer.ends_with('/')
        {
            return Err(
                "configuration key `issuer`: must be an http(s) URL without query, fragment or trailing slash".into()
            );
        }
        let listen =
            self.http.listen.parse::<SocketAddr>().map_err(|e| {
                format!("configuration key `http.listen`: {e} (expected host:port, e.g. 127.0.0.1:8080)")
            })?;
        let url = secret("database.url", Some(self.database.url), self.database.url_file.as_deref())?
            .ok_or("configuration key `database.url`: must not be empty")?;
        let database = DatabaseUrl::parse(&url).map_err(|e| format!("configuration key `database.url`: {e}"))?;
        if self.database.pool_size == 0 {
            return Err("configuration key `database.pool_size`: must be at least 1".into());
        }
        if self.database.acquire_timeout_ms == 0 {
            return Err("configuration key `database.acquire_timeout_ms`: must be at least 1".into());
        }
        if self.keys.publish_delay < 0 {
            return Err("configuration key `keys.publish_delay`: must be zero or a positive number of seconds".into());
        }
        let trusted_proxies = self
            .http
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(|_| {
                    format!("configuration key `http.trusted_proxies`: {p:?} is not an address or CIDR (e.g. 10.0.0.0/8)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pairwise_secret = secret("subjects.pairwise_secret", None, self.subjects.pairwise_secret_file.as_deref())?
            .map(|text| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .ok()
                    .filter(|bytes| bytes.len() >= 32)
                    .ok_or("configuration key `subjects.pairwise_secret_file`: the file must hold at least 32 bytes, base64 (openssl rand -base64 32)")
            })
            .transpose()?;
        let encryption_key =
            secret("keys.encryption_key", self.keys.encryption_key, self.keys.encryption_key_file.as_deref())?
                .map(|k| {
                    KeyEncryptionKey::from_base64(&k)
                        .map_err(|e| format!("configuration key `keys.encryption_key`: {e}"))
                })
                .transpose()?;
        let t = &self.tokens;
        for (key, value) in [
            ("tokens.authorization_code", t.authorization_code),
            ("tokens.access_token", t.access_token),
            ("tokens.id_token", t.id_token),
            ("tokens.refresh_token", t.refresh_token),
            ("tokens.refresh_token_absolute", t.refresh_token_absolute),
            ("tokens.session", t.session),
            ("tokens.interaction", t.interaction),
            ("login.window_seconds", self.login.window_seconds),
            ("client_auth.window_seconds", self.client_auth.window_seconds),
            ("registration.ttl", self.registration.ttl),
            ("registration.checks_window_seconds", self.registration.checks_window_seconds),
            ("eds.crl_refresh", self.eds.crl_refresh),
            ("eds.challenge_ttl", self.eds.challenge_ttl),
        ] {
            if value <= 0 {
                return Err(format!("configuration key `{key}`: must be a positive number of seconds"));
            }
        }
        let password = PasswordParams {
            memory_kib: self.password.memory_kib,
            iterations: self.password.iterations,
            parallelism: self.password.parallelism,
        };
        yagona_account::PasswordHasher::new(password).map_err(|e| format!("configuration keys `password.*`: {e}"))?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| format!("configuration key `log.level`: {e}"))?;
        for url in &self.eds.eimzo_urls {
            let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss")) && !url.contains(' ');
            if !ok {
                return Err(format!("configuration key `eds.eimzo_urls`: {url:?} is not a ws:// or wss:// URL"));
            }
        }
        for anchor in &self.eds.anchors_without_revocation {
            if !self.eds.trust_anchors.contains(anchor) {
                return Err(format!(
                    "configuration key `eds.anchors_without_revocation`: {} is not one of `eds.trust_anchors`",
                    anchor.display()
                ));
            }
        }
        if self.audit.retention_days < 0 {
            return Err(
                "configuration key `audit.retention_days`: must be 0 (keep for ever) or a number of days".into()
            );
        }
        let metrics_listen = match self.metrics.listen.trim() {
            "" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|e| {
                format!("configuration key `metrics.listen`: {e} (expected host:port, or empty for no metrics)")
            })?),
        };
        let breached_passwords = match self.password.breached_list.as_deref().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("configuration key `password.breached_list`: cannot read {}: {e}", path.display())
                })?;
                Some(std::sync::Arc::new(yagona_account::BreachedPasswords::parse(&text)))
            }
            None => None,
        };
        if !(60..=86_400).contains(&self.mail.link_ttl) {
            return Err("configuration key `mail.link_ttl`: between 60 and 86400 seconds".into());
        }
        let time_zone: chrono_tz::Tz = self.ui.time_zone.trim().parse().map_err(|_| {
            format!(
                "configuration key `ui.time_zone`: {:?} is not an IANA time zone (for example Asia/Tashkent)",
                self.ui.time_zone
            )
        })?;
        let mut offer_texts = Vec::new();
        if let Some(pattern) = self.registration.offer_file.as_deref().filter(|p| !p.is_empty()) {
            for locale in Locale::ALL {
                let path = pattern.replace("{lang}", locale.tag());
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("configuration key `registration.offer_file`: cannot read {path}: {e}"))?;
                offer_texts.push((locale, text));
            }
        }
        if !(1..=600).contains(&self.clients.pushed_request_ttl) {
            return Err(
                "configuration key `clients.pushed_request_ttl`: 1 to 600 seconds (RFC 9126 suggests under a minute)"
                    .into(),
            );
        }
        Ok(Settings {
            issuer_is_https: issuer_url.scheme() == "https",
            issuer: self.issuer,
            listen,
            workers: self.http.workers,
            database,
            pool_size: self.database.pool_size,
            acquire_timeout: std::time::Duration::from_millis(self.database.acquire_timeout_ms),
            shutdown_grace: std::time::Duration::from_secs(self.http.shutdown_grace),
            trusted_proxies,
            encryption_key,
            encryption_key_file: self.keys.encryption_key_file.filter(|p| !p.as_os_str().is_empty()),
            key_publish_delay: self.keys.publish_delay,
            lifetimes: self.tokens,
            login: self.login,
            client_auth: self.client_auth,
            password,
            password_min_length: self.password.min_length,
            breached_passwords,
            default_locale: self.ui.default_locale,
            time_zone,
            registration: self.registration,
            eds: self.eds,
            legal: self.legal,
            offer_texts,
            log: self.log,
            metrics_listen,
            audit_retention: (self.audit.retention_days > 0).then(|| self.audit.retention_days * 86_400),
            clients: self.clients,
            dpop: self.dpop,
            pairwise_secret,
            subjects: self.subjects,
            mail: self.mail,
            outbound: self.outbound.policy()?,
        })
    }
}

impl Settings {
    /// The rules for new passwords: `password.min_length` and `password.breached_list`.
    pub fn password_policy(&self) -> yagona_account::PasswordPolicy {
        yagona_account::PasswordPolicy::new(self.password_min_length, self.breached_passwords.clone())
    }
}

/// A secret given inline or as a file, never both.
fn secret(key: &str, inline: Option<String>, file: Option<&Path>) -> Result<Option<String>, String> {
    let inline = inline.filter(|v| !v.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) if key != "database.url" => {
            Err(format!("configuration key `{key}`: set either `{key}` or `{key}_file`, not both"))
        }
        // database.url always has a default, so a file overrides it.
        (_, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| format!("configuration key `{key}_file`: cannot read {}: {e}", path.display())),
        (inline, None) => Ok(inline),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    // figment::Jail sets environment variables for one closure, serialised across tests.
    #[test]
    fn layers_and_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("y.toml", "issuer = \"https://id.example.uz\"\n[http]\nlisten = \"0.0.0.0:9000\"\n")?;
            jail.set_env("YAGONA_DATABASE__POOL_SIZE", "3");
            let s = Config::load(Some(Path::new("y.toml"))).unwrap().validate().unwrap();
            assert_eq!(s.issuer, "https://id.example.uz");
            assert!(s.issuer_is_https);
            assert_eq!(s.listen.port(), 9000);
            assert_eq!(s.pool_size, 3);

            jail.set_env("YAGONA_HTTP__LISTNE", "x");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains("listne"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("YAGONA_DATABASE__POOL_SIZE", "many");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains("database.pool_size"), "{err}");
            jail.set_env("YAGONA_DATABASE__POOL_SIZE", "2");
            jail.set_env("YAGONA_HTTP__LISTEN", "nonsense");
            let err = Config::load(None).unwrap().validate().unwrap_err();
            assert!(err.contains("http.listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_from_files() {
        figment::Jail::expect_with(|jail| {
            let kek = KeyEncryptionKey::generate();
            jail.create_file("kek", &format!("{}\n", kek.to_base64()))?;
            jail.set_env("YAGONA_KEYS__ENCRYPTION_KEY_FILE", "kek");
            let s = Config::load(None).unwrap().validate().unwrap();
            assert_eq!(s.encryption_key.unwrap().id(), kek.id());
            jail.set_env("YAGONA_KEYS__ENCRYPTION_KEY", kek.to_base64());
            let err = Config::load(None).unwrap().validate().unwrap_err();
            assert!(err.contains("not both"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn defaults_match_default_toml() {
        // Inside a Jail: the other tests set YAGONA_* variables, and the Jail serialises them.
        figment::Jail::expect_with(|_| {
            let from_file =
                Config::load(Some(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/default.toml"))))
                    .unwrap();
            assert_eq!(serde_json::to_value(&from_file).unwrap(), serde_json::to_value(Config::default()).unwrap());
            Ok(())
        });
    }
}
