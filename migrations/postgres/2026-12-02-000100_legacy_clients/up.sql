-- The legacy OneID API (issue 13): only clients an operator marks legacy may use
-- /sso/oauth/Authorization.do.
ALTER TABLE clients ADD COLUMN legacy BOOLEAN NOT NULL DEFAULT FALSE;
