DROP INDEX ceremonies_user;
DROP INDEX ceremonies_request;
ALTER TABLE ceremonies DROP COLUMN auth_request_id;
