-- A user's audit events by time: the account page counts the changes the user made in the last
-- hour before it makes another (`[limits] account_changes_per_hour`, flows/account/signed_in.rs)
-- and reads at most that many index entries, however long the account's trail is. The index on
-- the user alone served the export and the erasure's pseudonymisation; this one serves them too.
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user_time ON audit_events (user_id, occurred_at);
