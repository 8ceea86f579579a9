ALTER TABLE grants DROP COLUMN resources;
