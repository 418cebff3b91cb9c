-- Shared tables in `public` (communities, users, sessions and what auth needs) and one schema per context.

CREATE TABLE communities (
    id               VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),  -- NanoID
    name             TEXT        NOT NULL UNIQUE,
    slug             TEXT        NOT NULL UNIQUE,                      -- for public URLs
    storage_quota_gb INTEGER     NOT NULL DEFAULT 100 CHECK (storage_quota_gb >= 0),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id   VARCHAR(21) NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    email          TEXT        NOT NULL,                               -- stored lower-cased
    password_hash  TEXT        NOT NULL,                               -- argon2id PHC string
    display_name   TEXT,
    role           TEXT        NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member', 'guest')),
    totp_secret    TEXT,                                               -- base32; set by setup, used once enabled
    totp_enabled   BOOLEAN     NOT NULL DEFAULT FALSE,
    totp_last_step BIGINT,                                             -- refuses a replayed code
    last_login_at  TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (community_id, email)
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE user_sessions (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),      -- the token's `sid`
    user_id      VARCHAR(21) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   CHAR(64)    NOT NULL UNIQUE,                          -- hex SHA-256; the token is never stored
    user_agent   TEXT,
    ip_address   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

CREATE TABLE community_invites (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id VARCHAR(21) NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    code_hash    CHAR(64)    NOT NULL UNIQUE,                          -- hex SHA-256 of the code
    role         TEXT        NOT NULL CHECK (role IN ('admin', 'member', 'guest')),
    created_by   VARCHAR(21) REFERENCES users (id) ON DELETE SET NULL,
    max_uses     INTEGER     NOT NULL CHECK (max_uses > 0),
    uses         INTEGER     NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE user_recovery_codes (
    id         VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    user_id    VARCHAR(21) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  CHAR(64)    NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX user_recovery_codes_user_idx ON user_recovery_codes (user_id);

CREATE SCHEMA media;
CREATE SCHEMA chat;
CREATE SCHEMA files;
CREATE SCHEMA streaming;
CREATE SCHEMA monitoring;
CREATE SCHEMA dashboard;
CREATE SCHEMA automation;
