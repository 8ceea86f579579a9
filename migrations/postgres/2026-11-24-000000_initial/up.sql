-- Yagona's initial schema. Times are unix seconds (BIGINT); secrets are stored as hashes.
-- Keep in step with migrations/sqlite (a test compares the two).

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    pinfl TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    surname TEXT NOT NULL,
    first_name TEXT NOT NULL,
    middle_name TEXT,
    birth_date TEXT NOT NULL,
    passport_number TEXT,
    email TEXT,
    phone TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    first_party BOOLEAN NOT NULL,
    id_token_signing_alg TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    sealed_private_key BYTEA NOT NULL,
    kek_id TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
-- At most one active key per algorithm, whatever races.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    address TEXT NOT NULL,
    acting_as TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE interactions (
    id_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    login_done BOOLEAN NOT NULL,
    consent_done BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE consents (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    sid TEXT NOT NULL,
    scopes TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    acting_as TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_sid ON grants (sid);

CREATE TABLE authorization_codes (
    hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    nonce TEXT,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);

CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE login_failures (
    key TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    id TEXT PRIMARY KEY
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);

-- The registration wizard's state between steps (the draft is JSON).
CREATE TABLE registrations (
    id_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    draft TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Successful logins, for the person's history.
CREATE TABLE login_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    method TEXT NOT NULL,
    client_id TEXT,
    address TEXT NOT NULL
);
CREATE INDEX login_events_account ON login_events (account_id, at);

-- EDS certificates bound to accounts (user guide step 7). A certificate is bound to one account.
CREATE TABLE certificates (
    serial TEXT NOT NULL,
    issuer TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    pinfl TEXT NOT NULL,
    common_name TEXT NOT NULL,
    valid_to BIGINT NOT NULL,
    bound_at BIGINT NOT NULL,
    PRIMARY KEY (serial, issuer)
);
CREATE INDEX certificates_account ON certificates (account_id);

-- Single-use EDS challenges (hash only), bound to the browser that asked for them.
CREATE TABLE eds_challenges (
    hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Legal entities linked by their heads (user guide step 8), people's roles in them, and the
-- record of every change.
CREATE TABLE legal_entities (
    tin TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    short_name TEXT NOT NULL,
    linked_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    tin TEXT NOT NULL REFERENCES legal_entities (tin) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    title TEXT,
    granted_by TEXT,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT,
    ended_at BIGINT,
    PRIMARY KEY (tin, account_id, role)
);
CREATE INDEX memberships_account ON memberships (account_id);

CREATE TABLE membership_events (
    id TEXT PRIMARY KEY,
    tin TEXT NOT NULL,
    account_id TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    by_account TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX membership_events_tin ON membership_events (tin, at);
