DROP INDEX one_time_links_email_lower;
DROP INDEX mail_outbox_to_lower;
