-- Chat (Guará). On SQLite the `chat` schema is an attached database file (data/chat.db):
-- foreign keys cannot cross database files, so references to users and communities are
-- kept by the application here and enforced by PostgreSQL there.

CREATE TABLE chat.conversations (
    id           TEXT    PRIMARY KEY CHECK (length(id) = 21),
    community_id TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name         TEXT,
    created_by   TEXT,
    epoch        TEXT    NOT NULL,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX chat.conversations_community_idx ON conversations (community_id);

CREATE TABLE chat.participants (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    joined_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX chat.participants_user_idx ON participants (user_id);

CREATE TABLE chat.messages (
    id              TEXT    PRIMARY KEY CHECK (length(id) = 21),
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    client_id       TEXT,
    seq             INTEGER NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, sender_id, client_id)
);
CREATE INDEX chat.messages_conversation_created_idx ON messages (conversation_id, created_at DESC);
