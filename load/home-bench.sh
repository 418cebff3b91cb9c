#!/usr/bin/env bash
# Smart-home (Ka'a) figures on this machine (issue "Ka'a", Tests and numbers):
#   1. sustained sensor ingest: `taina-load home` with ENTITIES sensors at each rate of RATES
#      states/s for DURATION s, over MQTT (published to Mosquitto) and over the socket (device
#      agents of 64 sensors, JSON and MessagePack pushes) — stored (a row each) and pushed to a
#      phoenix socket on home:, with the sent → push latency;
#   2. chat p50/p99 (`taina-load rooms`, USERS users in rooms of 5 at 0.5 msg/s, DURATION s)
#      with no sensor traffic and while INGEST states/s arrive, alternating, REPEATS times.
#
#   cargo build --release -p taina -p taina-load
#   load/home-bench.sh [--entities 1000] [--rates "250 500 1000 2000"] [--ingest 500]
#                      [--users 500] [--duration 15] [--repeats 2]
#
# Needs Debian's mosquitto (scripts/test installs it). TAINA_BIN overrides the binary (default
# target/release/taina). The server runs on a fresh temporary data directory (SQLite) with its
# own broker; everything is removed at the end.
set -euo pipefail

ENTITIES=1000 RATES="250 500 1000 2000" INGEST=500 USERS=500 DURATION=15 REPEATS=2
while [ $# -gt 0 ]; do
  case $1 in
    --entities) ENTITIES=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --ingest) INGEST=$2; shift 2 ;;
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
command -v mosquitto >/dev/null || { echo "mosquitto is needed (apt-get install mosquitto)" >&2; exit 1; }

WORK=$(mktemp -d)
chmod 755 "$WORK"
SERVER_PID= BROKER_PID= INGEST_PID=
cleanup() {
  [ -n "$INGEST_PID" ] && kill "$INGEST_PID" 2>/dev/null || true
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port)
# Started as root, mosquitto drops to its own user, which must read the config.
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n' "$MQTT_PORT" >"$WORK/mosquitto.conf"
chmod 644 "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
BROKER_PID=$!
MQTT=mqtt://127.0.0.1:$MQTT_PORT

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
mkdir -p "$WORK/data"
env TAINA_DATA_DIR=$WORK/data TAINA_LISTEN=127.0.0.1:$PORT TAINA_LOG=warn \
  TAINA_AUTOMATION__MQTT_URL=$MQTT TAINA_AUTOMATION__DISCOVERY_PREFIX=load \
  TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
  TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
  TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
  "$BIN" serve 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/healthz" >/dev/null || { echo "the server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }

# home JSON [scenario options…], rooms JSON: one run each, results written to JSON.
home() { local json=$1; shift; "$LOAD" --url "$URL" --server-pid "$SERVER_PID" --json "$json" home --entities "$ENTITIES" --mqtt-url "$MQTT" --prefix load "$@"; }
rooms() { "$LOAD" --url "$URL" --server-pid "$SERVER_PID" --json "$1" rooms --users "$USERS" --room-size 5 --rate 0.5 --duration "$DURATION"; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][sys.argv[2]])" "$@"; }

echo "== 1. ingest, $ENTITIES sensors"
printf '%-22s %-8s %-10s %-10s %-8s %-10s %-10s %-10s\n' via rate sent pushed lost "states/s" "p50 ms" "p99 ms"
for via in mqtt socket msgpack; do
  case $via in
    mqtt) args=() ;;
    socket) args=(--via socket) ;;
    msgpack) args=(--via socket --msgpack) ;;
  esac
  for rate in $RATES; do
    j=$WORK/home-$via-$rate.json
    home "$j" "${args[@]}" --rate "$rate" --duration "$DURATION" >/dev/null
    printf '%-22s %-8s %-10s %-10s %-8s %-10.0f %-10.2f %-10.2f\n' "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['params']['via'])" "$j")" \
      "$rate" "$(field "$j" 'states sent')" "$(field "$j" 'states pushed')" "$(field "$j" lost)" \
      "$(field "$j" 'states per second')" "$(field "$j" 'sent to push p50 ms')" "$(field "$j" 'sent to push p99 ms')"
  done
done

echo "== 2. chat in rooms ($USERS users, 5 per room, 0.5 msg/s): quiet vs $INGEST sensor states/s"
printf '%-8s %-8s %-10s %-10s %-8s\n' run ingest "p50 ms" "p99 ms" lost
for i in $(seq "$REPEATS"); do
  for with in no yes; do
    if [ "$with" = yes ]; then
      home "$WORK/ingest.json" --rate "$INGEST" --duration $((DURATION + 10)) >"$WORK/ingest.log" 2>&1 &
      INGEST_PID=$!
      sleep 5  # past its discovery check, into the states
    fi
    rooms "$WORK/rooms.json" >/dev/null
    if [ "$with" = yes ]; then wait "$INGEST_PID" || true; INGEST_PID=; fi
    printf '%-8s %-8s %-10.2f %-10.2f %-8s\n' "$i" "$with" "$(field "$WORK/rooms.json" 'latency p50 ms')" \
      "$(field "$WORK/rooms.json" 'latency p99 ms')" "$(field "$WORK/rooms.json" lost)"
  done
done
