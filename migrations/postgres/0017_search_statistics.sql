-- Full-text statistics for every lexeme a community writes, not only the commonest hundred:
-- with the default target a rare word was estimated as common, and searching for it walked
-- every message by date (1.5 s over 1,000,000 messages) instead of reading the GIN index
-- (7 ms). See docs/performance.md, "Message search".
ALTER TABLE chat.messages ALTER COLUMN search_vector SET STATISTICS 10000;
ANALYZE chat.messages;
