-- Issue 16: a person's opaque access token keeps only what it adds to its grant (issued at,
-- scope, resource, DPoP key: `claims` holds that part) and the grant id here; the rest of its
-- claims are read from the grant. NULL: a client's own token, or one stored before this, whose
-- `claims` are whole. Nullable, so adding it changes only the catalogue on a large table.
-- The lock it takes for that moment must not queue every token request behind a long
-- transaction: fail instead, and the next start retries (docs/operations.md).
SET LOCAL lock_timeout = '5s';
ALTER TABLE opaque_access_tokens ADD COLUMN grant_id TEXT;
