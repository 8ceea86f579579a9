-- Issue 16: a person's opaque access token is looked up by its key on every userinfo and
-- introspection call. In a rowid table that is two B-tree descents (the key's automatic index,
-- then the row by rowid); WITHOUT ROWID keeps the row in its key's B-tree: one descent, and the
-- rows sit in key order, which is issue order (`secrets::hash_token`), so the live tokens share
-- the newest pages. At 1 M people the per-person userinfo and introspection served 2.3 to 2.6
-- times the requests per second (docs/performance.md, "Sixth session"). Nothing references this
-- table, so it is rebuilt in place: at 1 M people (2 M rows) 9.6 s inside the migration's
-- transaction, during which the database takes no writes.
CREATE TABLE opaque_access_tokens_rebuilt (
    hash TEXT PRIMARY KEY NOT NULL,
    jti TEXT NOT NULL,
    claims TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    grant_id TEXT
) WITHOUT ROWID;
INSERT INTO opaque_access_tokens_rebuilt (hash, jti, claims, expires_at, grant_id)
    SELECT hash, jti, claims, expires_at, grant_id FROM opaque_access_tokens ORDER BY hash;
DROP TABLE opaque_access_tokens;
ALTER TABLE opaque_access_tokens_rebuilt RENAME TO opaque_access_tokens;
CREATE INDEX opaque_access_tokens_expires_at ON opaque_access_tokens (expires_at);
