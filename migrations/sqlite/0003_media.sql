-- Media (Jaci photos): files, albums, album membership, tags, the processing job queue and
-- resumable uploads. On SQLite `media` is an attached database file: references to users and
-- communities are kept by the application there.

CREATE TABLE media.files (
    id                TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id      TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    filename          TEXT        NOT NULL,                 -- sanitised display name
    original_filename TEXT        NOT NULL,                 -- as the client named it (sanitised)
    file_path         TEXT        NOT NULL,                 -- object-store key of the content
    content_hash      TEXT    NOT NULL,                 -- hex SHA-256 of the bytes
    mime_type         TEXT        NOT NULL,                 -- from the content, never the client
    file_size_bytes   INTEGER      NOT NULL CHECK (file_size_bytes >= 0),
    width             INTEGER,
    height            INTEGER,
    duration_ms       INTEGER,
    taken_at          TEXT,
    metadata          TEXT       NOT NULL DEFAULT '{}',    -- EXIF and probe results
    processing_status TEXT        NOT NULL DEFAULT 'pending'
                      CHECK (processing_status IN ('pending', 'ready', 'failed', 'unprocessed')),
    processing_error  TEXT,
    has_renditions    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (community_id, content_hash)
);
CREATE INDEX media.files_user_created_idx ON files (user_id, created_at DESC);
CREATE INDEX media.files_community_mime_idx ON files (community_id, mime_type);
CREATE INDEX media.files_community_timeline_idx ON files (community_id, taken_at DESC, created_at DESC);

CREATE TABLE media.file_tags (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    tag     TEXT        NOT NULL,
    PRIMARY KEY (file_id, tag)
);
CREATE INDEX media.file_tags_tag_idx ON file_tags (tag);

CREATE TABLE media.albums (
    id            TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id  TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    name          TEXT        NOT NULL,
    slug          TEXT        NOT NULL,
    description   TEXT,
    is_public     BOOLEAN     NOT NULL DEFAULT FALSE,
    cover_file_id TEXT REFERENCES files (id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (community_id, slug)
);

CREATE TABLE media.album_files (
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    file_id  TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    PRIMARY KEY (album_id, file_id)
);
CREATE INDEX media.album_files_file_idx ON album_files (file_id);

CREATE TABLE media.jobs (
    id         TEXT PRIMARY KEY CHECK (length(id) = 21),
    file_id    TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    status     TEXT        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts   INTEGER     NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX media.jobs_status_idx ON jobs (status, created_at);

CREATE TABLE media.uploads (
    id             TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id   TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    filename       TEXT        NOT NULL,
    size_bytes     INTEGER      NOT NULL CHECK (size_bytes > 0),
    sha256         TEXT    NOT NULL,
    received_bytes INTEGER      NOT NULL DEFAULT 0,
    status         TEXT        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'failed')),
    file_id        TEXT REFERENCES files (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    expires_at     TEXT NOT NULL
);
CREATE INDEX media.uploads_user_idx ON uploads (user_id);
