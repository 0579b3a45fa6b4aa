-- The forgotten hashes cannot come back, and nothing needs them: nothing to undo.
SELECT 1;
