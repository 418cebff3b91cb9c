#!/usr/bin/env bash
# Files transfer throughput on loopback: one file uploaded and downloaded over WebDAV (curl),
# uploaded over tus (the stock tus-js-client) and over the socket (`createFileUpload` +
# `upload:{id}`, the stock phoenix client), each download by curl; prints MiB/s per path.
#
#   cargo build --release -p taina && (cd tests/js && npm ci)
#   load/files-bench.sh [SIZE_MIB=1024]
#
# BENCH_TAINA_BIN overrides the binary (default target/release/taina). The server runs on a fresh
# temporary data directory (SQLite) with media.max_upload_bytes raised to fit the file; the
# data directory and the file are removed at the end.
set -euo pipefail

SIZE_MIB=${1:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_TAINA_BIN:-$ROOT/target/release/taina}
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release -p taina" >&2; exit 1; }
[ -d "$ROOT/tests/js/node_modules/tus-js-client" ] || { echo "run npm ci in tests/js first" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
mkdir -p "$WORK/data"
# Unknown TAINA_ variables make the server refuse to start: the binary is named by BENCH_TAINA_BIN.
# Upload chunks count against the socket's message rate (realtime.messages_per_second, 50 by
# default: 50 MiB/s with 1 MiB chunks); it is lifted as in load/bench.sh, so the figure is the
# transfer path's, comparable with media's socket upload figure.
env TAINA_DATA_DIR=$WORK/data TAINA_LISTEN=127.0.0.1:$PORT TAINA_LOG=warn \
  TAINA_MEDIA__MAX_UPLOAD_BYTES=$(( (SIZE_MIB + 64) * 1024 * 1024 )) \
  TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
  "$BIN" serve 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/healthz" >/dev/null || { echo "the server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
EMAIL=bench@example.org
PASSWORD="a long bench password"
curl -sf -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"community_name\":\"Bench\"}" "$URL/api/auth/signup" >/dev/null
TOKEN=$(curl -sf -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" \
  "$URL/api/auth/signin" | json 'd["token"]')
USER_ID=$(curl -sf -H "authorization: Bearer $TOKEN" "$URL/api/auth/me" | json 'd["id"]')
gql() {
  curl -sf -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d "$1" "$URL/graphql"
}
SPACE=$(gql '{"query":"{ spaces { id kind } }"}' | json '[s["id"] for s in d["data"]["spaces"] if s["kind"]=="PERSONAL"][0]')
SECRET=$(gql '{"query":"mutation { createAppPassword(name: \"bench\") { id name secret } }"}' \
  | json 'd["data"]["createAppPassword"]["secret"]')

FILE=$WORK/file.bin
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$FILE"
BYTES=$(stat -c %s "$FILE")
mibs() { python3 -c "print(f'{$BYTES / 1048576 / $1:.1f}')"; }

# Downloads a node's content with the token; prints the seconds.
download_node() {
  curl -sf -o /dev/null -w '%{time_total}' -H "authorization: Bearer $TOKEN" "$URL/api/files/nodes/$1/content"
}

DAV=$URL/dav/files/$USER_ID
dav_up=$(curl -sf -o /dev/null -w '%{time_total}' -u "$EMAIL:$SECRET" -T "$FILE" "$DAV/dav.bin")
dav_down=$(curl -sf -o "$WORK/back.bin" -w '%{time_total}' -u "$EMAIL:$SECRET" "$DAV/dav.bin")
cmp -s "$FILE" "$WORK/back.bin" || { echo "WebDAV: the bytes differ" >&2; exit 1; }
rm -f "$WORK/back.bin"

read -r tus_up tus_node < <(node "$ROOT/load/files-bench.mjs" tus "$URL" "$TOKEN" "$SPACE" "$FILE" tus.bin)
tus_down=$(download_node "$tus_node")
read -r socket_up socket_node < <(node "$ROOT/load/files-bench.mjs" socket "$URL" "$TOKEN" "$SPACE" "$FILE" socket.bin)
socket_down=$(download_node "$socket_node")

echo
echo "files throughput on loopback, one ${SIZE_MIB} MiB file ($(basename "$BIN"), SQLite, $(nproc) CPUs)"
printf '%-40s %10s %10s %12s\n' path "upload s" "MiB/s" "download MiB/s"
printf '%-40s %10.2f %10s %12s\n' "WebDAV (curl -T / GET, Basic)" "$dav_up" "$(mibs "$dav_up")" "$(mibs "$dav_down")"
printf '%-40s %10.2f %10s %12s\n' "tus (tus-js-client, 64 MiB PATCHes)" "$tus_up" "$(mibs "$tus_up")" "$(mibs "$tus_down")"
printf '%-40s %10.2f %10s %12s\n' "socket (upload:{id}, 1 MiB x 8 in flight)" "$socket_up" "$(mibs "$socket_up")" "$(mibs "$socket_down")"
echo "(downloads of the tus and socket files: GET /api/files/nodes/{id}/content with curl)"
