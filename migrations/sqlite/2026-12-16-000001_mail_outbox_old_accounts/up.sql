-- The old accounts a linker's mail lists (their ids, space-separated), when it is one: an
-- erasure of the account they were bound to, or support's deletion of one (`idp legacy delete`),
-- deletes the mail that names its username by them, also at an address another resident still
-- holds (a family's shared address), where by address alone the mail would stay its week.
-- Mail written before: by address.
ALTER TABLE mail_outbox ADD COLUMN legacy_account_ids TEXT;
