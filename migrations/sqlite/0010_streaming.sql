-- Streaming (Araci): library roots per community, the items a scan finds (movie, show → season
-- → episode, album → track, video) with what ffprobe said, and per-user watch progress and
-- history. On SQLite `streaming` is an attached database file: references to users and
-- communities are kept by the application.

CREATE TABLE streaming.libraries (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id TEXT NOT NULL,
    name         TEXT        NOT NULL,
    path         TEXT        NOT NULL,                 -- absolute, on the server's disk
    kind         TEXT        NOT NULL CHECK (kind IN ('movies', 'shows', 'music', 'videos')),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    scanned_at   TEXT,                          -- end of the last finished scan
    UNIQUE (community_id, path)
);

CREATE TABLE streaming.items (
    id             TEXT PRIMARY KEY CHECK (length(id) = 21),
    library_id     TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    parent_id      TEXT REFERENCES items (id) ON DELETE CASCADE,
    kind           TEXT        NOT NULL
                   CHECK (kind IN ('movie', 'show', 'season', 'episode', 'album', 'track', 'video')),
    title          TEXT        NOT NULL,
    sort_title     TEXT        NOT NULL,               -- lower-cased, leading article dropped
    year           INTEGER,
    overview       TEXT,
    season_number  INTEGER,
    episode_number INTEGER,
    episode_end    INTEGER,                            -- last episode of a multi-episode file
    disc_number    INTEGER,
    track_number   INTEGER,
    artist         TEXT,
    group_key      TEXT,                               -- shows, seasons, albums: found again by it
    path           TEXT,                               -- files: relative to the library's root
    size_bytes     INTEGER,
    mtime_ms       INTEGER,
    duration_ms    INTEGER,
    container      TEXT,
    probe          TEXT,                               -- JSON: ffprobe's streams and tags
    sidecars       TEXT,                               -- JSON: .srt/.vtt beside the file
    has_poster     INTEGER     NOT NULL DEFAULT 0,
    strip_interval_ms INTEGER,                          -- set when a thumbnail strip exists
    missing_since  TEXT,                        -- the file was not found by a scan
    added_at       TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX streaming.items_path_idx ON items (library_id, path) WHERE path IS NOT NULL;
CREATE UNIQUE INDEX streaming.items_group_idx ON items (library_id, group_key) WHERE group_key IS NOT NULL;
CREATE INDEX streaming.items_listing_idx ON items (library_id, kind, sort_title);
CREATE INDEX streaming.items_parent_idx ON items (parent_id, season_number, episode_number);
CREATE INDEX streaming.items_added_idx ON items (library_id, added_at);

CREATE TABLE streaming.progress (
    user_id        TEXT NOT NULL,
    item_id        TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    position_ms    INTEGER      NOT NULL CHECK (position_ms >= 0),
    duration_ms    INTEGER,
    played         INTEGER     NOT NULL DEFAULT 0,
    play_count     INTEGER     NOT NULL DEFAULT 0,
    device         TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX streaming.progress_recent_idx ON progress (user_id, updated_at);

CREATE TABLE streaming.history (
    id          TEXT PRIMARY KEY CHECK (length(id) = 21),
    user_id     TEXT NOT NULL,
    item_id     TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    position_ms INTEGER      NOT NULL,
    played      INTEGER     NOT NULL,
    device      TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX streaming.history_user_idx ON history (user_id, at);
