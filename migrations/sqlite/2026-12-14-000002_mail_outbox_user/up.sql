-- The account a mail is about, when there is one (a notice, a change of address's undo, a
-- deletion's undo, a link of an account's): an erasure deletes the account's mail by it, also at
-- an address another resident still holds (a family's shared address), where mail by address
-- alone would be the other resident's too (store/erasure.rs). Mail written before: by address.
ALTER TABLE mail_outbox ADD COLUMN user_id TEXT;
CREATE INDEX mail_outbox_user ON mail_outbox (user_id);
