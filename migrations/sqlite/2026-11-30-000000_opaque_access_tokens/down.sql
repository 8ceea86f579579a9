DROP TABLE opaque_access_tokens;
ALTER TABLE clients DROP COLUMN access_token_format;
