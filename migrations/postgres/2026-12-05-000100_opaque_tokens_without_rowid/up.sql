-- SQLite only (its opaque_access_tokens becomes a WITHOUT ROWID table). PostgreSQL has no rowid:
-- a heap lookup through the primary key is already one index descent and one heap page.
SELECT 1;
