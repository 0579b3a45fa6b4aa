-- The sessions not ended, by tenant and creation: the key reload (every node, each minute) reads
-- each tenant's oldest live session, whose ID tokens may still come back as logout hints, and
-- keeps the retired keys that signed since then.
CREATE INDEX sso_sessions_live_created ON sso_sessions (tenant_id, created_at) WHERE ended_at IS NULL;
