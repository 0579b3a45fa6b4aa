-- Passkeys (WebAuthn), time-based one-time codes with their recovery codes, and the ceremonies
-- waiting between their two requests. Every row names its tenant: the store filters
-- by it, so that a credential registered at one city is never found at another.

-- A resident's (or an authority user's) passkey. `passkey` is webauthn-rs's `Passkey` as JSON:
-- the public key, the credential id and the signature counter; never a private key.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- base64url of the credential id, what an assertion names.
    credential_id TEXT NOT NULL,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    -- The authenticator may copy the key to other devices (a synced passkey): `amr` says swk, not hwk.
    backup_eligible BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE UNIQUE INDEX passkeys_tenant_credential ON passkeys (tenant_id, credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A time-based one-time code (RFC 6238): the shared secret sealed with the key-encryption key,
-- and the last time step accepted, so that a code is never accepted twice.
CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    secret TEXT NOT NULL,
    last_step BIGINT,
    created_at TIMESTAMP NOT NULL
);

-- Single-use recovery codes, as SHA-256 hashes (the codes are random, 50 bits each).
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);

-- A ceremony between its two requests, kept on the server: a WebAuthn registration or
-- authentication (webauthn-rs's state as JSON, with its challenge), or a one-time code's enrolment
-- (the new secret, sealed, until a code from it confirms it). Found by the hash of the id the page
-- holds, used once.
CREATE TABLE ceremonies (
    id_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX ceremonies_expires ON ceremonies (expires_at);

-- When idp last offered the resident to add a passkey after a login ("not now" waits a while).
CREATE TABLE passkey_offers (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    offered_at TIMESTAMP NOT NULL
);
