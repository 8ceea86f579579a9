ALTER TABLE memberships DROP COLUMN certificate_valid_from;
DROP INDEX grants_acting;
ALTER TABLE grants DROP COLUMN acting_role;
ALTER TABLE grants DROP COLUMN acting_tin;
