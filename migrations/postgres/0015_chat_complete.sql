-- Chat complete: replies, threads, edits, deletes, reactions, read positions, group roles,
-- end-to-end encrypted conversations and full-text search.

-- What a message is and what it points at. `metadata` is JSON kept as text (attachments);
-- a deleted message keeps its row and offset as a tombstone: body '' and `deleted_at`.
ALTER TABLE chat.messages
    ADD COLUMN message_type TEXT NOT NULL DEFAULT 'text',
    ADD COLUMN metadata     TEXT,
    ADD COLUMN reply_to     VARCHAR(21),
    ADD COLUMN thread_root  VARCHAR(21),
    ADD COLUMN edited_at    TIMESTAMPTZ,
    ADD COLUMN deleted_at   TIMESTAMPTZ,
    -- The body's words as the search index takes them (folded, stemmed in the community's
    -- language by the server, the same on both backends); NULL until computed.
    ADD COLUMN search_terms TEXT;
ALTER TABLE chat.messages
    ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', coalesce(search_terms, ''))) STORED;
CREATE INDEX messages_search_idx ON chat.messages USING GIN (search_vector);
CREATE INDEX messages_thread_idx ON chat.messages (thread_root, seq);
CREATE INDEX messages_sender_idx ON chat.messages (sender_id);

-- Earlier bodies of edited messages, newest last.
CREATE TABLE chat.message_edits (
    message_id  VARCHAR(21) NOT NULL REFERENCES chat.messages (id) ON DELETE CASCADE,
    body        TEXT        NOT NULL,
    replaced_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX message_edits_message_idx ON chat.message_edits (message_id);

-- One per user per emoji per message.
CREATE TABLE chat.reactions (
    message_id VARCHAR(21) NOT NULL REFERENCES chat.messages (id) ON DELETE CASCADE,
    user_id    VARCHAR(21) NOT NULL,
    emoji      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);

-- What happened to messages after they were sent (reactions, edits, deletes), each at its
-- own offset of the conversation: the conversation topic's history is messages and
-- activity merged by offset, so recovery replays both.
CREATE TABLE chat.activity (
    conversation_id VARCHAR(21) NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    seq             BIGINT      NOT NULL,
    event           TEXT        NOT NULL,
    message_id      VARCHAR(21),
    data            TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX activity_message_idx ON chat.activity (message_id);

-- Group roles (the creator is the first admin) and each participant's read position.
ALTER TABLE chat.participants
    ADD COLUMN role          TEXT   NOT NULL DEFAULT 'member',
    ADD COLUMN last_read_seq BIGINT NOT NULL DEFAULT 0;
UPDATE chat.participants p SET role = 'admin'
  FROM chat.conversations c WHERE c.id = p.conversation_id AND c.created_by = p.user_id;

-- Bodies of an encrypted conversation are ciphertext the server cannot read: never indexed.
ALTER TABLE chat.conversations ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;

-- The key directory of end-to-end encrypted conversations: public keys only.
CREATE TABLE chat.device_keys (
    user_id      VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    device_id    TEXT        NOT NULL,
    identity_key TEXT        NOT NULL,   -- X25519, base64
    signing_key  TEXT        NOT NULL,   -- Ed25519, base64
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE chat.one_time_prekeys (
    user_id    VARCHAR(21) NOT NULL,
    device_id  TEXT        NOT NULL,
    key_id     BIGINT      NOT NULL,
    public_key TEXT        NOT NULL,  -- X25519, base64
    signature  TEXT        NOT NULL,  -- Ed25519 over the public key, base64
    PRIMARY KEY (user_id, device_id, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES chat.device_keys (user_id, device_id) ON DELETE CASCADE
);

-- Browsers subscribed to Web Push (RFC 8030/8291), and the notification each message makes
-- for a participant with no socket open.
CREATE TABLE chat.push_subscriptions (
    id         VARCHAR(21) PRIMARY KEY,
    user_id    VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    endpoint   TEXT        NOT NULL UNIQUE,
    p256dh     TEXT        NOT NULL,   -- the browser's P-256 key, base64url
    auth       TEXT        NOT NULL,   -- its 16-byte auth secret, base64url
    created_at TIMESTAMPTZ NOT NULL,
    failures   INTEGER     NOT NULL DEFAULT 0
);
CREATE INDEX push_subscriptions_user_idx ON chat.push_subscriptions (user_id);
CREATE TABLE chat.notifications (
    id              VARCHAR(21) PRIMARY KEY,
    user_id         VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    conversation_id VARCHAR(21) NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    message_id      VARCHAR(21) NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    pushed          INTEGER     NOT NULL DEFAULT 0   -- subscriptions it reached
);
CREATE INDEX notifications_user_idx ON chat.notifications (user_id, created_at);

-- Photos and files messages carry: participants may read them through the conversation.
CREATE TABLE chat.attachments (
    message_id      VARCHAR(21) NOT NULL REFERENCES chat.messages (id) ON DELETE CASCADE,
    conversation_id VARCHAR(21) NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    kind            TEXT        NOT NULL,   -- photo | file
    item_id         TEXT        NOT NULL,
    PRIMARY KEY (message_id, kind, item_id)
);
CREATE INDEX attachments_item_idx ON chat.attachments (item_id, kind);

-- Search walks matches newest first (chat/store/search.rs): for a common word the planner
-- then reads this index backwards instead of collecting every match from the GIN index.
CREATE INDEX messages_created_idx ON chat.messages (created_at);

-- The language each community's messages are indexed in (its default language, else
-- `chat.search_language`): when the community's language changes, its messages are
-- indexed again.
CREATE TABLE chat.search_languages (
    community_id VARCHAR(21) PRIMARY KEY,
    language     TEXT NOT NULL
);
