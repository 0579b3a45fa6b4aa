-- A bound old account is never proven by its old password again; under keep-password its old
-- hash (md5-crypt, salted SHA-1, …) is a weak copy of the resident's current password, which a
-- stolen backup would give away cheaply. Binding now forgets it (store/legacy.rs, `link`); this
-- forgets the hashes of the accounts bound before. The format stays, for `idp legacy report`.
--
-- An account bound by a change of address whose undo link still waits gets its hash back when the
-- change is undone (flows/email_change/ways_back.rs, `Bound.hash`): the links written before
-- binding forgot hashes do not carry it, so it is copied into them first. idp writes every
-- payload as a JSON object.
UPDATE one_time_links AS l
SET payload = jsonb_set(l.payload::jsonb, '{bound,hash}', to_jsonb(a.password_hash))::text
FROM legacy_accounts AS a
WHERE l.purpose = 'undo_email_change'
  AND l.used_at IS NULL
  AND l.payload LIKE '{%'
  AND a.tenant_id = l.tenant_id
  AND a.id = l.payload::jsonb -> 'bound' ->> 'account'
  AND a.password_hash IS NOT NULL
  AND l.payload::jsonb -> 'bound' -> 'hash' IS NULL;
UPDATE legacy_accounts SET password_hash = NULL WHERE linked_user_id IS NOT NULL;
