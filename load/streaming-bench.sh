#!/usr/bin/env bash
# Streaming (Araci) figures on this machine (issue "Araci", Tests and numbers):
#   1. scan time of a library of FILES movie files (copies of one 2-second 320x240 H.264/AAC
#      MP4 under different names: each is probed by ffprobe and gets a poster and a thumbnail
#      strip), then a rescan with nothing changed, then one with 10 files touched;
#   2. time to the first HLS segment of a 60-second 1280x720 source (a device without H.264:
#      a transcode), cold, and to segment 9 (a seek: its own job);
#   3. chat p50/p99 (`taina-load rooms`, USERS users in rooms of 5 at 0.5 msg/s, DURATION s)
#      with the server idle and while one transcode runs (the player loop keeps asking for the
#      next segment of a 120-second 720p source), alternating, REPEATS times.
#
#   cargo build --release -p taina -p taina-load
#   load/streaming-bench.sh [--files 1000] [--users 500] [--duration 15] [--repeats 2]
#
# BENCH_TAINA_BIN overrides the binary (default target/release/taina). The server runs on a fresh
# temporary data directory (SQLite), with transcodes stopped after 3 s without a request (so
# the idle runs are idle); everything is removed at the end.
set -euo pipefail

FILES=1000 USERS=500 DURATION=15 REPEATS=2
while [ $# -gt 0 ]; do
  case $1 in
    --files) FILES=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_TAINA_BIN:-$ROOT/target/release/taina}
LOAD=$(dirname "$BIN")/taina-load
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first: cargo build --release -p taina -p taina-load" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "ffmpeg is needed" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID= PLAYER_PID=
cleanup() {
  [ -n "$PLAYER_PID" ] && kill "$PLAYER_PID" 2>/dev/null || true
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

ff() { ffmpeg -nostdin -v error -y "$@"; }
echo "making $FILES movie files and the long sources…" >&2
mkdir -p "$WORK/movies" "$WORK/long"
ff -f lavfi -i testsrc=duration=2:size=320x240:rate=25 -f lavfi -i sine=duration=2 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$WORK/one.mp4"
for i in $(seq -w 1 "$FILES"); do cp "$WORK/one.mp4" "$WORK/movies/Movie $i ($((1900 + 10#$i % 120))).mp4"; done
ff -f lavfi -i testsrc2=duration=120:size=1280x720:rate=25 -f lavfi -i sine=duration=120 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$WORK/long/Long (2024).mp4"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
mkdir -p "$WORK/data"
env TAINA_DATA_DIR=$WORK/data TAINA_LISTEN=127.0.0.1:$PORT TAINA_LOG=warn \
  TAINA_STREAMING__WATCH=false TAINA_STREAMING__TRANSCODE_IDLE_SECONDS=3 \
  TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
  TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
  TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
  "$BIN" serve 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/healthz" >/dev/null || { echo "the server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }

EMAIL=load-admin@example.org PASSWORD="load admin password"
curl -sf -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"community_name\":\"Load\"}" "$URL/api/auth/signup" >/dev/null
TOKEN=$(curl -sf -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" \
  "$URL/api/auth/signin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export URL TOKEN WORK

python3 - "$FILES" <<'PY'
import json, os, sys, time, urllib.request
url, token, work, files = os.environ["URL"], os.environ["TOKEN"], os.environ["WORK"], int(sys.argv[1])

def gql(query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{url}/graphql", body, {"content-type": "application/json", "authorization": f"Bearer {token}"})
    reply = json.load(urllib.request.urlopen(req, timeout=600))
    assert "errors" not in reply, reply
    return reply["data"]

def wait_scanned(library, before):
    while True:
        lib = [l for l in gql("{ libraries { id scanning scannedAt } }")["libraries"] if l["id"] == library][0]
        if not lib["scanning"] and lib["scannedAt"] and lib["scannedAt"] != before:
            return lib["scannedAt"]
        time.sleep(0.05)

def scan(library, before):
    started = time.monotonic()
    gql("mutation($i: ID!) { scanLibrary(id: $i) { id } }", {"i": library})
    at = wait_scanned(library, before)
    return time.monotonic() - started, at

started = time.monotonic()
library = gql("mutation($p: String!) { addLibrary(name: \"Movies\", path: $p, kind: MOVIES) { id } }",
              {"p": f"{work}/movies"})["addLibrary"]["id"]
at = wait_scanned(library, None)
first = time.monotonic() - started
count = gql("query($l: ID!) { libraryItems(libraryId: $l, first: 1) { totalCount } }", {"l": library})["libraryItems"]["totalCount"]
assert count == files, (count, files)
unchanged, at = scan(library, at)
for name in sorted(os.listdir(f"{work}/movies"))[:10]:
    os.utime(f"{work}/movies/{name}")
touched, at = scan(library, at)
print(f"scan of {files} files: first {first:.1f} s ({first / files * 1000:.1f} ms a file: ffprobe, poster, strip); "
      f"rescan unchanged {unchanged * 1000:.0f} ms; rescan with 10 touched {touched:.2f} s")

long = gql("mutation($p: String!) { addLibrary(name: \"Long\", path: $p, kind: MOVIES) { id } }",
           {"p": f"{work}/long"})["addLibrary"]["id"]
wait_scanned(long, None)
item = gql("query($l: ID!) { libraryItems(libraryId: $l) { nodes { id } } }", {"l": long})["libraryItems"]["nodes"][0]["id"]
info = gql("query($i: ID!, $p: JSON!) { playbackInfo(itemId: $i, deviceProfile: $p) { method url token } }",
           {"i": item, "p": {"containers": ["mp4"], "videoCodecs": ["vp9"], "audioCodecs": ["aac"]}})["playbackInfo"]
assert info["method"] == "TRANSCODE", info
base = f"{url}/api/streaming/items/{item}/hls/720p"
def fetch(n):
    t = time.monotonic()
    data = urllib.request.urlopen(f"{base}/{n}.ts?t={info['token']}", timeout=120).read()
    return time.monotonic() - t, len(data)
cold, size = fetch(0)
cached, _ = fetch(0)
seek, _ = fetch(9)
print(f"first HLS segment (720p, 6 s, cold): {cold * 1000:.0f} ms ({size / 1024:.0f} KiB); "
      f"cached {cached * 1000:.1f} ms; a seek to segment 9: {seek * 1000:.0f} ms")
with open(f"{work}/player.json", "w") as f:
    json.dump({"item": item, "token": info["token"], "base": base}, f)
PY

# The player: asks for each next segment of the long item as soon as it has the previous one,
# so one transcode runs the whole time (segments 10–19 again and again, their cache dropped
# each round so the encoder keeps working). Started as its own process, so killing it stops it.
cat >"$WORK/player.py" <<'PY'
import json, os, urllib.request
p = json.load(open(os.path.join(os.environ["WORK"], "player.json")))
variant = os.path.join(os.environ["WORK"], "data/streaming/cache", p["item"], "720p")
n = 10
while True:
    try:
        urllib.request.urlopen(f"{p['base']}/{n}.ts?t={p['token']}", timeout=120).read()
        n += 1
    except Exception:
        n = 10
    if n >= 20:
        n = 10
        for name in os.listdir(variant):
            if name.endswith(".ts") and int(name.split(".")[0]) >= 10:
                try:
                    os.remove(os.path.join(variant, name))
                except FileNotFoundError:
                    pass
PY

rooms() { # rooms NAME
  "$LOAD" --url "$URL" --json "$WORK/$1.json" rooms --users "$USERS" --room-size 5 --rate 0.5 \
    --duration "$DURATION" >"$WORK/$1.out" 2>&1 || { echo "taina-load failed: $(tail -5 "$WORK/$1.out")" >&2; exit 1; }
}
for n in $(seq 1 "$REPEATS"); do
  echo "repeat $n: idle" >&2
  rooms "idle-$n"
  echo "repeat $n: transcoding" >&2
  python3 "$WORK/player.py" & PLAYER_PID=$!
  sleep 2
  rooms "busy-$n"
  kill "$PLAYER_PID" 2>/dev/null || true; wait "$PLAYER_PID" 2>/dev/null || true; PLAYER_PID=
  # The job runs on until nobody has asked for a segment for the idle time (3 s here).
  sleep 6
done
python3 - "$WORK" "$REPEATS" <<'PY'
import json, pathlib, sys
work, repeats = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for n in range(1, repeats + 1):
    idle = json.loads((work / f"idle-{n}.json").read_text())["results"]
    busy = json.loads((work / f"busy-{n}.json").read_text())["results"]
    print(f"rooms, run {n}: idle p50 {idle['latency p50 ms']:.2f} / p99 {idle['latency p99 ms']:.2f} ms; "
          f"while transcoding p50 {busy['latency p50 ms']:.2f} / p99 {busy['latency p99 ms']:.2f} ms "
          f"({busy['latency p99 ms'] / idle['latency p99 ms']:.2f}x p99), lost {idle['lost']} / {busy['lost']}")
PY
