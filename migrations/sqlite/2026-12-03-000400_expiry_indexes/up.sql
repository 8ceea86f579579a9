-- The purge deletes by expiry in batches (crates/store/src/oidc/purge.rs); these indexes let each
-- batch find its rows without reading the table. authorization_codes (grant_id) serves the
-- ON DELETE CASCADE from an expired grant.
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX grants_expires_at ON grants (expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX interactions_expires_at ON interactions (expires_at);
CREATE INDEX eds_challenges_expires_at ON eds_challenges (expires_at);
CREATE INDEX registrations_expires_at ON registrations (expires_at);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
CREATE INDEX pushed_authorization_requests_expires_at ON pushed_authorization_requests (expires_at);
CREATE INDEX registration_tokens_expires_at ON registration_tokens (expires_at);
CREATE INDEX throttle_counters_last_attempt ON throttle_counters (last_attempt);
CREATE INDEX pending_signatures_expires_at ON pending_signatures (expires_at);
CREATE INDEX recovery_tokens_expires_at ON recovery_tokens (expires_at);
