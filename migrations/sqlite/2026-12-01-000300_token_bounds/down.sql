ALTER TABLE clients DROP COLUMN scopes;
