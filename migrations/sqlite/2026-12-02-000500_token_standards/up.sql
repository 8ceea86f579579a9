-- Issue 15, items 5-10: the token standards.
-- The client metadata of these standards lives in clients.metadata (JSON, under the registration
-- names of RFC 7591 and its extensions: dpop_bound_access_tokens, ...), with the rest of what no
-- query filters by.

-- DPoP (RFC 9449): proofs seen, by hash of key thumbprint and jti, until they are too old to be
-- accepted anyway; a second insert of one is a replay.
CREATE TABLE dpop_proofs (
    key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);

-- Back-channel logout: the outbox. One row per client to notify of a session's end, written in
-- the transaction that ends the session; the workers of every node deliver it with retries.
CREATE TABLE backchannel_logouts (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at);

-- DPoP: the key a public client's grant (its refresh token family) is bound to.
CREATE TABLE grant_dpop_keys (
    grant_id TEXT PRIMARY KEY REFERENCES grants (id) ON DELETE CASCADE,
    jkt TEXT NOT NULL
);
