ALTER TABLE sso_sessions DROP COLUMN user_agent;
