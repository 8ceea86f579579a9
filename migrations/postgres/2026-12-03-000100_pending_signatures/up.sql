-- Issue 14, item 12 (post/redirect/get): a verified EDS signature waiting for the person's
-- confirmation in the cabinet (registering a certificate, replacing a company's head). The page
-- that asks is a GET naming the row by a random id (only its SHA-256 is stored); the row is bound
-- to the browser (the hash of its CSRF cookie) and to the account, and spent by one conditional
-- DELETE when the person confirms. `signer` is the verified certificate's data (JSON);
-- `replaces` the account of the company head the person was asked to replace: the confirmation
-- replaces that head only, never one who took the company in between.
CREATE TABLE pending_signatures (
    id_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    signer TEXT NOT NULL,
    replaces TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_signatures_account ON pending_signatures (account_id);
