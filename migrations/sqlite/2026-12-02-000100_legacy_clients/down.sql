ALTER TABLE clients DROP COLUMN legacy;
