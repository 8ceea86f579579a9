DROP TABLE recovery_tokens;
DROP TABLE verified_emails;
ALTER TABLE sessions DROP COLUMN user_agent;
