-- The audit trail's hash chain (idp/store/audit_chain.rs, docs/security.md#the-audit-chain).
-- Events are written unsealed (all five columns NULL); the sealer gives each, per tenant and in
-- turn, its place in the tenant's chain (`seq`: 1, 2, 3…), the previous event's hash
-- (`prev_hash`), a fresh random `salt`, the SHA-256 of the salt and the personal fields (user,
-- address, detail: `personal_digest`) and the event's own `hash` over the previous hash, the
-- event and that digest. Erasing an account removes the salt; the chain stays intact.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
ALTER TABLE audit_events ADD COLUMN personal_digest TEXT;
ALTER TABLE audit_events ADD COLUMN salt TEXT;
-- One event per place in a tenant's chain: a second sealer cannot fork it.
CREATE UNIQUE INDEX audit_events_chain ON audit_events (tenant_id, seq);
-- The events the sealer has still to seal, by tenant, oldest first.
CREATE INDEX audit_events_unsealed ON audit_events (tenant_id, id) WHERE seq IS NULL;
