-- A login's check against recovery (docs/security.md, "A login checked before a recovery does not
-- finish after it"). `epoch` counts the times everything the account held was ended
-- (`flows::oidc::logout::end_everything`: a password reset, "sign out everywhere", the undo of a
-- change of address, support's reset of the second factor, a deletion). A password login reads
-- it when it reads the account, before the password is hashed, and starts its session only if it
-- is still the same (and the password hash too) in the transaction that starts it; so a login
-- checked before a recovery cannot finish after it. No row: 0. A counter rather than a time: the
-- nodes' clocks need not agree, and two changes within one clock tick still differ.
-- A table of its own, not a column of `users`: `users` has 16 columns, as many as diesel's table
-- macro takes without its slower 32-column feature.
CREATE TABLE account_epochs (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    epoch BIGINT NOT NULL
);
