DROP TABLE passkey_offers;
DROP TABLE ceremonies;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
DROP TABLE passkeys;
