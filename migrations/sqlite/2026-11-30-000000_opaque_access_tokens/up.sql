-- Access tokens as opaque handles, for clients registered with access_token_format = 'opaque'
-- (the default, 'jwt', keeps RFC 9068 JWT access tokens). The token is stored as its SHA-256;
-- its claims are the ones a JWT would carry, as JSON. Revocation goes by jti, as for JWTs.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'jwt';

CREATE TABLE opaque_access_tokens (
    hash TEXT PRIMARY KEY,
    jti TEXT NOT NULL,
    claims TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX opaque_access_tokens_expires_at ON opaque_access_tokens (expires_at);
