-- Files (Ybira): spaces, the folder tree, file versions over media's content-addressed blobs,
-- the trash, the change journal per space, and WebDAV app passwords. On SQLite `files` is an
-- attached database file: references to users and communities are kept by the application.

CREATE TABLE files.spaces (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id TEXT NOT NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('personal', 'community')),
    owner_id     TEXT UNIQUE, -- personal only
    name         TEXT        NOT NULL,
    root_id      TEXT NOT NULL,              -- the root folder (files.nodes)
    epoch        TEXT        NOT NULL,                -- names the journal's cursor sequence
    last_cursor  INTEGER      NOT NULL DEFAULT 0,      -- cursor of the newest journal row
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CHECK ((kind = 'personal') = (owner_id IS NOT NULL))
);
CREATE INDEX files.spaces_community_idx ON spaces (community_id);

CREATE TABLE files.nodes (
    id          TEXT PRIMARY KEY CHECK (length(id) = 21),
    space_id    TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    parent_id   TEXT REFERENCES nodes (id) ON DELETE CASCADE, -- NULL: the root
    name        TEXT        NOT NULL,
    name_key    TEXT        NOT NULL,                 -- lower-cased name: unique per folder
    kind        TEXT        NOT NULL CHECK (kind IN ('folder', 'file')),
    version_id  TEXT,                          -- a file's current version
    size_bytes  INTEGER      NOT NULL DEFAULT 0,
    content_hash TEXT,
    etag        TEXT        NOT NULL,                 -- changes with the node and below
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    trashed_at  TEXT,                          -- set on the top of a deleted subtree
    trashed_by  TEXT,
    trash_path  TEXT                                  -- the path it had when deleted
);
CREATE UNIQUE INDEX files.nodes_live_name_idx ON nodes (parent_id, name_key) WHERE trashed_at IS NULL;
CREATE INDEX files.nodes_space_idx ON nodes (space_id, trashed_at);

CREATE TABLE files.versions (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    node_id      TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    content_hash TEXT        NOT NULL,
    size_bytes   INTEGER      NOT NULL CHECK (size_bytes >= 0),
    created_by   TEXT NOT NULL,
    device       TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX files.versions_node_idx ON versions (node_id, created_at DESC);
CREATE INDEX files.versions_hash_idx ON versions (content_hash);

CREATE TABLE files.changes (
    space_id  TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    seq       INTEGER      NOT NULL,
    node_id   TEXT NOT NULL,
    action    TEXT        NOT NULL,
    path      TEXT        NOT NULL,
    from_path TEXT,
    kind      TEXT        NOT NULL,
    etag      TEXT        NOT NULL,
    size_bytes INTEGER     NOT NULL,
    user_id   TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (space_id, seq)
);

CREATE TABLE files.app_passwords (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    user_id      TEXT NOT NULL,
    name         TEXT        NOT NULL,
    secret_hash  TEXT        NOT NULL,                -- argon2 PHC string
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX files.app_passwords_user_idx ON app_passwords (user_id);

-- Locks: a WebDAV lock or an app lock marks a node being edited; everyone who can see the node
-- sees who holds it, and others' writes to it are refused until it is released or expires.
CREATE TABLE files.locks (
    token      TEXT PRIMARY KEY,                    -- the WebDAV lock token, or app-…
    node_id    TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,                        -- the holder
    kind       TEXT NOT NULL CHECK (kind IN ('webdav', 'app')),
    note       TEXT,                                -- what the holder said (an app, a device)
    deep       INTEGER NOT NULL DEFAULT 0,          -- 1: the folder and everything below it
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX files.locks_node_idx ON locks (node_id);

-- WebDAV dead properties (PROPPATCH): what clients store on a node, kept through moves.
CREATE TABLE files.properties (
    node_id   TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,                        -- '' for no namespace
    name      TEXT NOT NULL,
    prefix    TEXT,
    xml       BLOB,                                -- the value as raw XML
    PRIMARY KEY (node_id, namespace, name)
);
-- Shares: a node shared with a user, with the whole community, or by a public link.
CREATE TABLE files.shares (
    id            TEXT PRIMARY KEY CHECK (length(id) = 21),
    node_id       TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    space_id      TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    created_by    TEXT NOT NULL,
    target        TEXT        NOT NULL CHECK (target IN ('user', 'community', 'link')),
    grantee_id    TEXT,                               -- the user or community; NULL for a link
    token         TEXT UNIQUE,                        -- a link's secret; NULL otherwise
    password_hash TEXT,                               -- argon2 PHC string (links only)
    expires_at    TEXT,
    permission    TEXT        NOT NULL CHECK (permission IN ('read', 'write', 'upload_only')),
    may_reshare   INTEGER     NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    CHECK ((target = 'link') = (token IS NOT NULL)),
    CHECK ((target = 'link') = (grantee_id IS NULL)),
    CHECK (permission <> 'upload_only' OR target = 'link')
);
CREATE INDEX files.shares_node_idx ON shares (node_id);
CREATE INDEX files.shares_grantee_idx ON shares (grantee_id, target);
-- Resumable uploads (tus at /api/files/tus/, and socket uploads placed in a space).
-- A tus upload: where its bytes go, how many have arrived (the bytes themselves are in
-- data/uploads/tus/<id>.part), when it is abandoned; node_id/version_id once complete.
CREATE TABLE files.tus_uploads (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    space_id      TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    base_version  TEXT,
    device        TEXT,
    length        INTEGER NOT NULL,
    received      INTEGER NOT NULL,
    metadata      TEXT NOT NULL,                      -- Upload-Metadata as sent
    node_id       TEXT,
    version_id    TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX files.tus_uploads_expires_idx ON tus_uploads (expires_at);

-- A socket upload (media.uploads, which owns the transfer) whose bytes become a file here.
CREATE TABLE files.socket_uploads (
    upload_id     TEXT PRIMARY KEY,
    space_id      TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    base_version  TEXT,
    device        TEXT,
    created_at    TEXT NOT NULL
);
