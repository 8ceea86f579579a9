//! The check of a pairwise client's `sector_identifier_uri` (OIDC Core 8.1): the document it
//! names is fetched and must list every redirect URI of the client. `yagona client add` and
//! dynamic registration both call it before storing a client, so both make the same clients.

use std::time::Duration;

use yagona_oidc::{Client, ErrorCode, OAuthError};

/// Fetches the client's `sector_identifier_uri`, if it has one, and checks it lists every
/// redirect URI. The URI's form was checked by `client_metadata::register`.
pub fn check_sector_identifier(client: &Client) -> Result<(), OAuthError> {
    let Some(uri) = &client.token_metadata.sector_identifier_uri else {
        return Ok(());
    };
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let document = agent.get(uri).call().and_then(|mut r| r.body_mut().read_to_string()).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidClientMetadata, format!("sector_identifier_uri: fetching {uri}: {e}"))
    })?;
    yagona_oidc::subject::check_sector_document(client, &document).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidClientMetadata, format!("sector_identifier_uri: {}", e.description))
    })
}
