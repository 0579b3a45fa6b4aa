ALTER TABLE revoked_access_tokens DROP COLUMN tenant_id;
ALTER TABLE refresh_tokens DROP COLUMN tenant_id;
ALTER TABLE auth_codes DROP COLUMN tenant_id;
