//! The check of a pairwise client's `sector_identifier_uri` (OIDC Core 8.1): the document it
//! names is fetched and must list every redirect URI of the client. `yagona client add` and
//! dynamic registration both call it before storing a client, so both make the same clients.

use std::time::Duration;

use yagona_oidc::{Client, ErrorCode, OAuthError};

use crate::outbound::OutboundPolicy;

/// Fetches the client's `sector_identifier_uri`, if it has one, and checks it lists every
/// redirect URI. The URI's form was checked by `client_metadata::register`.
/// Before that, every URL of the client that Yagona will fetch must be allowed by the outbound
/// policy (`crate::outbound`).
pub fn check_sector_identifier(policy: &OutboundPolicy, client: &Client) -> Result<(), OAuthError> {
    crate::outbound::check_client_urls(policy, client)?;
    let Some(uri) = &client.token_metadata.sector_identifier_uri else {
        return Ok(());
    };
    let agent =
        policy.agent(ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).max_redirects(0));
    let document = agent.get(uri).call().and_then(|mut r| r.body_mut().read_to_string()).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidClientMetadata, format!("sector_identifier_uri: fetching {uri}: {e}"))
    })?;
    yagona_oidc::subject::check_sector_document(client, &document).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidClientMetadata, format!("sector_identifier_uri: {}", e.description))
    })
}
