-- Indexes for the two slowest reads of `taina-load http` (docs/performance.md, "HTTP API
-- latency"). Unread counts read only the index, not every message row after the read
-- position; the photo timeline's order is an index order, so a page stops after its rows
-- instead of sorting the community's photos.
CREATE INDEX messages_unread_idx ON chat.messages (conversation_id, seq) INCLUDE (sender_id, deleted_at);
CREATE INDEX files_community_taken_idx
    ON media.files (community_id, (COALESCE(taken_at, created_at)) DESC, id DESC);
-- Ordered by taken_at, then created_at: no query reads in that order.
DROP INDEX media.files_community_timeline_idx;
