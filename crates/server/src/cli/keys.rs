//! `yagona keys`: signing keys.

use clap::Subcommand;
use yagona_oidc::keys::{SigningAlg, StoredKey};
use yagona_oidc::OidcRepository as _;

use crate::config::Settings;
use crate::serve::{data_dir, open_store};
use crate::state::{now, resolve_kek};

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// List signing keys and whether they are published.
    List,
    /// Measure how many RS256 and ES256 JWT signatures one core makes per second with Yagona's
    /// signing code (the bound `make bench` compares client_credentials with).
    Bench {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Replace the active signing key(s); the old ones stay published until their tokens expire.
    Rotate {
        /// Only this algorithm (RS256 or ES256); default both.
        #[arg(long)]
        alg: Option<String>,
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
    println!("{}", serde_json::Value::Object(result));
    Ok(())
}

pub(super) fn keys_command(settings: &Settings, command: KeysCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        KeysCommand::List => {
            let keep = settings.lifetimes.longest_signed_token();
            let keys = store.list_signing_keys().map_err(|e| e.description.into_owned())?;
            for k in keys {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.kid,
                    k.alg.as_str(),
                    k.state.as_str(),
                    if k.is_published(now(), keep) { "published" } else { "unpublished" }
                );
            }
            Ok(())
        }
        KeysCommand::Bench { seconds } => signing_bench(seconds),
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                Some(a) => {
                    vec![SigningAlg::try_from(a.as_str()).map_err(|e| e.description.into_owned())?]
                }
                None => SigningAlg::ALL.to_vec(),
            };
            let kek = resolve_kek(settings, false, &data_dir(settings))?;
            for alg in algs {
                let key = StoredKey::generate(alg, &kek, now()).map_err(|e| e.description.into_owned())?;
                store.activate_signing_key(&key, now(), false).map_err(|e| e.description.into_owned())?;
                println!(
                    "{} {} active; the previous key stays published until its tokens expire",
                    alg.as_str(),
                    key.kid
                );
            }
            println!("Running servers pick up the new keys within 30 seconds.");
            Ok(())
        }
    }
}
