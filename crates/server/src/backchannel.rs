//! Delivers back-channel logout notifications (OpenID Connect Back-Channel Logout 1.0) from the
//! outbox the store fills when sessions end (`yagona_oidc::logout`). Runs on every node; the
//! store's claim makes each attempt one node's. The person's logout never waits for it.
//!
//! Anything that ends a session through the store (`end_session`, `end_sessions_of`,
//! `end_session_by_sid`, disabling an account, the purge of expired sessions) records the
//! notifications in its own transaction: callers (the legacy OneID logout included) need do
//! nothing more.

use std::time::Duration;

use actix_web::web;
use yagona_oidc::logout::{next_attempt_at, PendingLogout, MAX_ATTEMPTS};
use yagona_oidc::{ClientId, OAuthError, OidcRepository as _};

use crate::state::{now, AppState};

/// Notifications handled per round (one round a second).
const BATCH: i64 = 20;

/// Every second: sends the notifications that are due.
pub async fn deliver_logouts(state: web::Data<AppState>) {
    let agent = state.settings.outbound.agent(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .max_redirects(0),
    );
    let mut tick = actix_web::rt::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let s = state.clone();
        let agent = agent.clone();
        match web::block(move || deliver_due(&s, &agent)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(detail = %e, "back-channel logout delivery failed"),
            Err(e) => tracing::error!(detail = %e, "back-channel logout task failed"),
        }
    }
}

fn deliver_due(s: &AppState, agent: &ureq::Agent) -> Result<(), OAuthError> {
    let now = now();
    for pending in s.store.due_backchannel_logouts(now, BATCH)? {
        let Some(next) = next_attempt_at(pending.attempts, now) else {
            tracing::warn!(client_id = %pending.client_id, attempts = MAX_ATTEMPTS, "back-channel logout given up");
            s.store.finish_backchannel_logout(&pending.id)?;
            continue;
        };
        if !s.store.claim_backchannel_logout(&pending, next)? {
            continue; // another node has it
        }
        if deliver(s, agent, &pending, now)? {
            s.store.finish_backchannel_logout(&pending.id)?;
        }
    }
    Ok(())
}

/// One attempt: `true` when it is done with (delivered, or its client is gone or no longer
/// wants notifications).
fn deliver(s: &AppState, agent: &ureq::Agent, pending: &PendingLogout, now: i64) -> Result<bool, OAuthError> {
    let client = match ClientId::try_from(pending.client_id.as_str()) {
        Ok(id) => s.store.find_client(&id)?,
        Err(_) => None,
    };
    let Some((client, uri)) = client.and_then(|c| c.token_metadata.backchannel_logout_uri.clone().map(|uri| (c, uri)))
    else {
        return Ok(true);
    };
    let token = s.with_issuer(|i| i.logout_token(&client, &pending.account_id, &pending.sid, now))?;
    match agent.post(&uri).send_form([("logout_token", token.as_str())]) {
        Ok(response) if response.status().is_success() => {
            tracing::info!(client_id = %client.id, "back-channel logout delivered");
            Ok(true)
        }
        Ok(response) => {
            let status = response.status().as_u16();
            tracing::warn!(client_id = %client.id, status, attempt = pending.attempts + 1, "back-channel logout refused");
            Ok(false)
        }
        Err(e) => {
            tracing::warn!(client_id = %client.id, error = %e, attempt = pending.attempts + 1, "back-channel logout not delivered");
            Ok(false)
        }
    }
}
