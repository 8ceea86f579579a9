-- Publish before use (issue 12): a key rotated in is `next` until `activates_at`; keys that exist
-- already were active from their creation.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;
