-- Accounts people run themselves (docs/operations.md, "Accounts and second factors"):
-- password changes and resets, second factors (TOTP, recovery codes, passkeys), MFA policy
-- per realm and per role, how a session was authenticated, and the username rule's keys.

-- The username rule (tessera_core::username): `username_key` is the case-folded NFKC form that
-- sign-in looks up and that must be unique; `username_skeleton` is the Unicode confusable
-- skeleton of the key (UTS #39), unique so two names that look alike cannot both exist.
-- Filled at start-up by the server for rows written before this migration; rows that collide
-- with an earlier one stay NULL (and are reported) so the migration never fails on old data.
ALTER TABLE users ADD COLUMN username_key TEXT;
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_key ON users (realm_id, username_key);
CREATE UNIQUE INDEX users_username_skeleton ON users (realm_id, username_skeleton);
-- Set by an administrator's temporary password: the next sign-in must choose a new one.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT 0;

-- MFA policy: every user of the realm, or every holder of the role (in any team).
ALTER TABLE realms ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE roles ADD COLUMN requires_mfa BOOLEAN NOT NULL DEFAULT 0;

-- How a sign-in was proven (RFC 8176 `amr` values, space-separated), carried from the browser
-- session to its codes and refresh tokens so ID tokens state `amr` and `acr`.
-- `pending` is the step a half-finished sign-in waits for (second factor, enrolment, new
-- password); such a session authorises nothing.
ALTER TABLE browser_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE browser_sessions ADD COLUMN pending TEXT;
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- RFC 6238 TOTP, one per user. The secret must be readable to check codes. `last_step` is the
-- last time step accepted, so a code is never accepted twice.
CREATE TABLE totp_credentials (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One-time recovery codes (SHA-256 of high-entropy codes).
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_sha256 TEXT NOT NULL,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_sha256)
);

-- WebAuthn credentials (webauthn-rs `Passkey`, JSON), usable as a second factor and alone.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A WebAuthn ceremony in progress (registration or authentication state), single use, so any
-- replica can finish what another started.
CREATE TABLE webauthn_challenges (
    id_sha256 TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    user_id TEXT,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One-time password-reset links made by an administrator.
CREATE TABLE password_resets (
    token_sha256 TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_resets_user ON password_resets (user_id);
