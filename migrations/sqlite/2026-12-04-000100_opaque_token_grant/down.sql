ALTER TABLE opaque_access_tokens DROP COLUMN grant_id;
