-- Usernames' keys are folded as every typed identifier is (NFKC as well as lowercase: an old
-- system's decomposed "Pääkäyttäjä" matches the composed form a browser sends). SQL cannot fold
-- Unicode on SQLite, so idp does it in Rust right after this migration, in the same transaction
-- (idp/store/usernames.rs, run by `store::migrate`). Nothing to change in the schema.
SELECT 1;
