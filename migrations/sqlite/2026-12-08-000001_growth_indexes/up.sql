-- Indexes that keep three statements flat as the tables grow (issue 17, point 5;
-- measured with scripts/bench/populate.py at 1,000,000 residents and 10 million audit events).
--
-- The sealer (idp/store/audit_chain.rs, every 5 seconds) first asks which tenants have unsealed
-- events (`WHERE seq IS NULL AND tenant_id IS NOT NULL`). SQLite answered it from the full
-- index of the chain, which also holds the NULL places, by reading all of it: a quarter of a
-- second of CPU per round at 10 million events, with the writers' turn held. The chain's index
-- now holds only the sealed events (the same uniqueness: NULLs never collided), so that the
-- question goes to audit_events_unsealed, which holds only what is left to seal.
DROP INDEX audit_events_chain;
CREATE UNIQUE INDEX audit_events_chain ON audit_events (tenant_id, seq) WHERE seq IS NOT NULL;
-- The expiry clean-up (idp/store/cleanup.rs) deletes the sessions that expired or ended more
-- than a day ago: without an index on ended_at, SQLite read the whole table every round. Only
-- ended sessions are indexed.
CREATE INDEX sso_sessions_ended ON sso_sessions (ended_at) WHERE ended_at IS NOT NULL;
-- The identifier step of every login by address looks for the old accounts still unbound at the
-- address, by username (idp/store/legacy.rs, `unlinked_by_email`). To return them in that order
-- SQLite walked legacy_tenant_username over every old account of the tenant (70 ms of CPU per
-- login with 350,000 of them) instead of sorting the one or two of the address: with the
-- username in the address index, one index gives both the rows and their order.
DROP INDEX legacy_tenant_email;
CREATE INDEX legacy_tenant_email ON legacy_accounts (tenant_id, email_normalized, username_normalized);
