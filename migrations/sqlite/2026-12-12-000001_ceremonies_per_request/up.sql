-- The pending request a ceremony belongs to (a passkey login's, a passkey as a login's second
-- factor), so that one login keeps only a few ceremonies waiting at once
-- (idp/flows/passkeys/ceremony.rs): else one anonymous login could write a row per request for
-- five minutes each. NULL for the ceremonies of the account page and those stored before.
ALTER TABLE ceremonies ADD COLUMN auth_request_id TEXT;
CREATE INDEX ceremonies_request ON ceremonies (auth_request_id, purpose)
WHERE auth_request_id IS NOT NULL;
-- A recovery removes a user's ceremonies with the user's row held (`remove_for_user`): by index,
-- not by reading the table.
CREATE INDEX ceremonies_user ON ceremonies (user_id) WHERE user_id IS NOT NULL;
