-- Throttle counters name their tenant in a column of their own, so that a counter of one tenant is
-- never read at another (the store filters by it), and count password checks before they run.
-- Counters live for minutes: the old ones are dropped rather than converted.
DROP TABLE login_throttle;
CREATE TABLE login_throttle (
    tenant_id TEXT NOT NULL,
    throttle_key TEXT NOT NULL,
    failures BIGINT NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, throttle_key)
);
