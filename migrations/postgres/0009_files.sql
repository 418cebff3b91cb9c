-- Files (Ybira): spaces, the folder tree, file versions over media's content-addressed blobs,
-- the trash, the change journal per space, and WebDAV app passwords, in the `files` schema.

CREATE TABLE files.spaces (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    kind         TEXT        NOT NULL CHECK (kind IN ('personal', 'community')),
    owner_id     VARCHAR(21) UNIQUE REFERENCES public.users (id) ON DELETE CASCADE, -- personal only
    name         TEXT        NOT NULL,
    root_id      VARCHAR(21) NOT NULL,              -- the root folder (files.nodes)
    epoch        TEXT        NOT NULL,                -- names the journal's cursor sequence
    last_cursor  BIGINT      NOT NULL DEFAULT 0,      -- cursor of the newest journal row
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((kind = 'personal') = (owner_id IS NOT NULL))
);
CREATE INDEX spaces_community_idx ON files.spaces (community_id);

CREATE TABLE files.nodes (
    id          VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    space_id    VARCHAR(21) NOT NULL REFERENCES files.spaces (id) ON DELETE CASCADE,
    parent_id   VARCHAR(21) REFERENCES files.nodes (id) ON DELETE CASCADE, -- NULL: the root
    name        TEXT        NOT NULL,
    name_key    TEXT        NOT NULL,                 -- lower-cased name: unique per folder
    kind        TEXT        NOT NULL CHECK (kind IN ('folder', 'file')),
    version_id  VARCHAR(21),                          -- a file's current version
    size_bytes  BIGINT      NOT NULL DEFAULT 0,
    content_hash TEXT,
    etag        TEXT        NOT NULL,                 -- changes with the node and below
    created_at  TIMESTAMPTZ NOT NULL,
    modified_at TIMESTAMPTZ NOT NULL,
    trashed_at  TIMESTAMPTZ,                          -- set on the top of a deleted subtree
    trashed_by  VARCHAR(21),
    trash_path  TEXT                                  -- the path it had when deleted
);
CREATE UNIQUE INDEX nodes_live_name_idx ON files.nodes (parent_id, name_key) WHERE trashed_at IS NULL;
CREATE INDEX nodes_space_idx ON files.nodes (space_id, trashed_at);

CREATE TABLE files.versions (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    node_id      VARCHAR(21) NOT NULL REFERENCES files.nodes (id) ON DELETE CASCADE,
    content_hash TEXT        NOT NULL,
    size_bytes   BIGINT      NOT NULL CHECK (size_bytes >= 0),
    created_by   VARCHAR(21) NOT NULL,
    device       TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX versions_node_idx ON files.versions (node_id, created_at DESC);
CREATE INDEX versions_hash_idx ON files.versions (content_hash);

CREATE TABLE files.changes (
    space_id  VARCHAR(21) NOT NULL REFERENCES files.spaces (id) ON DELETE CASCADE,
    seq       BIGINT      NOT NULL,
    node_id   VARCHAR(21) NOT NULL,
    action    TEXT        NOT NULL,
    path      TEXT        NOT NULL,
    from_path TEXT,
    kind      TEXT        NOT NULL,
    etag      TEXT        NOT NULL,
    size_bytes BIGINT     NOT NULL,
    user_id   VARCHAR(21) NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (space_id, seq)
);

CREATE TABLE files.app_passwords (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    user_id      VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    secret_hash  TEXT        NOT NULL,                -- argon2 PHC string
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX app_passwords_user_idx ON files.app_passwords (user_id);

-- Locks: a WebDAV lock or an app lock marks a node being edited; everyone who can see the node
-- sees who holds it, and others' writes to it are refused until it is released or expires.
CREATE TABLE files.locks (
    token      TEXT PRIMARY KEY,                    -- the WebDAV lock token, or app-…
    node_id    VARCHAR(21) NOT NULL REFERENCES files.nodes (id) ON DELETE CASCADE,
    user_id    VARCHAR(21) NOT NULL,                        -- the holder
    kind       TEXT NOT NULL CHECK (kind IN ('webdav', 'app')),
    note       TEXT,                                -- what the holder said (an app, a device)
    deep       INTEGER NOT NULL DEFAULT 0,          -- 1: the folder and everything below it
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX locks_node_idx ON files.locks (node_id);

-- WebDAV dead properties (PROPPATCH): what clients store on a node, kept through moves.
CREATE TABLE files.properties (
    node_id   VARCHAR(21) NOT NULL REFERENCES files.nodes (id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,                        -- '' for no namespace
    name      TEXT NOT NULL,
    prefix    TEXT,
    xml       BYTEA,                                -- the value as raw XML
    PRIMARY KEY (node_id, namespace, name)
);
-- Shares: a node shared with a user, with the whole community, or by a public link.
CREATE TABLE files.shares (
    id            VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    node_id       VARCHAR(21) NOT NULL REFERENCES files.nodes (id) ON DELETE CASCADE,
    space_id      VARCHAR(21) NOT NULL REFERENCES files.spaces (id) ON DELETE CASCADE,
    created_by    VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    target        TEXT        NOT NULL CHECK (target IN ('user', 'community', 'link')),
    grantee_id    VARCHAR(21),                        -- the user or community; NULL for a link
    token         TEXT UNIQUE,                        -- a link's secret; NULL otherwise
    password_hash TEXT,                               -- argon2 PHC string (links only)
    expires_at    TIMESTAMPTZ,
    permission    TEXT        NOT NULL CHECK (permission IN ('read', 'write', 'upload_only')),
    may_reshare   BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    CHECK ((target = 'link') = (token IS NOT NULL)),
    CHECK ((target = 'link') = (grantee_id IS NULL)),
    CHECK (permission <> 'upload_only' OR target = 'link')
);
CREATE INDEX shares_node_idx ON files.shares (node_id);
CREATE INDEX shares_grantee_idx ON files.shares (grantee_id, target);
-- Resumable uploads (tus at /api/files/tus/, and socket uploads placed in a space).
-- A tus upload: where its bytes go, how many have arrived (the bytes themselves are in
-- data/uploads/tus/<id>.part), when it is abandoned; node_id/version_id once complete.
CREATE TABLE files.tus_uploads (
    id            VARCHAR(21) PRIMARY KEY,
    user_id       VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    space_id      VARCHAR(21) NOT NULL REFERENCES files.spaces (id) ON DELETE CASCADE,
    path          TEXT        NOT NULL,
    base_version  VARCHAR(21),
    device        TEXT,
    length        BIGINT      NOT NULL,
    received      BIGINT      NOT NULL,
    metadata      TEXT        NOT NULL,               -- Upload-Metadata as sent
    node_id       VARCHAR(21),
    version_id    VARCHAR(21),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX tus_uploads_expires_idx ON files.tus_uploads (expires_at);

-- A socket upload (media.uploads, which owns the transfer) whose bytes become a file here.
CREATE TABLE files.socket_uploads (
    upload_id     VARCHAR(21) PRIMARY KEY,
    space_id      VARCHAR(21) NOT NULL REFERENCES files.spaces (id) ON DELETE CASCADE,
    path          TEXT        NOT NULL,
    base_version  VARCHAR(21),
    device        TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
