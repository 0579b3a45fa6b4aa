-- The browser a session started in, as its User-Agent header said (at most 512 characters, control
-- characters removed), so that the account page can list the resident's sessions as "Firefox,
-- Linux" and the resident can end the one they do not recognise. NULL for sessions that started
-- before this column, or in a request without the header. It goes with its session row, which
-- the expiry clean-up deletes when the session expires or a day after it ended.
ALTER TABLE sso_sessions ADD COLUMN user_agent TEXT;
