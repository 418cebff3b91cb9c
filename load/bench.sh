#!/usr/bin/env bash
# Runs taina-load's scenarios against Tainá and, interleaved in the same run on loopback,
# against the peers a user might pick instead: the reference graphql-ws server and a
# Socket.IO server (npm, load/peers/), plus the floor (the minimal tokio-tungstenite broadcast
# server in taina-load). Prints every figure as a ratio; JSON results and SVG latency charts
# are copied to $BENCH_OUT (default /tmp/taina-bench-results).
# Usage: load/bench.sh [--quick]   (--quick: a few hundred connections, for CI's smoke run)
# BENCH_TAINA_CONFIG=FILE runs Tainá with that configuration file (deploy/taina-pi.toml, say).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}

if [ "$quick" = "--quick" ]; then
  # The same feature set as `cargo test --workspace` (dev-dependencies included), so after the
  # test suite this builds only the two binaries instead of recompiling the server.
  cargo build -q --workspace --bins --tests
  bin=target/debug
else
  cargo build --release -q -p taina -p taina-load
  bin=target/release
fi
command -v node >/dev/null || { echo "bench.sh needs Node.js (>= 20) and npm for the peer servers" >&2; exit 1; }
(cd load/peers && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing is listening on port $1; see $work/*.log" >&2
  exit 1
}
port=$(free_port)
floor_port=$(free_port)
gql_port=$(free_port)
sio_port=$(free_port)

# Limits meant for people are lifted for the load generator (it signs up users and opens
# thousands of sockets from a few addresses). Each call starts a fresh server with its own data
# directory, so memory is measured from a clean start.
server=
start_taina() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  env -i PATH="$PATH" HOME="$HOME" \
    TAINA_DATA_DIR="$work/data-$1" TAINA_LISTEN="127.0.0.1:$port" TAINA_LOG=warn \
    TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
    TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
    TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
    TAINA_REALTIME__MAX_CHANNELS_PER_SOCKET=100 \
    "$bin/taina" ${BENCH_TAINA_CONFIG:+--config "$BENCH_TAINA_CONFIG"} serve >"$work/server-$1.log" 2>&1 &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "Tainá did not become ready; see $work/server-$1.log" >&2
  exit 1
}
start_taina main
"$bin/taina-load" floor --listen "127.0.0.1:$floor_port" >"$work/floor.log" 2>&1 &
floor=$!
pids+=("$floor")
node load/peers/graphql-ws-server.mjs "$gql_port" >"$work/graphql-ws.log" 2>&1 &
gql=$!
pids+=("$gql")
node load/peers/socketio-server.mjs "$sio_port" >"$work/socketio.log" 2>&1 &
sio=$!
pids+=("$sio")
for p in "$floor_port" "$gql_port" "$sio_port"; do wait_for_port "$p"; done

out="$work/results"
mkdir -p "$out"
load() { "$bin/taina-load" --url "http://127.0.0.1:$port" "$@"; }
# on TARGET SCENARIO ARGS...: the scenario against Tainá (taina, taina-mux, taina-graphql) or a peer.
on() {
  local target=$1 scenario=$2
  shift 2
  case $target in
    taina) load "$scenario" --server-pid "$server" "$@" ;;
    taina-mux) load "$scenario" --server-pid "$server" --mode mux "$@" ;;
    taina-graphql) load "$scenario" --server-pid "$server" --mode graphql "$@" ;;
    floor) load "$scenario" --server-pid "$floor" --target floor --peer-url "ws://127.0.0.1:$floor_port/" "$@" ;;
    graphql-ws) load "$scenario" --server-pid "$gql" --target graphql-ws --peer-url "ws://127.0.0.1:$gql_port/graphql" "$@" ;;
    socketio) load "$scenario" --server-pid "$sio" --target socketio --peer-url "ws://127.0.0.1:$sio_port" "$@" ;;
  esac
}

if [ "$quick" = "--quick" ]; then
  load connect --connections 200 --rate 500 --json "$out/connect.json"
  load connect --connections 100 --rate 500 --mode graphql --json "$out/connect-graphql.json"
  load connect --connections 100 --rate 500 --mode mux --json "$out/connect-mux.json"
  for t in taina graphql-ws socketio; do
    on "$t" idle --connections 200 --hold 1 --json "$out/idle-$t.json"
  done
  for t in taina taina-mux floor graphql-ws socketio; do
    on "$t" fanout --subscribers 200 --rate 50 --duration 2 --json "$out/fanout-$t.json" --chart "$out/fanout-$t.svg"
  done
  for t in taina taina-mux taina-graphql graphql-ws socketio; do
    on "$t" rooms --users 20 --room-size 5 --rate 2 --duration 2 --json "$out/rooms-$t.json"
  done
  load churn --clients 100 --missed 10 --json "$out/churn.json"
  load transfer --mib 2 --samples 50 --json "$out/transfer.json"
  load http --clients 10 --duration 2 --members 5 --conversations 5 --messages 20 --photos 5 --json "$out/http.json"
  python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
r = {p.stem: json.loads(p.read_text())["results"] for p in out.glob("*.json")}
for name in ("connect", "connect-graphql", "connect-mux"):
    assert r[name]["failed"] == 0, (name, r[name])
for name, v in r.items():
    if name.startswith("idle-"):
        assert v["connected"] == 200 and v["round trips answered (of 50)"] == 50, (name, v)
    if name.startswith(("fanout-", "rooms-")):
        assert v["lost"] == 0 and v["latency samples"] > 0, (name, v)
assert r["churn"]["exactly the missed messages, once, in order"] == 100, r["churn"]
assert r["transfer"]["upload MiB/s"] > 0 and r["transfer"]["streamed MiB"] > 0, r["transfer"]
assert r["http"]["errors"] == 0 and all(r["http"][f"{k} samples"] > 0 for k in ("GET messages", "GraphQL photos", "GraphQL conversations")), r["http"]
svg = (out / "fanout-taina.svg").read_text()
assert svg.startswith("<svg") and "<polyline" in svg, "no latency chart"
print(f"smoke run: {len(r)} scenario runs on Tainá and its peers completed with no loss")
PY
  exit 0
fi

echo "== idle: memory per connection (each Tainá mode on a fresh server)"
for t in taina taina-graphql taina-mux; do
  start_taina "idle-$t"
  on "$t" idle --connections 10000 --hold 3 --json "$out/idle-$t.json"
done
for t in graphql-ws socketio; do
  on "$t" idle --connections 10000 --hold 3 --json "$out/idle-$t.json"
done
start_taina main
for n in 1000 5000 10000; do
  for round in 1 2; do
    for t in taina floor graphql-ws socketio; do
      echo "== fanout $n subscribers, as fast as possible, $t (round $round)"
      on "$t" fanout --subscribers "$n" --rate 0 --duration 5 --json "$out/fanout-$n-max-$t-$round.json"
    done
  done
done
for t in taina floor graphql-ws socketio; do
  echo "== fanout at a fixed 20,000 deliveries per second (1000 subscribers x 20/s), $t"
  on "$t" fanout --subscribers 1000 --rate 20 --duration 10 --json "$out/fanout-fixed-$t.json" --chart "$out/fanout-fixed-$t.svg"
done
for t in taina taina-mux taina-graphql graphql-ws socketio; do
  echo "== rooms: 1000 users in rooms of 5, 1 message/s each, $t"
  on "$t" rooms --users 1000 --room-size 5 --rate 1 --duration 10 --json "$out/rooms-$t.json" --chart "$out/rooms-$t.svg"
done
echo "== churn"
load churn --clients 1000 --missed 50 --json "$out/churn.json"
echo "== transfer: 32 MiB up over the socket, then streamed while chat is sampled"
load transfer --mib 32 --samples 300 --json "$out/transfer.json"
echo "== http: 100 clients reading messages, photos and conversations back to back (closed loop)"
load http --clients 100 --duration 20 --json "$out/http.json"
python3 load/ratios.py "$out"
dest=${BENCH_OUT:-/tmp/taina-bench-results}
rm -rf "$dest"
cp -r "$out" "$dest"
echo "JSON results and SVG charts copied to $dest"
