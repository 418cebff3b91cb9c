-- Nothing changes on PostgreSQL: offsets are assigned by UPDATE … RETURNING on the
-- conversation row inside the message's transaction, whose row lock orders concurrent
-- writers (SQLite's migration 0004 adds a trigger for its single-statement insert instead).
SELECT 1;
