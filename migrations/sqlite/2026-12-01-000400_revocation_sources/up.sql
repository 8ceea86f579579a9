-- The record of each configured CRL source's loads by the servers, for `yagona pki status`:
-- the last successful load (what the list said, when it was read) and the last failure.
CREATE TABLE revocation_sources (
    source TEXT PRIMARY KEY,
    issuer TEXT,
    this_update BIGINT,
    next_update BIGINT,
    revoked BIGINT,
    loaded_at BIGINT,
    failed_at BIGINT,
    error TEXT
);
