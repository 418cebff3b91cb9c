-- PostgreSQL only (its planner's statistics for the full-text column); SQLite's FTS5 index
-- needs nothing. The number is kept in step with postgres/.
SELECT 1;
