DROP INDEX mail_outbox_user;
ALTER TABLE mail_outbox DROP COLUMN user_id;
