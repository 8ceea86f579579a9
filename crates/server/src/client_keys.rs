//! Clients' public keys: registered inline (`jwks`) or fetched from their `jwks_uri`.
//!
//! Fetched sets are kept for [`JWKS_CACHE_TTL`]; a JWT naming a `kid` the cached set lacks makes
//! them be fetched again (the client may have rotated its keys), at most once per
//! [`REFETCH_COOLDOWN`] per URI, so that a stream of JWTs with unknown kids cannot turn Yagona
//! into a load on the client's server.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use yagona_oidc::assertion::parse_jwks;
use yagona_oidc::{Client, ClientKeys, OAuthError};

pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: u64 = 64 * 1024;

struct Fetched {
    at: Instant,
    /// When an unknown `kid` last made the set be fetched again.
    refetched_at: Option<Instant>,
    keys: Arc<JwkSet>,
}

pub struct ClientKeyStore {
    agent: ureq::Agent,
    fetched: Mutex<HashMap<String, Fetched>>,
}

impl ClientKeyStore {
    /// Fetches under the server's outbound policy (`crate::outbound`).
    pub fn new(policy: &crate::outbound::OutboundPolicy) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .max_redirects(0);
        Self { agent: policy.agent(config), fetched: Mutex::new(HashMap::new()) }
    }
}

/// Whether the keys are the ones just fetched (then an unknown `kid` is final).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Cached,
    Fresh,
}

impl ClientKeyStore {
    /// The client's keys; `refresh` asks for a new fetch of a `jwks_uri` (honoured once the
    /// cooldown has passed). Clients without keys get an `invalid_client` error.
    pub fn keys(&self, client: &Client, refresh: bool) -> Result<(Arc<JwkSet>, Freshness), OAuthError> {
        match &client.keys {
            ClientKeys::None => Err(OAuthError::invalid_client("the client has registered no keys")),
            ClientKeys::Jwks(text) => {
                let keys = parse_jwks(text, "the registered jwks").map_err(OAuthError::server_error)?;
                Ok((Arc::new(keys), Freshness::Fresh))
            }
            ClientKeys::JwksUri(uri) => self.fetched_keys(uri, refresh),
        }
    }

    fn fetched_keys(&self, uri: &str, refresh: bool) -> Result<(Arc<JwkSet>, Freshness), OAuthError> {
        let now = Instant::now();
        let mut refetched_at = refresh.then_some(now);
        if let Ok(fetched) = self.fetched.lock() {
            if let Some(f) = fetched.get(uri) {
                let fresh_enough = now.saturating_duration_since(f.at) < JWKS_CACHE_TTL;
                let cooling = f.refetched_at.is_some_and(|at| now.saturating_duration_since(at) < REFETCH_COOLDOWN);
                if fresh_enough && (!refresh || cooling) {
                    return Ok((f.keys.clone(), Freshness::Cached));
                }
                refetched_at = refetched_at.or(f.refetched_at);
            }
        }
        let keys = Arc::new(self.fetch(uri)?);
        if let Ok(mut fetched) = self.fetched.lock() {
            fetched.insert(uri.to_owned(), Fetched { at: now, refetched_at, keys: keys.clone() });
        }
        Ok((keys, Freshness::Fresh))
    }

    fn fetch(&self, uri: &str) -> Result<JwkSet, OAuthError> {
        let failed = |why: String| {
            tracing::warn!(jwks_uri = %uri, %why, "fetching a client's keys failed");
            OAuthError::invalid_client(format!("the client's jwks_uri could not be used: {why}"))
        };
        let response = self.agent.get(uri).call().map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("it answered {}", response.status())));
        }
        let mut body = String::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_JWKS_BYTES)
            .read_to_string(&mut body)
            .map_err(|e| failed(e.to_string()))?;
        parse_jwks(&body, "the JWK Set at jwks_uri").map_err(failed)
    }
}
