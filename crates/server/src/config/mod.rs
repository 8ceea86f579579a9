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

mod sections;
pub use sections::*;

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
    pub purge: PurgeConfig,
    pub clients: ClientsConfig,
    pub dpop: DpopConfig,
    pub subjects: SubjectsConfig,
    pub mail: MailConfig,
    pub outbound: crate::outbound::OutboundConfig,
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
            purge: PurgeConfig { interval: 600 },
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
    /// `purge.interval`; `None`: the server never purges (an external `yagona purge` does).
    pub purge_interval: Option<std::time::Duration>,
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
        if self.purge.interval != 0 && self.purge.interval < 30 {
            return Err("configuration key `purge.interval`: must be 0 (never) or at least 30 seconds".into());
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
            purge_interval: (self.purge.interval > 0).then(|| std::time::Duration::from_secs(self.purge.interval)),
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
mod tests;
