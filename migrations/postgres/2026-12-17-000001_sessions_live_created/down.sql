DROP INDEX sso_sessions_live_created;
