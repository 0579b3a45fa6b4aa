-- A bound old account is never proven by its old password again; under keep-password its old
-- hash (md5-crypt, salted SHA-1, …) is a weak copy of the resident's current password, which a
-- stolen backup would give away cheaply. Binding now forgets it (store/legacy.rs, `link`); this
-- forgets the hashes of the accounts bound before. The format stays, for `idp legacy report`.
UPDATE legacy_accounts SET password_hash = NULL WHERE linked_user_id IS NOT NULL;
