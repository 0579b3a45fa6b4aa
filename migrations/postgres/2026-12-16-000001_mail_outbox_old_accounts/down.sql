ALTER TABLE mail_outbox DROP COLUMN legacy_account_ids;
