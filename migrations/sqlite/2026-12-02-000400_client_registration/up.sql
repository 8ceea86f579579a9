-- Issue 15, items 1-4: how a client authenticates (RFC 7591 token_endpoint_auth_method), its
-- secret sealed under the key-encryption key when it signs assertions with it
-- (client_secret_jwt), the hash of its RFC 7592 registration access token, and its other metadata. Existing clients keep what they did: a secret in the
-- Basic header or the body, or none for public clients.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
UPDATE clients SET token_endpoint_auth_method = 'none' WHERE secret_hash IS NULL;
-- The secret of a client_secret_jwt client, sealed under the key-encryption key: `kek_id:base64`.
ALTER TABLE clients ADD COLUMN sealed_secret TEXT;
ALTER TABLE clients ADD COLUMN registration_access_token_hash TEXT;
-- The rest of the registered metadata (RFC 7591 2) that no query filters by, as JSON: keys
-- (jwks or jwks_uri), PAR and JAR requirements, descriptive fields. A field added later needs
-- no migration.
ALTER TABLE clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

-- Client assertions seen (RFC 7523 3: jti single use), by SHA-256 of client id and jti, kept
-- until the assertion expires.
CREATE TABLE client_assertion_jtis (
    hash TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Pushed authorization requests (RFC 9126), by SHA-256 of the request_uri's random part.
CREATE TABLE pushed_authorization_requests (
    hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    parameters TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Initial access tokens for dynamic client registration (RFC 7591 3), by SHA-256.
CREATE TABLE registration_tokens (
    hash TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    uses_left BIGINT
);
