-- A grant's refresh tokens are one family: each token names it by a handle (`<handle>.<secret>`),
-- and the grant keeps the handle's hash. A rotated token's row then becomes the new token's rather
-- than being kept until its grant expires: one presented again is known by its handle, and
-- revokes the family as before (flows/oidc/family.rs), so an e-service refreshing in a loop keeps
-- one row a grant.
-- Tokens issued before (no handle) keep their rows until their grant's first rotation here.
ALTER TABLE grants ADD COLUMN refresh_family TEXT;
CREATE UNIQUE INDEX grants_refresh_family ON grants (refresh_family)
WHERE refresh_family IS NOT NULL;
