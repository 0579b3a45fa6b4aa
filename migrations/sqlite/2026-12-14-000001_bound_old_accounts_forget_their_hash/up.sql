-- A bound old account is never proven by its old password again; under keep-password its old
-- hash (md5-crypt, salted SHA-1, …) is a weak copy of the resident's current password, which a
-- stolen backup would give away cheaply. Binding now forgets it (store/legacy.rs, `link`); this
-- forgets the hashes of the accounts bound before. The format stays, for `idp legacy report`.
--
-- An account bound by a change of address whose undo link still waits gets its hash back when the
-- change is undone (flows/email_change/ways_back.rs, `Bound.hash`): the links written before
-- binding forgot hashes do not carry it, so it is copied into them first.
UPDATE one_time_links
SET payload = json_set(payload, '$.bound.hash', (
    SELECT password_hash FROM legacy_accounts
    WHERE legacy_accounts.tenant_id = one_time_links.tenant_id
      AND legacy_accounts.id = json_extract(one_time_links.payload, '$.bound.account')
))
WHERE purpose = 'undo_email_change'
  AND used_at IS NULL
  AND json_valid(payload)
  AND json_extract(payload, '$.bound.hash') IS NULL
  AND EXISTS (
    SELECT 1 FROM legacy_accounts
    WHERE legacy_accounts.tenant_id = one_time_links.tenant_id
      AND legacy_accounts.id = json_extract(one_time_links.payload, '$.bound.account')
      AND legacy_accounts.password_hash IS NOT NULL
  );
UPDATE legacy_accounts SET password_hash = NULL WHERE linked_user_id IS NOT NULL;
