#!/usr/bin/env bash
# Runs taina-load's scenarios against a release Tainá server and the floor broadcast server,
# interleaved in one run on loopback, and prints each fan-out figure as a ratio to the floor.
# Usage: load/bench.sh [--quick]   (--quick: a few hundred connections, for CI's smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}

profile=release
[ "$quick" = "--quick" ] && profile=dev
if [ "$profile" = release ]; then
  cargo build --release -q -p taina -p taina-load
  bin=target/release
else
  # The same feature set as `cargo test --workspace` (dev-dependencies included), so after the
  # test suite this builds only the two binaries instead of recompiling the server.
  cargo build -q --workspace --bins --tests
  bin=target/debug
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
floor_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# Limits meant for people are lifted for the load generator (it signs up users and opens
# thousands of sockets from one address).
env -i PATH="$PATH" HOME="$HOME" \
  TAINA_DATA_DIR="$work/data" TAINA_LISTEN="127.0.0.1:$port" TAINA_LOG=warn \
  TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
  TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
  TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
  TAINA_REALTIME__MAX_CHANNELS_PER_SOCKET=100 \
  "$bin/taina" serve >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
"$bin/taina-load" floor --listen "127.0.0.1:$floor_port" >"$work/floor.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done

load() { "$bin/taina-load" --url "http://127.0.0.1:$port" --server-pid "$server" "$@"; }
out="$work/results"
mkdir -p "$out"

if [ "$quick" = "--quick" ]; then
  load connect --connections 200 --rate 500 --json "$out/connect.json"
  load idle --connections 200 --hold 1 --json "$out/idle.json"
  load connect --connections 100 --rate 500 --mode graphql --json "$out/connect-graphql.json"
  load connect --connections 100 --rate 500 --mode mux --json "$out/connect-mux.json"
  load fanout --subscribers 200 --rate 50 --duration 2 --json "$out/fanout.json"
  load fanout --subscribers 200 --rate 50 --duration 2 --target floor --floor-url "ws://127.0.0.1:$floor_port/" --json "$out/fanout-floor.json"
  load rooms --users 20 --room-size 5 --rate 2 --duration 2 --json "$out/rooms.json"
  load churn --clients 100 --missed 10 --json "$out/churn.json"
  python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
r = {p.stem: json.loads(p.read_text())["results"] for p in out.glob("*.json")}
for name in ("connect", "connect-graphql", "connect-mux"):
    assert r[name]["failed"] == 0, r[name]
assert r["fanout"]["lost"] == 0, r["fanout"]
assert r["rooms"]["lost"] == 0, r["rooms"]
assert r["churn"]["exactly the missed messages, once, in order"] == 100, r["churn"]
print("smoke run: every scenario completed with no loss")
PY
  exit 0
fi

echo "== idle server"
grep VmRSS "/proc/$server/status"
load idle --connections 10000 --hold 3 --json "$out/idle.json"
for mode in graphql mux; do
  load idle --connections 2000 --hold 2 --mode "$mode" --json "$out/idle-$mode.json"
done
for n in 1000 5000; do
  for round in 1 2; do
    echo "== fanout $n subscribers, as fast as possible (round $round)"
    load fanout --subscribers "$n" --rate 0 --duration 5 --json "$out/fanout-$n-max-taina-$round.json"
    load fanout --subscribers "$n" --rate 0 --duration 5 --target floor --floor-url "ws://127.0.0.1:$floor_port/" --json "$out/fanout-$n-max-floor-$round.json"
  done
done
echo "== fanout at a fixed 20,000 deliveries per second (1000 subscribers x 20/s)"
load fanout --subscribers 1000 --rate 20 --duration 10 --json "$out/fanout-fixed-taina.json"
load fanout --subscribers 1000 --rate 20 --duration 10 --target floor --floor-url "ws://127.0.0.1:$floor_port/" --json "$out/fanout-fixed-floor.json"
echo "== rooms"
load rooms --users 1000 --room-size 5 --rate 1 --duration 10 --json "$out/rooms.json"
echo "== churn"
load churn --clients 1000 --missed 50 --json "$out/churn.json"
python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
r = {p.stem: json.loads(p.read_text())["results"] for p in sorted(out.glob("*.json"))}
print("\n== ratios, Tainá / floor (same run)")
for n in (1000, 5000):
    for rnd in (1, 2):
        t, f = r[f"fanout-{n}-max-taina-{rnd}"], r[f"fanout-{n}-max-floor-{rnd}"]
        print(f"fanout {n} max, round {rnd}: deliveries/s {t['deliveries per second']:.0f} vs {f['deliveries per second']:.0f} "
              f"= {t['deliveries per second']/f['deliveries per second']:.2f}x; lost {t['lost']} vs {f['lost']}")
t, f = r["fanout-fixed-taina"], r["fanout-fixed-floor"]
print(f"fanout fixed 20k/s: p99 {t['latency p99 ms']:.2f} ms vs {f['latency p99 ms']:.2f} ms = {t['latency p99 ms']/f['latency p99 ms']:.2f}x")
PY
cp -r "$out" "${BENCH_OUT:-/tmp/taina-bench-results}"
echo "JSON results copied to ${BENCH_OUT:-/tmp/taina-bench-results}"
