-- The purge deletes by expiry in batches (crates/store/src/oidc/purge.rs); these indexes let each
-- batch find its rows without reading the table. authorization_codes (grant_id) serves the
-- ON DELETE CASCADE from an expired grant. Built CONCURRENTLY, outside a transaction
-- (metadata.toml), so writers keep going on a large table; each statement runs on its own
-- (crates/store/src/migrations.rs). A build that failed half-way leaves an INVALID index: it is
-- dropped and built again when the migration is retried.
DROP INDEX CONCURRENTLY IF EXISTS authorization_codes_expires_at;
CREATE INDEX CONCURRENTLY authorization_codes_expires_at ON authorization_codes (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS authorization_codes_grant;
CREATE INDEX CONCURRENTLY authorization_codes_grant ON authorization_codes (grant_id);
DROP INDEX CONCURRENTLY IF EXISTS refresh_tokens_expires_at;
CREATE INDEX CONCURRENTLY refresh_tokens_expires_at ON refresh_tokens (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS grants_expires_at;
CREATE INDEX CONCURRENTLY grants_expires_at ON grants (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS sessions_expires_at;
CREATE INDEX CONCURRENTLY sessions_expires_at ON sessions (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS interactions_expires_at;
CREATE INDEX CONCURRENTLY interactions_expires_at ON interactions (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS eds_challenges_expires_at;
CREATE INDEX CONCURRENTLY eds_challenges_expires_at ON eds_challenges (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS registrations_expires_at;
CREATE INDEX CONCURRENTLY registrations_expires_at ON registrations (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS revoked_access_tokens_expires_at;
CREATE INDEX CONCURRENTLY revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS client_assertion_jtis_expires_at;
CREATE INDEX CONCURRENTLY client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS pushed_authorization_requests_expires_at;
CREATE INDEX CONCURRENTLY pushed_authorization_requests_expires_at ON pushed_authorization_requests (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS registration_tokens_expires_at;
CREATE INDEX CONCURRENTLY registration_tokens_expires_at ON registration_tokens (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS throttle_counters_last_attempt;
CREATE INDEX CONCURRENTLY throttle_counters_last_attempt ON throttle_counters (last_attempt);
DROP INDEX CONCURRENTLY IF EXISTS pending_signatures_expires_at;
CREATE INDEX CONCURRENTLY pending_signatures_expires_at ON pending_signatures (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS recovery_tokens_expires_at;
CREATE INDEX CONCURRENTLY recovery_tokens_expires_at ON recovery_tokens (expires_at);
