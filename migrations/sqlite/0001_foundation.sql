-- The shared tables with SQLite's types: TEXT ids, INTEGER booleans, RFC 3339 TEXT timestamps.
-- SQLite has no schemas; context tables come with the issues that build each context.

CREATE TABLE communities (
    id               TEXT    PRIMARY KEY CHECK (length(id) = 21),
    name             TEXT    NOT NULL UNIQUE,
    slug             TEXT    NOT NULL UNIQUE,
    storage_quota_gb INTEGER NOT NULL DEFAULT 100 CHECK (storage_quota_gb >= 0),
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE TABLE users (
    id             TEXT    PRIMARY KEY CHECK (length(id) = 21),
    community_id   TEXT    NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    email          TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    display_name   TEXT,
    role           TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member', 'guest')),
    totp_secret    TEXT,
    totp_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step INTEGER,
    last_login_at  TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (community_id, email)
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE user_sessions (
    id         TEXT PRIMARY KEY CHECK (length(id) = 21),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    user_agent TEXT,
    ip_address TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

CREATE TABLE community_invites (
    id           TEXT    PRIMARY KEY CHECK (length(id) = 21),
    community_id TEXT    NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    code_hash    TEXT    NOT NULL UNIQUE CHECK (length(code_hash) = 64),
    role         TEXT    NOT NULL CHECK (role IN ('admin', 'member', 'guest')),
    created_by   TEXT    REFERENCES users (id) ON DELETE SET NULL,
    max_uses     INTEGER NOT NULL CHECK (max_uses > 0),
    uses         INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE TABLE user_recovery_codes (
    id         TEXT PRIMARY KEY CHECK (length(id) = 21),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL CHECK (length(code_hash) = 64),
    used_at    TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX user_recovery_codes_user_idx ON user_recovery_codes (user_id);
