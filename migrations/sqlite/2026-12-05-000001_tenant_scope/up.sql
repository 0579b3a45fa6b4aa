-- Every code, refresh token and revoked access token names its tenant, so that a look-up filters by
-- the tenant of the request itself (a token of one city is unknown at another).
ALTER TABLE auth_codes ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
UPDATE auth_codes SET tenant_id = (SELECT grants.tenant_id FROM grants WHERE grants.id = auth_codes.grant_id);
ALTER TABLE refresh_tokens ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
UPDATE refresh_tokens SET tenant_id = (SELECT grants.tenant_id FROM grants WHERE grants.id = refresh_tokens.grant_id);
-- Rows revoked before this migration have no known tenant: '' (their jti stays revoked everywhere).
ALTER TABLE revoked_access_tokens ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
