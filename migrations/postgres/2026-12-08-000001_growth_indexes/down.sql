DROP INDEX sso_sessions_ended;
DROP INDEX audit_events_chain;
CREATE UNIQUE INDEX audit_events_chain ON audit_events (tenant_id, seq);
