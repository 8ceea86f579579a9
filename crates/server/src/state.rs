//! The running service's shared state and its start-up: storage, keys, hashers.

use std::path::Path;
use std::sync::{Arc, RwLock};

use yagona_account::PasswordHasher;
use yagona_oidc::keys::{KeyEncryptionKey, KeyRing, SigningAlg, StoredKey};
use yagona_oidc::tokens::TokenIssuer;
use yagona_oidc::{ClientSecretVerifier, OAuthError, OidcRepository};
use yagona_store::Store;

use crate::config::Settings;
use crate::discovery;

/// The wall clock, in unix seconds. The domain crates take `now` as an argument; this is the
/// one place the server reads it.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub kek: KeyEncryptionKey,
    keys: RwLock<Arc<KeyRing>>,
    pub passwords: PasswordHasher,
    pub client_secrets: ClientSecretVerifier,
    /// Clients as read in the last second (token-endpoint authentication).
    pub clients: crate::client_cache::ClientCache,
    /// Clients' public keys (`private_key_jwt`, request objects), fetched ones cached.
    pub client_keys: crate::client_keys::ClientKeyStore,
    /// The discovery document, rendered once.
    pub discovery_json: String,
    /// The EDS signature verifier, when trust anchors are configured; rebuilt when CRLs are
    /// refreshed.
    eds: RwLock<Option<Arc<dyn yagona_pki::SignatureVerifier>>>,
    /// Set when the server is told to stop (SIGTERM, SIGINT): readiness answers 503 so the load
    /// balancer drains this node, and background work ends between steps, so that a purge of
    /// millions of rows does not hold the process up.
    pub draining: std::sync::atomic::AtomicBool,
    /// DPoP nonces, derived from the KEK so every replica agrees.
    pub dpop_nonces: yagona_oidc::dpop::DpopNonces,
    /// Public or pairwise subjects (OIDC Core 8).
    pub subjects: yagona_oidc::subject::Subjects,
    /// Outgoing e-mail (`mail.*`); `None`: off, and recovery by e-mail is not offered.
    pub mailer: Option<crate::mail::Mailer>,
}

impl AppState {
    pub fn new(settings: Settings, store: Store, kek: KeyEncryptionKey) -> Result<Self, String> {
        let ring = load_key_ring(&store, &kek, &settings)?;
        let passwords = PasswordHasher::new(settings.password).map_err(|e| e.to_string())?;
        let discovery_json = discovery::document(&settings.issuer, &settings.clients).to_string();
        let subjects = yagona_oidc::subject::Subjects::new(
            settings.subjects.default_type,
            &settings.pairwise_secret.clone().unwrap_or_else(|| kek.derive("yagona pairwise subject").to_vec()),
        );
        let client_keys = crate::client_keys::ClientKeyStore::new(&settings.outbound);
        Ok(Self {
            settings,
            store,
            dpop_nonces: yagona_oidc::dpop::DpopNonces::new(&kek.derive("yagona dpop nonce")),
            subjects,
            kek,
            keys: RwLock::new(Arc::new(ring)),
            passwords,
            client_secrets: ClientSecretVerifier::default(),
            clients: Default::default(),
            client_keys,
            discovery_json,
            eds: RwLock::new(None),
            draining: std::sync::atomic::AtomicBool::new(false),
            mailer: None,
        })
    }

    pub fn password_policy(&self) -> yagona_account::PasswordPolicy {
        self.settings.password_policy()
    }

    /// The EDS verifier, if EDS is configured.
    pub fn eds(&self) -> Option<Arc<dyn yagona_pki::SignatureVerifier>> {
        match self.eds.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_eds(&self, verifier: Option<Arc<dyn yagona_pki::SignatureVerifier>>) {
        match self.eds.write() {
            Ok(mut guard) => *guard = verifier,
            Err(poisoned) => *poisoned.into_inner() = verifier,
        }
    }

    /// The current keys (cheap: an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the keys from the database, picking up a rotation made by `yagona keys rotate`.
    pub fn reload_keys(&self) -> Result<(), String> {
        let ring = Arc::new(load_key_ring(&self.store, &self.kek, &self.settings)?);
        match self.keys.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }

    /// Runs `f` with a token issuer over the current keys.
    pub fn with_issuer<T>(&self, f: impl FnOnce(&TokenIssuer<'_>) -> T) -> T {
        let keys = self.keys();
        f(&TokenIssuer {
            issuer: &self.settings.issuer,
            lifetimes: &self.settings.lifetimes,
            keys: &keys,
            subjects: &self.subjects,
        })
    }
}

/// How long a retired key stays published beyond the longest token lifetime: the time a
/// lagging node may still sign with it before it loads the new key (its 30 s poll, when a
/// notification was lost), with a margin.
const KEY_PROPAGATION: i64 = 60;

/// How long a retired key stays published: its tokens' longest lifetime plus propagation. The
/// servers and `yagona keys list` use this one figure.
pub fn key_retention(settings: &Settings) -> i64 {
    settings.lifetimes.longest_signed_token() + KEY_PROPAGATION
}

fn load_key_ring(store: &Store, kek: &KeyEncryptionKey, settings: &Settings) -> Result<KeyRing, String> {
    let now = now();
    // Whichever node gets here first records the activation of due keys; the ring below picks
    // the due key either way, so nodes agree even before the record.
    if store.activate_due_keys(now).map_err(|e| e.to_string())? > 0 {
        tracing::info!("a scheduled signing key is active now");
    }
    let stored = store.list_signing_keys().map_err(|e| e.to_string())?;
    KeyRing::load(&stored, kek, now, key_retention(settings)).map_err(|e| e.description.into_owned())
}

/// Generates an active key for every algorithm that has none (first start). Safe when several
/// replicas start at once: only one key per algorithm can be active.
pub fn ensure_signing_keys(store: &Store, kek: &KeyEncryptionKey) -> Result<Vec<String>, OAuthError> {
    let have = store.active_key_algs()?;
    let mut created = Vec::new();
    for alg in SigningAlg::ALL {
        if !have.contains(&alg) {
            let key = StoredKey::generate(alg, kek, now())?;
            if store.activate_signing_key(&key, now(), true)? {
                created.push(format!("{} {}", alg.as_str(), key.kid));
            }
        }
    }
    Ok(created)
}

/// The key-encryption key: configured, or (development, or SQLite without one) read from or
/// generated into `data_dir/kek`.
pub fn resolve_kek(settings: &Settings, dev: bool, data_dir: &Path) -> Result<KeyEncryptionKey, String> {
    if let Some(kek) = &settings.encryption_key {
        return Ok(kek.clone());
    }
    let sqlite = settings.database.sqlite_folder().is_some();
    if !dev && !sqlite {
        return Err("configuration key `keys.encryption_key`: required with PostgreSQL \
                    (set YAGONA_KEYS__ENCRYPTION_KEY or YAGONA_KEYS__ENCRYPTION_KEY_FILE; \
                    generate one with `openssl rand -base64 32`)"
            .into());
    }
    let path = data_dir.join("kek");
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        return KeyEncryptionKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let kek = KeyEncryptionKey::generate();
    write_private_file(&path, kek.to_base64())?;
    tracing::warn!(
        path = %path.display(),
        "no key-encryption key configured: generated one beside the database; \
         in production set keys.encryption_key_file and keep the key apart from the data"
    );
    Ok(kek)
}

/// Writes a new file readable by its owner only (0600 from its creation, before any byte of the
/// secret is in it); an existing file is an error.
pub fn write_private_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), String> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    file.write_all(contents.as_ref()).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The configured E-IMZO-server, if any.
/// Its https is verified like other outbound requests (`outbound.ca_file`).
pub fn eimzo_server(
    eds: &crate::config::EdsConfig,
    tls: &ureq::tls::TlsConfig,
) -> Option<Arc<crate::eimzo::EimzoServer>> {
    let url = eds.eimzo_server_url.as_deref().filter(|u| !u.is_empty())?;
    Some(Arc::new(crate::eimzo::EimzoServer::new(url, tls.clone())))
}
