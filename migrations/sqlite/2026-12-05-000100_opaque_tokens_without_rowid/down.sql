CREATE TABLE opaque_access_tokens_rebuilt (
    hash TEXT PRIMARY KEY,
    jti TEXT NOT NULL,
    claims TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    grant_id TEXT
);
INSERT INTO opaque_access_tokens_rebuilt (hash, jti, claims, expires_at, grant_id)
    SELECT hash, jti, claims, expires_at, grant_id FROM opaque_access_tokens;
DROP TABLE opaque_access_tokens;
ALTER TABLE opaque_access_tokens_rebuilt RENAME TO opaque_access_tokens;
CREATE INDEX opaque_access_tokens_expires_at ON opaque_access_tokens (expires_at);
