ALTER TABLE legacy_accounts DROP COLUMN exported_email_normalized;
