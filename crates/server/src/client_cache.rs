//! Registered clients, kept for a second after they are read.
//!
//! Every token, introspection and revocation request authenticates its client; without a cache
//! that is one more database round trip per request, the only one a `client_credentials` grant
//! would make. Clients change rarely and from the CLI (another process), so entries expire after
//! [`CLIENT_CACHE_TTL`] instead of being invalidated: a removed client, or a changed secret or
//! redirect URI, takes effect within a second. Unknown ids are not cached, so the cache cannot be
//! grown by guessing ids; it is also bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use yagona_oidc::{Client, ClientId, OAuthError, OidcRepository};

pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<ClientId, (Instant, Client)>>,
}

impl ClientCache {
    /// Drops `id` from this node's cache (a client changed or removed by a request here; other
    /// nodes see it within [`CLIENT_CACHE_TTL`]).
    pub fn forget(&self, id: &ClientId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }

    /// The client `id`, from the cache when read less than [`CLIENT_CACHE_TTL`] ago, else from
    /// `store`.
    pub fn find(&self, store: &impl OidcRepository, id: &ClientId) -> Result<Option<Client>, OAuthError> {
        let now = Instant::now();
        if let Ok(entries) = self.entries.lock() {
            if let Some((read_at, client)) = entries.get(id) {
                if now.saturating_duration_since(*read_at) < CLIENT_CACHE_TTL {
                    return Ok(Some(client.clone()));
                }
            }
        }
        let found = store.find_client(id)?;
        if let Ok(mut entries) = self.entries.lock() {
            match &found {
                Some(client) => {
                    if entries.len() >= MAX_ENTRIES {
                        entries.retain(|_, (read_at, _)| now.saturating_duration_since(*read_at) < CLIENT_CACHE_TTL);
                    }
                    if entries.len() < MAX_ENTRIES {
                        entries.insert(id.clone(), (now, client.clone()));
                    }
                }
                None => {
                    entries.remove(id);
                }
            }
        }
        Ok(found)
    }
}
