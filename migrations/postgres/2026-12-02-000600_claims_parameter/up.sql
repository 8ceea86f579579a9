-- Issue 15, item 10 (RFC 8707 2.2): the resources named at /authorize, remembered with the grant
-- (a JSON array of URIs), so that a token request of the grant may name only those.
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
