-- An erasure deletes the links and mail at its addresses in any spelling (a registration begun as
-- Erkki@Testi.FI): addresses are stored NFKC-folded, so an ASCII address's other spellings differ
-- in case only, which lower() folds; these indexes find them without reading the outbox
-- (store/erasure.rs). Other addresses (a non-ASCII local part, an internationalised domain) are
-- compared by their lookup keys in Rust.
CREATE INDEX mail_outbox_to_lower ON mail_outbox (lower(to_address), tenant_id);
CREATE INDEX one_time_links_email_lower ON one_time_links (lower(email), tenant_id)
WHERE email IS NOT NULL;
