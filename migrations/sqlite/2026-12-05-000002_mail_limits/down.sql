DROP TABLE mail_limit_events;
