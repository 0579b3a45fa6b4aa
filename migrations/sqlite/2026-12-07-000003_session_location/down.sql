ALTER TABLE sso_sessions DROP COLUMN location;
