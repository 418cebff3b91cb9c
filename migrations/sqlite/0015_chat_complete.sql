-- Chat complete: replies, threads, edits, deletes, reactions, read positions, group roles,
-- end-to-end encrypted conversations and full-text search.

-- What a message is and what it points at. `metadata` is JSON kept as text (attachments);
-- a deleted message keeps its row and offset as a tombstone: body '' and `deleted_at`.
ALTER TABLE chat.messages ADD COLUMN message_type TEXT NOT NULL DEFAULT 'text';
ALTER TABLE chat.messages ADD COLUMN metadata TEXT;
ALTER TABLE chat.messages ADD COLUMN reply_to TEXT;
ALTER TABLE chat.messages ADD COLUMN thread_root TEXT;
ALTER TABLE chat.messages ADD COLUMN edited_at TEXT;
ALTER TABLE chat.messages ADD COLUMN deleted_at TEXT;
-- The body's words as the search index takes them (folded, stemmed in the community's
-- language by the server); NULL until computed, '' when there is nothing to index.
ALTER TABLE chat.messages ADD COLUMN search_terms TEXT;
CREATE INDEX chat.messages_thread_idx ON messages (thread_root, seq);
CREATE INDEX chat.messages_sender_idx ON messages (sender_id);

-- Earlier bodies of edited messages, newest last.
CREATE TABLE chat.message_edits (
    message_id  TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    replaced_at TEXT NOT NULL
);
CREATE INDEX chat.message_edits_message_idx ON message_edits (message_id);

-- One per user per emoji per message.
CREATE TABLE chat.reactions (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    emoji      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);

-- What happened to messages after they were sent (reactions, edits, deletes), each at its
-- own offset of the conversation: the conversation topic's history is messages and
-- activity merged by offset, so recovery replays both.
CREATE TABLE chat.activity (
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    message_id      TEXT,
    data            TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX chat.activity_message_idx ON activity (message_id);

-- Group roles (the creator is the first admin) and each participant's read position.
ALTER TABLE chat.participants ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE chat.participants ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0;
UPDATE chat.participants SET role = 'admin'
 WHERE user_id = (SELECT c.created_by FROM chat.conversations c
                   WHERE c.id = participants.conversation_id);

-- Bodies of an encrypted conversation are ciphertext the server cannot read: never indexed.
ALTER TABLE chat.conversations ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;

-- Full-text index over `search_terms`, kept in step by triggers.
CREATE VIRTUAL TABLE chat.messages_fts USING fts5(
    search_terms, content = 'messages', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER chat.messages_fts_insert AFTER INSERT ON messages
WHEN NEW.search_terms IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, search_terms) VALUES (NEW.rowid, NEW.search_terms);
END;
CREATE TRIGGER chat.messages_fts_delete AFTER DELETE ON messages
WHEN OLD.search_terms IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_terms)
    VALUES ('delete', OLD.rowid, OLD.search_terms);
END;
CREATE TRIGGER chat.messages_fts_update AFTER UPDATE OF search_terms ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_terms)
    SELECT 'delete', OLD.rowid, OLD.search_terms WHERE OLD.search_terms IS NOT NULL;
    INSERT INTO messages_fts (rowid, search_terms)
    SELECT NEW.rowid, NEW.search_terms WHERE NEW.search_terms IS NOT NULL;
END;

-- The key directory of end-to-end encrypted conversations: public keys only.
CREATE TABLE chat.device_keys (
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    identity_key TEXT NOT NULL,   -- X25519, base64
    signing_key  TEXT NOT NULL,   -- Ed25519, base64
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE chat.one_time_prekeys (
    user_id    TEXT    NOT NULL,
    device_id  TEXT    NOT NULL,
    key_id     INTEGER NOT NULL,
    public_key TEXT    NOT NULL,  -- X25519, base64
    signature  TEXT    NOT NULL,  -- Ed25519 over the public key, base64
    PRIMARY KEY (user_id, device_id, key_id)
);

-- Browsers subscribed to Web Push (RFC 8030/8291), and the notification each message makes
-- for a participant with no socket open.
CREATE TABLE chat.push_subscriptions (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    endpoint   TEXT    NOT NULL UNIQUE,
    p256dh     TEXT    NOT NULL,   -- the browser's P-256 key, base64url
    auth       TEXT    NOT NULL,   -- its 16-byte auth secret, base64url
    created_at TEXT    NOT NULL,
    failures   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX chat.push_subscriptions_user_idx ON push_subscriptions (user_id);
CREATE TABLE chat.notifications (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    pushed          INTEGER NOT NULL DEFAULT 0   -- subscriptions it reached
);
CREATE INDEX chat.notifications_user_idx ON notifications (user_id, created_at);

-- Photos and files messages carry: participants may read them through the conversation.
CREATE TABLE chat.attachments (
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    kind            TEXT NOT NULL,   -- photo | file
    item_id         TEXT NOT NULL,
    PRIMARY KEY (message_id, kind, item_id)
);
CREATE INDEX chat.attachments_item_idx ON attachments (item_id, kind);

-- The language each community's messages are indexed in (its default language, else
-- `chat.search_language`): when the community's language changes, its messages are
-- indexed again.
CREATE TABLE chat.search_languages (
    community_id TEXT PRIMARY KEY,
    language     TEXT NOT NULL
);
