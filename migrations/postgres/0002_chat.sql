-- Chat (Guará): conversations, their participants and messages, in the `chat` schema.

CREATE TABLE chat.conversations (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    kind         TEXT        NOT NULL CHECK (kind IN ('direct', 'group')),
    name         TEXT,
    created_by   VARCHAR(21) REFERENCES public.users (id) ON DELETE SET NULL,
    epoch        TEXT        NOT NULL,                 -- names the offset sequence for recovery
    last_seq     BIGINT      NOT NULL DEFAULT 0,       -- offset of the newest message
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX conversations_community_idx ON chat.conversations (community_id);

CREATE TABLE chat.participants (
    conversation_id VARCHAR(21) NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    user_id         VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    joined_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX participants_user_idx ON chat.participants (user_id);

CREATE TABLE chat.messages (
    id              VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    conversation_id VARCHAR(21) NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    sender_id       VARCHAR(21) NOT NULL,
    body            TEXT        NOT NULL,
    client_id       TEXT,                              -- the sender's idempotency key
    seq             BIGINT      NOT NULL,              -- the message's offset in its conversation
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, sender_id, client_id)
);
CREATE INDEX messages_conversation_created_idx ON chat.messages (conversation_id, created_at DESC);
