-- The folded keys stay: the lowercased form they replaced was a key of the same account.
SELECT 1;
