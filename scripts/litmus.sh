#!/usr/bin/env bash
# Runs the litmus WebDAV compliance suite (Debian package `litmus`) against Tainá's WebDAV at
# /dav/files/{user_id}/, signed in with an app password, and prints each group's counts.
# Usage: scripts/litmus.sh [TAINA_BIN] [GROUPS…]   (default: target/debug/taina; basic copymove props locks)
# With LITMUS_DATABASE_URL (a PostgreSQL database URL) the server runs on it instead of SQLite.
# Exits non-zero when any test of the groups run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/taina}
shift || true
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(basic copymove props locks)
command -v litmus >/dev/null || { echo "litmus is not installed (apt-get install litmus)" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
dbenv=()
[ -n "${LITMUS_DATABASE_URL:-}" ] && dbenv=(TAINA_DATABASE_URL="$LITMUS_DATABASE_URL")
env -i PATH="$PATH" HOME="$HOME" TAINA_DATA_DIR="$work/data" TAINA_LISTEN="127.0.0.1:$port" \
  TAINA_LOG=warn "${dbenv[@]}" "$bin" serve >"$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done

email=litmus@example.org password="litmus account password"
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
curl -sf -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$password\"}" \
  "$base/api/auth/signup" >/dev/null
signin=$(curl -sf -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$base/api/auth/signin")
token=$(echo "$signin" | json 'd["token"]')
user_id=$(echo "$signin" | json 'd["user"]["id"]')
secret=$(curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"query":"mutation { createAppPassword(name: \"litmus\") { id name secret } }"}' "$base/graphql" |
  json 'd["data"]["createAppPassword"]["secret"]')

status=0
for group in "${groups[@]}"; do
  out=$(cd "$work" && TESTS="$group" litmus "$base/dav/files/$user_id/" "$email" "$secret" 2>&1) || true
  summary=$(echo "$out" | grep -E "^<- summary for" || echo "<- summary for \`$group': no summary (see below)")
  echo "$summary"
  echo "$out" | grep -E "FAIL|WARNING|SKIPPED" | sed 's/^/   /' || true
  echo "$summary" | grep -q " 0 failed" || { status=1; echo "$out" | tail -30; }
done
exit $status
