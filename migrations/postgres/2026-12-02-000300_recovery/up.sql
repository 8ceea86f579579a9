-- Issue 14, items 13 and 15: the browser a session was started from (shown as browser and device
-- in the cabinet), e-mail addresses their owner proved by a link, and one-time recovery links.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;

-- An address is verified while the account's e-mail is still this address.
CREATE TABLE verified_emails (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    verified_at BIGINT NOT NULL
);

-- One-time links sent by e-mail: `verify_email` (proves the address) and `reset_password`.
-- Only the SHA-256 of the link's secret is stored; a link is spent by deleting its row.
CREATE TABLE recovery_tokens (
    hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX recovery_tokens_account ON recovery_tokens (account_id);
