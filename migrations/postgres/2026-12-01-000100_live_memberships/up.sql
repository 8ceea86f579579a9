-- Live memberships (issue 11): see the SQLite migration of the same name.
ALTER TABLE grants ADD COLUMN acting_tin TEXT, ADD COLUMN acting_role TEXT;
UPDATE grants
SET acting_tin = acting_as::jsonb ->> 'tin', acting_role = acting_as::jsonb ->> 'role'
WHERE acting_as IS NOT NULL
  AND acting_as::jsonb ->> 'type' = 'legal_entity'
  AND (' ' || scopes || ' ') LIKE '% legal %';
CREATE INDEX grants_acting ON grants (account_id, acting_tin, acting_role) WHERE acting_tin IS NOT NULL;
ALTER TABLE memberships ADD COLUMN certificate_valid_from BIGINT;
