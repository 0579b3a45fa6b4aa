DELETE FROM mail_limit_events WHERE refused;
ALTER TABLE mail_limit_events DROP COLUMN refused;
ALTER TABLE login_throttle DROP COLUMN refused_block;
