-- The photo timeline's order is now an index order, so a page of `photos` stops after its
-- rows instead of sorting the community's photos (docs/performance.md, "HTTP API latency").
CREATE INDEX files_community_taken_idx
    ON media.files (community_id, (COALESCE(taken_at, created_at)) DESC, id DESC);
-- Ordered by taken_at, then created_at: no query reads in that order.
DROP INDEX media.files_community_timeline_idx;
-- Only replies are looked up by thread: the index no longer holds an entry for every other
-- message (docs/performance.md, "Pages written per message").
DROP INDEX chat.messages_thread_idx;
CREATE INDEX messages_thread_idx ON chat.messages (thread_root, seq) WHERE thread_root IS NOT NULL;
