DROP INDEX audit_events_unsealed;
DROP INDEX audit_events_chain;
ALTER TABLE audit_events DROP COLUMN salt;
ALTER TABLE audit_events DROP COLUMN personal_digest;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
ALTER TABLE audit_events DROP COLUMN seq;
