-- The whole schema of idp (docs/architecture.md, "Data model"), SQLite flavour.
-- Kept column for column equal to migrations/postgres; idp/store/schema.rs describes both.
-- Times are UTC without zone. Secrets are stored as SHA-256 hashes (hex) or argon2id PHC strings.

-- Residents and authority users, one row per account per tenant.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    -- The OIDC `sub`: a legacy subject when the account was linked, else a fresh UUID. Never changes.
    subject TEXT NOT NULL,
    -- As the resident typed it; email_normalized (trimmed, lowercased) is what is unique and looked up.
    email TEXT,
    email_normalized TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    -- Authority users log in with a username instead of an email.
    username TEXT,
    username_normalized TEXT,
    name TEXT,
    locale TEXT,
    password_hash TEXT,
    password_changed_at TIMESTAMP,
    is_authority BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT users_email_normalized_lower CHECK (email_normalized = lower(email_normalized))
);
CREATE UNIQUE INDEX users_tenant_subject ON users (tenant_id, subject);
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, email_normalized);
CREATE UNIQUE INDEX users_tenant_username ON users (tenant_id, username_normalized);

-- Accounts exported from a city's old login system, waiting to be bound to a user.
CREATE TABLE legacy_accounts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    username TEXT NOT NULL,
    username_normalized TEXT NOT NULL,
    -- What the e-services know the account by (defaults to the username at import).
    subject TEXT NOT NULL,
    email TEXT,
    email_normalized TEXT,
    password_hash TEXT,
    -- bcrypt, pbkdf2-sha256, sha512-crypt, ..., or NULL when unusable/absent.
    hash_format TEXT,
    name TEXT,
    is_authority BOOLEAN NOT NULL DEFAULT FALSE,
    linked_user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    linked_at TIMESTAMP,
    imported_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX legacy_tenant_username ON legacy_accounts (tenant_id, username_normalized);
CREATE UNIQUE INDEX legacy_tenant_subject ON legacy_accounts (tenant_id, subject);
CREATE INDEX legacy_tenant_email ON legacy_accounts (tenant_id, email_normalized);
CREATE INDEX legacy_linked_user ON legacy_accounts (linked_user_id);

-- SSO sessions: the browser holds a random id, only its hash is here.
CREATE TABLE sso_sessions (
    id TEXT PRIMARY KEY,                 -- public, the `sid` claim
    token_hash TEXT NOT NULL UNIQUE,     -- SHA-256 of the cookie value
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remember BOOLEAN NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,                   -- space-separated, e.g. "pwd"
    acr TEXT,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX sso_sessions_user ON sso_sessions (user_id);
CREATE INDEX sso_sessions_expires ON sso_sessions (expires_at);

-- Authorization requests waiting for the resident (and pushed requests, RFC 9126).
CREATE TABLE auth_requests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- The validated request (redirect_uri, scope, state, nonce, PKCE, prompt, max_age, hints,
    -- response_mode, claims) as JSON: it is only ever read back whole.
    params TEXT NOT NULL,
    request_uri_hash TEXT UNIQUE,         -- for a pushed request: hash of its request_uri
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT REFERENCES sso_sessions (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

-- One authorization a resident gave a client: codes, refresh tokens and access tokens hang off it,
-- so a replayed code or refresh token revokes everything at once.
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT REFERENCES sso_sessions (id) ON DELETE SET NULL,
    scope TEXT NOT NULL,
    auth_time TIMESTAMP,
    amr TEXT,
    acr TEXT,
    offline BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_session ON grants (session_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    claims TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX auth_codes_grant ON auth_codes (grant_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

-- Refresh tokens; a family is a grant. Rotation sets used_at; presenting a used token revokes the grant.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Access tokens are JWTs; only those revoked one by one (RFC 7009) are listed, until they expire.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);

-- private_key_jwt assertions seen, so a jti cannot be replayed (RFC 7523 §3).
CREATE TABLE client_assertion_jtis (
    jti_key TEXT PRIMARY KEY,            -- tenant, client and jti, hashed
    expires_at TIMESTAMP NOT NULL
);

-- Consent given to clients that are not first-party.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Single-use links sent by mail: set or reset password, verify an address, undo an email change,
-- confirm a registration, prove a legacy account. Only the hash of the link's secret is stored.
CREATE TABLE one_time_links (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    legacy_account_id TEXT REFERENCES legacy_accounts (id) ON DELETE CASCADE,
    email TEXT,
    auth_request_id TEXT,
    payload TEXT,                        -- JSON, purpose-specific
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX one_time_links_user ON one_time_links (user_id);
CREATE INDEX one_time_links_expires ON one_time_links (expires_at);

-- Mail written in the same transaction as the change that caused it; a worker delivers it.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    status TEXT NOT NULL,                -- pending, sent, failed
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);

-- Back-channel logout tokens waiting to be delivered to relying parties.
CREATE TABLE logout_deliveries (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    logout_token TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (status, next_attempt_at);

-- Signing keys, per tenant (each issuer has its own JWKS); the private part is encrypted under
-- the key-encryption key.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,                -- RFC 7638 thumbprint
    tenant_id TEXT NOT NULL,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_key_encrypted TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activates_at TIMESTAMP NOT NULL,     -- published at once, signs from here on
    retired_at TIMESTAMP,                -- stops signing
    expires_at TIMESTAMP                 -- leaves the JWKS (after every token it signed expired)
);
CREATE INDEX signing_keys_tenant ON signing_keys (tenant_id);

-- Failed logins per account and per client address, shared by every node.
CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- Security events a city can query.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT,
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    remote_addr TEXT,
    detail TEXT                          -- JSON
);
CREATE INDEX audit_events_tenant_time ON audit_events (tenant_id, occurred_at);
CREATE INDEX audit_events_user ON audit_events (user_id);
