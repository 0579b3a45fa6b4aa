DROP INDEX auth_requests_client_key;
ALTER TABLE auth_requests DROP COLUMN client_key;
