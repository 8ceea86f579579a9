//! `yagona keys`: signing keys.

use clap::Subcommand;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_oidc::keys::{SigningAlg, StoredKey};
use yagona_oidc::OidcRepository as _;

use crate::config::Settings;
use crate::serve::{data_dir, open_store};
use crate::state::{now, resolve_kek};

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// List signing keys: kid, alg, state (next, active, retired), published or not, and when
    /// the key signs (RFC 3339).
    List,
    /// Measure how many JWT signatures one core makes per second with Yagona's signing code, for
    /// each algorithm (RS256 is the bound `make bench` compares client_credentials with).
    Bench {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Rotate the signing key(s), publish before use: the new key is published at once and
    /// signs from `keys.publish_delay` seconds on (every node switches by itself); the old key
    /// stays published until its tokens expire.
    Rotate {
        /// Only this algorithm (RS256, ES256, PS256 or EdDSA); default every one.
        #[arg(long)]
        alg: Option<String>,
        /// Sign with the new key at once (a compromised key): relying parties that cached the
        /// JWKS refuse new tokens until their cache expires (up to 5 minutes).
        #[arg(long)]
        now: bool,
    },
}

pub(super) fn signing_bench(seconds: f64) -> Result<(), String> {
    use yagona_oidc::keys::{KeyEncryptionKey, KeyRing};
    let kek = KeyEncryptionKey::generate();
    let keys = SigningAlg::ALL
        .iter()
        .map(|alg| StoredKey::generate(*alg, &kek, now()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.description.into_owned())?;
    let ring = KeyRing::load(&keys, &kek, now(), 600).map_err(|e| e.description.into_owned())?;
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "sub": "bench", "aud": "bench", "client_id": "bench",
        "exp": now() + 600, "iat": now(), "jti": "0123456789abcdef0123456789", "scope": "",
    });
    let mut result = serde_json::Map::new();
    for alg in SigningAlg::ALL {
        let window = std::time::Duration::from_secs_f64(seconds);
        let started = std::time::Instant::now();
        let mut n: u64 = 0;
        while started.elapsed() < window {
            ring.sign(alg, "at+jwt", &claims).map_err(|e| e.description.into_owned())?;
            n += 1;
        }
        result.insert(
            format!("{}_per_s", alg.as_str().to_lowercase()),
            (n as f64 / started.elapsed().as_secs_f64()).into(),
        );
    }
    out!("{}", serde_json::Value::Object(result));
    Ok(())
}

pub(super) fn keys_command(settings: &Settings, command: KeysCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        KeysCommand::List => {
            let keep = crate::state::key_retention(settings);
            let keys = store.list_signing_keys().map_err(|e| e.description.into_owned())?;
            for k in keys {
                out!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.kid,
                    k.alg.as_str(),
                    k.state.as_str(),
                    if k.is_published(now(), keep) { "published" } else { "unpublished" },
                    crate::trust::rfc3339(k.activates_at)
                );
            }
            Ok(())
        }
        KeysCommand::Bench { seconds } => signing_bench(seconds),
        KeysCommand::Rotate { alg, now: at_once } => {
            let algs = match alg {
                Some(a) => {
                    vec![SigningAlg::try_from(a.as_str()).map_err(|e| e.description.into_owned())?]
                }
                None => SigningAlg::ALL.to_vec(),
            };
            let kek = resolve_kek(settings, false, &data_dir(settings))?;
            let text = |e: yagona_oidc::OAuthError| e.description.into_owned();
            for alg in algs {
                let key = StoredKey::generate(alg, &kek, now()).map_err(text)?;
                let signs_from = if at_once { now() } else { now() + settings.key_publish_delay };
                let detail = serde_json::json!({
                    "kid": key.kid, "alg": alg.as_str(), "signs_from": crate::trust::rfc3339(signs_from), "at_once": at_once,
                });
                if at_once {
                    store.activate_signing_key(&key, now(), false).map_err(text)?;
                    crate::audit_log::record(&store, AuditEvent::new(AuditKind::KeyRotated, now(), detail.clone()));
                    out!(
                        "{} {} active now; the previous key stays published until its tokens expire",
                        alg.as_str(),
                        key.kid
                    );
                } else {
                    let activates_at = now() + settings.key_publish_delay;
                    let key = key.scheduled(activates_at);
                    if !store.schedule_signing_key(&key).map_err(text)? {
                        return Err(format!(
                            "a new {} key is already scheduled (yagona keys list); use --now to replace the key at once",
                            alg.as_str()
                        ));
                    }
                    crate::audit_log::record(&store, AuditEvent::new(AuditKind::KeyRotated, now(), detail.clone()));
                    out!(
                        "{} {} published now, signs from {}; the previous key stays published until its tokens expire",
                        alg.as_str(),
                        key.kid,
                        crate::trust::rfc3339(activates_at)
                    );
                }
            }
            // Every node loads the keys at once (PostgreSQL), else at its next 30-second poll.
            if let Err(e) = store.notify_key_change() {
                tracing::warn!(detail = %e, "telling the running servers failed; they pick the keys up within 30 seconds");
            }
            Ok(())
        }
    }
}
