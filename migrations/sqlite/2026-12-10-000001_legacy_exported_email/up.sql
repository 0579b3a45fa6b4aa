-- The address (trimmed and lowercased) that the export gave an unlinked legacy account at the
-- last import that wrote it; NULL when it gave none. `email` and `email_normalized` are the
-- address in use: the export's, or one support set with `idp legacy set-email`, which a re-import
-- keeps while the export still gives this address (docs/migration.md, "Giving an account an
-- address"). Cleared when the account is linked: no import changes a linked account.
ALTER TABLE legacy_accounts ADD COLUMN exported_email_normalized TEXT;
-- The accounts imported before: their address counts as the export's.
UPDATE legacy_accounts SET exported_email_normalized = email_normalized
WHERE linked_user_id IS NULL;
