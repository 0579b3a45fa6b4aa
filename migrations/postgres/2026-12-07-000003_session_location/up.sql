-- A session's coarse location ("Tampere, Finland"), looked up in the location database
-- (server.geoip_database) from the client address when the session started, only for the tenants
-- whose [sessions] location is on; never the address itself. NULL otherwise. It goes with its
-- session row.
ALTER TABLE sso_sessions ADD COLUMN location TEXT;
