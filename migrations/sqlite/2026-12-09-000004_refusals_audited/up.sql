-- A refusal is audited once, not once per refused request (review round 4): an attacker who
-- repeats a refused request must not add audit events without end under the victim's account.
--
-- login_throttle.refused_block: the blocked_until of the counter's block whose first refused
-- check was audited as login.throttled (idp/store/throttle.rs); NULL before any. A later refusal
-- of the same block finds it equal and is only counted in the metrics.
ALTER TABLE login_throttle ADD COLUMN refused_block TIMESTAMP;
-- mail_limit_events.refused: the row is not a mail but the refusal of a limit that was audited as
-- mail.limited (idp/store/mail_limits.rs), at most one per key within its window; such rows are
-- not counted against the limit.
ALTER TABLE mail_limit_events ADD COLUMN refused BOOLEAN NOT NULL DEFAULT FALSE;
