DROP INDEX legacy_tenant_email;
CREATE INDEX legacy_tenant_email ON legacy_accounts (tenant_id, email_normalized);
DROP INDEX sso_sessions_ended;
DROP INDEX audit_events_chain;
CREATE UNIQUE INDEX audit_events_chain ON audit_events (tenant_id, seq);
