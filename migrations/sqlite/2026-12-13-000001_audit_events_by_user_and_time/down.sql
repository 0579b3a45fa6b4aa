DROP INDEX audit_events_user_time;
CREATE INDEX audit_events_user ON audit_events (user_id);
