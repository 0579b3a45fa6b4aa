-- The deletion of an account (GDPR Art. 17). A request ends the account's sessions and grants,
-- disables it and mails the resident a link that undoes it until `erase_at` (the tenant's
-- `[deletion] undo_days` after the request); the expiry clean-up then erases the account's
-- personal data and sets `erased_at`. The `users` row stays as the tombstone that keeps its
-- subject from ever being issued again. A table of its own, not columns of `users`: `users` has
-- 16 columns, as many as diesel's table macro takes without its slower 32-column feature, and
-- only an account being deleted has a row here.
CREATE TABLE account_deletions (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    -- When the grace period ends: the undo link works until then, the erasure is due then.
    erase_at TIMESTAMP NOT NULL,
    -- `users.disabled` before the request, restored by an undo.
    was_disabled BOOLEAN NOT NULL,
    -- `resident` (the account page) or `cli` (`idp users delete`).
    requested_by TEXT NOT NULL,
    erased_at TIMESTAMP
);
-- The clean-up's search for the erasures that are due.
CREATE INDEX account_deletions_due ON account_deletions (erase_at) WHERE erased_at IS NULL;
