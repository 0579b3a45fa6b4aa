-- Every foreign key's column leads an index (tests/integration/schema.rs checks it): deleting a
-- session (the clean-up, an erasure) finds the waiting requests that name it through the index,
-- not by reading the table, which anyone can fill with waiting requests; a recovery removes the
-- user's half-done logins (`second_factors::remove_pending_logins`) the same way; a support's
-- correction of an old account's address voids its links (`links::void_for_legacy`).
CREATE INDEX auth_requests_session ON auth_requests (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX auth_requests_user ON auth_requests (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX one_time_links_legacy ON one_time_links (legacy_account_id)
WHERE legacy_account_id IS NOT NULL;
-- What the clean-up deletes every round, found by index: the counters unused for a day, the
-- expired revocations and assertion ids, and the delivered or given-up mails and logout
-- deliveries past their week (`store/cleanup.rs`).
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);
CREATE INDEX revoked_access_tokens_expires ON revoked_access_tokens (expires_at);
CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis (expires_at);
CREATE INDEX mail_outbox_done ON mail_outbox (created_at) WHERE status <> 'pending';
CREATE INDEX logout_deliveries_done ON logout_deliveries (created_at) WHERE status <> 'pending';
-- The mails to an address: an erasure's, and the export's list of them.
CREATE INDEX mail_outbox_to ON mail_outbox (tenant_id, to_address);
