-- A passport number names one person: unique among accounts (issue 11, item 3). Databases from
-- before this rule may hold the same number on several accounts: the earliest registered keeps
-- it, the later ones lose it (nothing proved any of them; docs/architecture.md, "Passport
-- numbers").
UPDATE accounts SET passport_number = NULL
WHERE passport_number IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM accounts AS earlier
    WHERE earlier.passport_number = accounts.passport_number
      AND (earlier.created_at < accounts.created_at
           OR (earlier.created_at = accounts.created_at AND earlier.id < accounts.id))
  );
CREATE UNIQUE INDEX accounts_passport_number_unique ON accounts (passport_number)
  WHERE passport_number IS NOT NULL;
