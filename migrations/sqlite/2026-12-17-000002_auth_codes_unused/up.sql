-- A used code now stays as long as its grant (a replay after the code's minute still revokes the
-- grant); the clean-up deletes the expired unused ones only, found through this index without
-- reading the used ones. The index on every code's expiry served only the clean-up.
CREATE INDEX auth_codes_unused_expires ON auth_codes (expires_at) WHERE used_at IS NULL;
DROP INDEX auth_codes_expires;
