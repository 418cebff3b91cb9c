-- Media (Jaci photos): files, albums, album membership, tags, the processing job queue and
-- resumable uploads, in the `media` schema.

CREATE TABLE media.files (
    id                VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id      VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    user_id           VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    filename          TEXT        NOT NULL,                 -- sanitised display name
    original_filename TEXT        NOT NULL,                 -- as the client named it (sanitised)
    file_path         TEXT        NOT NULL,                 -- object-store key of the content
    content_hash      CHAR(64)    NOT NULL,                 -- hex SHA-256 of the bytes
    mime_type         TEXT        NOT NULL,                 -- from the content, never the client
    file_size_bytes   BIGINT      NOT NULL CHECK (file_size_bytes >= 0),
    width             INTEGER,
    height            INTEGER,
    duration_ms       BIGINT,
    taken_at          TIMESTAMPTZ,
    metadata          JSONB       NOT NULL DEFAULT '{}',    -- EXIF and probe results
    processing_status TEXT        NOT NULL DEFAULT 'pending'
                      CHECK (processing_status IN ('pending', 'ready', 'failed', 'unprocessed')),
    processing_error  TEXT,
    has_renditions    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (community_id, content_hash)
);
CREATE INDEX files_user_created_idx ON media.files (user_id, created_at DESC);
CREATE INDEX files_community_mime_idx ON media.files (community_id, mime_type);
CREATE INDEX files_community_timeline_idx ON media.files (community_id, taken_at DESC, created_at DESC);

CREATE TABLE media.file_tags (
    file_id VARCHAR(21) NOT NULL REFERENCES media.files (id) ON DELETE CASCADE,
    tag     TEXT        NOT NULL,
    PRIMARY KEY (file_id, tag)
);
CREATE INDEX file_tags_tag_idx ON media.file_tags (tag);

CREATE TABLE media.albums (
    id            VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id  VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    owner_id      VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    name          TEXT        NOT NULL,
    slug          TEXT        NOT NULL,
    description   TEXT,
    is_public     BOOLEAN     NOT NULL DEFAULT FALSE,
    cover_file_id VARCHAR(21) REFERENCES media.files (id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (community_id, slug)
);

CREATE TABLE media.album_files (
    album_id VARCHAR(21) NOT NULL REFERENCES media.albums (id) ON DELETE CASCADE,
    file_id  VARCHAR(21) NOT NULL REFERENCES media.files (id) ON DELETE CASCADE,
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (album_id, file_id)
);
CREATE INDEX album_files_file_idx ON media.album_files (file_id);

CREATE TABLE media.jobs (
    id         VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    file_id    VARCHAR(21) NOT NULL REFERENCES media.files (id) ON DELETE CASCADE,
    status     TEXT        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts   INTEGER     NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_status_idx ON media.jobs (status, created_at);

CREATE TABLE media.uploads (
    id             VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id   VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    user_id        VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    filename       TEXT        NOT NULL,
    size_bytes     BIGINT      NOT NULL CHECK (size_bytes > 0),
    sha256         CHAR(64)    NOT NULL,
    received_bytes BIGINT      NOT NULL DEFAULT 0,
    status         TEXT        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'failed')),
    file_id        VARCHAR(21) REFERENCES media.files (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX uploads_user_idx ON media.uploads (user_id);
