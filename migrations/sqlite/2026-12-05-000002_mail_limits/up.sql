-- Mail that an unauthenticated request can cause, counted per recipient and per client address
-- (one row per limit a mail counted against), so that the limits hold across nodes.
CREATE TABLE mail_limit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    limit_key TEXT NOT NULL,             -- SHA-256 of "to:<address>" or "client:<address>"
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX mail_limit_events_key_time ON mail_limit_events (tenant_id, limit_key, occurred_at);
CREATE INDEX mail_limit_events_time ON mail_limit_events (occurred_at);
