#!/usr/bin/env bash
# Message search at scale: a fresh Tainá (release build) on SQLite, and on PostgreSQL when
# --pg URL names an empty database, is seeded with --messages messages through the REST API
# and then timed with `taina-load search` (common words, rare words, phrases over GraphQL).
# Usage: load/search-bench.sh [--messages 1000000] [--pg postgres://…/db] [--before BIN]
#   --before BIN: also time sending (`taina-load rooms`, 1,000 users) on an older build, to
#   compare the send path with and without the search index.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=1000000
pg=
before=
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift 2 ;;
    --pg) pg=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# BIN_DIR: binaries built before (the benchmark then builds nothing).
if [ -n "${BIN_DIR:-}" ]; then
  bin=$BIN_DIR
else
  cargo build --release -q -p taina -p taina-load
  bin=target/release
fi
out=${BENCH_OUT:-/tmp/taina-search-bench}
mkdir -p "$out"
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

start() { # name, binary, database url (empty: SQLite)
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  env -i PATH="$PATH" HOME="$HOME" \
    TAINA_DATA_DIR="$work/data-$1" TAINA_LISTEN="127.0.0.1:$port" TAINA_LOG=warn \
    ${3:+TAINA_DATABASE_URL=$3} \
    TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
    TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
    TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
    TAINA_HTTP__MAX_CONNECTIONS_PER_ADDRESS=100000 \
    "$2" serve >"$work/server-$1.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start; see $work/server-$1.log" >&2
  cat "$work/server-$1.log" >&2
  exit 1
}
# Every seeded message has an away participant: the notifier must have kept up with them.
lagged() {
  echo "$1: notifier lag warnings: $(grep -c 'notifier lagged' "$work/server-$1.log" || true)"
}
load() { "$bin/taina-load" --url "http://127.0.0.1:$port" --server-pid "$server" "$@"; }

start sqlite "$bin/taina"
load --json "$out/search-sqlite.json" search --messages "$messages"
du -sh "$work/data-sqlite" | sed 's/^/data directory: /'
lagged sqlite
if [ -n "$pg" ]; then
  start postgres "$bin/taina" "$pg"
  load --json "$out/search-postgres.json" search --messages "$messages"
  lagged postgres
fi
# The send path with the index in place, and (with --before) without it, in the same run.
start rooms-now "$bin/taina"
load --json "$out/rooms-now.json" rooms --users 1000 --duration 20
if [ -n "$before" ]; then
  start rooms-before "$before"
  load --json "$out/rooms-before.json" rooms --users 1000 --duration 20
fi
echo "results in $out"
