-- Account state an admin manages: disabling a user (sign-in refused, sessions ended) and
-- one-time password-reset links (only the token's SHA-256 is stored).

ALTER TABLE users ADD COLUMN disabled_at TEXT;

CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY CHECK (length(id) = 21),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
