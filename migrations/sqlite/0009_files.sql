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
