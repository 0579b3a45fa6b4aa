DROP INDEX grants_refresh_family;
ALTER TABLE grants DROP COLUMN refresh_family;
