-- Live memberships (issue 11): a grant names the membership it acts under, so every use of the
-- grant can check in the same query that the membership is still live, and ending a membership
-- can revoke exactly its grants. Only grants with scope `legal` carry it (the others release no
-- legal claims). A head's membership keeps its certificate's notBefore: a replacement needs a
-- certificate issued later (unknown for heads linked before this migration: their link time is
-- used instead, see docs/eds.md).
ALTER TABLE grants ADD COLUMN acting_tin TEXT;
ALTER TABLE grants ADD COLUMN acting_role TEXT;
UPDATE grants
SET acting_tin = json_extract(acting_as, '$.tin'), acting_role = json_extract(acting_as, '$.role')
WHERE acting_as IS NOT NULL
  AND json_extract(acting_as, '$.type') = 'legal_entity'
  AND (' ' || scopes || ' ') LIKE '% legal %';
CREATE INDEX grants_acting ON grants (account_id, acting_tin, acting_role) WHERE acting_tin IS NOT NULL;
ALTER TABLE memberships ADD COLUMN certificate_valid_from BIGINT;
