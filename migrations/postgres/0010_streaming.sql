-- Streaming (Araci): library roots per community, the items a scan finds (movie, show → season
-- → episode, album → track, video) with what ffprobe said, and per-user watch progress and
-- history, in the `streaming` schema (created by 0001).

CREATE TABLE streaming.libraries (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    path         TEXT        NOT NULL,                 -- absolute, on the server's disk
    kind         TEXT        NOT NULL CHECK (kind IN ('movies', 'shows', 'music', 'videos')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    scanned_at   TIMESTAMPTZ,                          -- end of the last finished scan
    UNIQUE (community_id, path)
);

CREATE TABLE streaming.items (
    id             VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    library_id     VARCHAR(21) NOT NULL REFERENCES streaming.libraries (id) ON DELETE CASCADE,
    parent_id      VARCHAR(21) REFERENCES streaming.items (id) ON DELETE CASCADE,
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
    size_bytes     BIGINT,
    mtime_ms       BIGINT,
    duration_ms    BIGINT,
    container      TEXT,
    probe          TEXT,                               -- JSON: ffprobe's streams and tags
    sidecars       TEXT,                               -- JSON: .srt/.vtt beside the file
    has_poster     INTEGER     NOT NULL DEFAULT 0,
    strip_interval_ms BIGINT,                          -- set when a thumbnail strip exists
    missing_since  TIMESTAMPTZ,                        -- the file was not found by a scan
    added_at       TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX items_path_idx ON streaming.items (library_id, path) WHERE path IS NOT NULL;
CREATE UNIQUE INDEX items_group_idx ON streaming.items (library_id, group_key) WHERE group_key IS NOT NULL;
CREATE INDEX items_listing_idx ON streaming.items (library_id, kind, sort_title);
CREATE INDEX items_parent_idx ON streaming.items (parent_id, season_number, episode_number);
CREATE INDEX items_added_idx ON streaming.items (library_id, added_at);

CREATE TABLE streaming.progress (
    user_id        VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    item_id        VARCHAR(21) NOT NULL REFERENCES streaming.items (id) ON DELETE CASCADE,
    position_ms    BIGINT      NOT NULL CHECK (position_ms >= 0),
    duration_ms    BIGINT,
    played         INTEGER     NOT NULL DEFAULT 0,
    play_count     INTEGER     NOT NULL DEFAULT 0,
    device         TEXT,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX progress_recent_idx ON streaming.progress (user_id, updated_at);

CREATE TABLE streaming.history (
    id          VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    user_id     VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    item_id     VARCHAR(21) NOT NULL REFERENCES streaming.items (id) ON DELETE CASCADE,
    position_ms BIGINT      NOT NULL,
    played      INTEGER     NOT NULL,
    device      TEXT,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX history_user_idx ON streaming.history (user_id, at);
