-- The client address an anonymous authorization request came from, so that one address can keep
-- only so many waiting at once (`[limits] waiting_requests_per_address`, idp/flows/oidc/pending.rs):
-- the SHA-256 (hex) of its counting key (an IPv4 address, an IPv6 /64), never the address in
-- clear. Set on a request waiting for its login and on a push of a public client; NULL on a
-- request a login has reached (it has its user), on a confidential client's push, and on the rows
-- stored before this migration (they never count).
ALTER TABLE auth_requests ADD COLUMN client_key TEXT;
-- The count before each such insert, across tenants, of one address's rows not yet expired: a
-- range of this index, which holds only the rows with an address.
CREATE INDEX auth_requests_client_key ON auth_requests (client_key, expires_at)
WHERE client_key IS NOT NULL;
