-- An address's key writes an internationalised domain in its ASCII form (UTS #46 ToASCII:
-- matti@hämeenlinna.fi is keyed matti@xn--hmeenlinna-q5a.fi), so that the form a text field sends
-- and the punycode a browser's email field sends find one account. SQL cannot do IDNA, so idp
-- re-keys the stored addresses and usernames in Rust right after this migration, in the same
-- transaction (idp/store/usernames.rs, run by `store::migrate`). Nothing to change in the schema.
SELECT 1;
