#!/usr/bin/env python3
"""Pages SQLite writes to its write-ahead log per chat message stored, by batch size.

Usage: load/sqlite_pages.py CHAT_DB [--variant NAME]...

CHAT_DB is the `chat.db` of a fresh data directory (start `taina serve` once with an empty
`TAINA_DATA_DIR` and stop it): the real schema, triggers and indexes of this build. The script
works on copies. It stores messages into 1,000 conversations the way group commit does (one
`INSERT … SELECT last_seq + 1` per message, N messages per transaction), with the automatic
checkpoint off, and reports the log's growth per message. Each message goes to a random
conversation, so every index led by the conversation (or by a random id) dirties its own page.

Variants try a schema change on the copy before measuring (see VARIANTS).
"""
import argparse
import os
import random
import shutil
import sqlite3
import string
import tempfile
import time

VARIANTS = {
    "as-is": [],
    "covering-unread-index": [
        "CREATE INDEX messages_unread_idx ON messages (conversation_id, seq, sender_id, deleted_at)"
    ],
    "full-thread-index": [
        "DROP INDEX messages_thread_idx",
        "CREATE INDEX messages_thread_idx ON messages (thread_root, seq)",
    ],
    "no-fts": ["DROP TRIGGER messages_fts_insert"],
}
WORDS = "casa sol rio mar lua vento chuva terra fogo pedra".split()


def nanoid() -> str:
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(21))


def measure(source: str, statements: list, batch: int, conversations: int, messages: int):
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "chat.db")
        shutil.copy(source, path)
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        for statement in statements:
            db.execute(statement)
        ids = [nanoid() for _ in range(conversations)]
        db.execute("BEGIN")
        for id in ids:
            db.execute(
                "INSERT INTO conversations (id, community_id, kind, epoch, created_at, updated_at) "
                "VALUES (?, 'community0000000000000', 'group', 'epoch', '2026-12-07', '2026-12-07')",
                (id,),
            )
        db.execute("COMMIT")

        def store(n: int):
            conversation = random.choice(ids)
            db.execute(
                "INSERT INTO messages (id, conversation_id, sender_id, body, seq, created_at, "
                "search_terms) SELECT ?, ?, ?, 'hello world', last_seq + 1, ?, ? "
                "FROM conversations WHERE id = ?",
                (
                    nanoid(),
                    conversation,
                    "user%d" % random.randrange(5000),
                    "2026-12-07T00:00:00.%06d+00:00" % n,
                    " ".join(random.sample(WORDS, 3)) + " " + nanoid()[:6],
                    conversation,
                ),
            )

        def run(count: int):
            for n in range(count):
                if n % batch == 0:
                    db.execute("BEGIN")
                store(n)
                if n % batch == batch - 1 or n == count - 1:
                    db.execute("COMMIT")

        run(conversations * 3)  # every conversation has history, as on a running server
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        started = time.perf_counter()
        run(messages)
        elapsed = time.perf_counter() - started
        wal = os.path.getsize(path + "-wal")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
        return wal / messages / page_size, messages / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chat_db")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--batches", default="1,5,25")
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    random.seed(7)
    print("| variant | messages per transaction | WAL pages per message | messages/s (this script, one thread) |")
    print("|---|---|---|---|")
    for batch in (int(b) for b in args.batches.split(",")):
        for name in args.variant or ["as-is"]:
            pages, rate = measure(args.chat_db, VARIANTS[name], batch, 1000, args.messages)
            print(f"| {name} | {batch} | {pages:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
