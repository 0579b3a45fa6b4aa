-- The ASCII keys stay: the form they replaced was a key of the same address.
SELECT 1;
