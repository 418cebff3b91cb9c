#!/usr/bin/env bash
# Rooms or fan-out across nodes (issue "Several nodes", Numbers): `taina-load rooms` (or
# `fanout` with --scenario fanout: one admin's alerts to N subscribers, through the JetStream
# topic log) against
#   one    a single node, in-process bus (the default);
#   nats   a single node on the NATS bus (what the bus hop costs);
#   two    two nodes on one PostgreSQL and one NATS, the users split over them (connection i
#          on node i mod 2), so most deliveries cross nodes;
# alternating, REPEATS times, each run on a fresh database. Prints p50/p99 and deliveries, and
# the ratios against `one` within each repeat.
# Needs a PostgreSQL (DATABASE_URL=postgres://user@127.0.0.1:PORT, a superuser: each run
# creates its own database) and a nats-server binary (NATS_SERVER, default: the one scripts/test
# installs under ~/.cache/taina/nats-venv). Loopback only.
# Usage: DATABASE_URL=… load/cluster-bench.sh [--scenario rooms|fanout] [--users 1000]
#          [--duration 15] [--rate 0.5 (rooms: per user; fanout: alerts per second)]
#          [--repeats 3] [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

users=1000 duration=15 rate=0.5 repeats=3 profile=debug scenario=rooms
while [ $# -gt 0 ]; do
  case $1 in
    --scenario) scenario=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --release) profile=release; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL superuser URL without a database name}"
NATS_SERVER=${NATS_SERVER:-${XDG_CACHE_HOME:-$HOME/.cache}/taina/nats-venv/bin/nats-server}
[ -x "$NATS_SERVER" ] || { echo "no nats-server at $NATS_SERVER (run scripts/test once, or set NATS_SERVER)" >&2; exit 1; }

if [ "$profile" = release ]; then
  cargo build --release -q -p taina -p taina-load
else
  cargo build -q -p taina -p taina-load
fi
bin=target/$profile

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nats_port=$(free_port)
"$NATS_SERVER" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/jetstream" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done

# start_node NAME DB [NATS_URL] → prints "PID PORT"
start_node() {
  local name=$1 db=$2 nats=${3:-} port
  port=$(free_port)
  mkdir -p "$work/data-$name"
  env -i PATH="$PATH" HOME="$HOME" \
    TAINA_DATA_DIR="$work/data-${4:-$name}" TAINA_LISTEN="127.0.0.1:$port" TAINA_LOG=warn \
    TAINA_DATABASE_URL="$DATABASE_URL/$db" \
    ${nats:+TAINA_BUS__NATS_URL=$nats} ${nats:+TAINA_BUS__SUBJECT_PREFIX=$db} \
    TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
    TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
    TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
    "$bin/taina" serve >"$work/server-$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && { echo "$pid $port"; return 0; }
    sleep 0.1
  done
  echo "node $name did not start; see $work/server-$name.log" >&2
  exit 1
}

new_db() { psql "$DATABASE_URL/postgres" -qAtc "CREATE DATABASE $1" >/dev/null; }

run() { # run KIND REPEAT
  local kind=$1 n=$2 db="bench_${1}_$2_$$"
  new_db "$db"
  local a b extra=()
  case $kind in
    one) read -r a pa < <(start_node "$kind-$n" "$db") ;;
    nats) read -r a pa < <(start_node "$kind-$n" "$db" "nats://127.0.0.1:$nats_port") ;;
    two)
      read -r a pa < <(start_node "$kind-$n-a" "$db" "nats://127.0.0.1:$nats_port")
      # The second node shares the first one's data directory (its server secret and blobs).
      read -r b pb < <(start_node "$kind-$n-b" "$db" "nats://127.0.0.1:$nats_port" "$kind-$n-a")
      extra=(--node-url "http://127.0.0.1:$pb")
      ;;
  esac
  local what=(rooms --users "$users" --room-size 5 --rate "$rate" --duration "$duration")
  [ "$scenario" = fanout ] && what=(fanout --subscribers "$users" --rate "${rate%.*}" --duration "$duration")
  "$bin/taina-load" --url "http://127.0.0.1:$pa" "${extra[@]}" --json "$work/$kind-$n.json" \
    "${what[@]}" >"$work/$kind-$n.out" 2>&1 \
    || { echo "taina-load failed: $(tail -5 "$work/$kind-$n.out")" >&2; exit 1; }
  kill "$a" ${b:+"$b"} 2>/dev/null || true
  wait "$a" ${b:+"$b"} 2>/dev/null || true
}

for n in $(seq 1 "$repeats"); do
  for kind in one nats two; do
    echo "repeat $n: $kind" >&2
    run "$kind" "$n"
  done
done

python3 - "$work" "$repeats" <<'PY'
import json, pathlib, statistics, sys
work, repeats = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def load(kind, n):
    return json.loads((work / f"{kind}-{n}.json").read_text())["results"]
rows = {k: [load(k, n) for n in range(1, repeats + 1)] for k in ("one", "nats", "two")}
key = lambda r, s: r[f"latency {s}"]
print("kind   run  p50 ms  p99 ms  delivered/s  lost   (ratios p50, p99 against `one` of the same run)")
for kind, runs in rows.items():
    for n, r in enumerate(runs):
        base = rows["one"][n]
        p50, p99 = key(r, "p50 ms"), key(r, "p99 ms")
        rate, lost = r["deliveries per second"], r["lost"]
        print(f"{kind:5} {n+1:4} {p50:7.2f} {p99:7.2f} {rate:12.0f} {lost:5}   "
              f"{p50 / key(base, 'p50 ms'):.2f}x {p99 / key(base, 'p99 ms'):.2f}x")
for kind, runs in rows.items():
    print(f"median {kind}: p50 {statistics.median(key(r, 'p50 ms') for r in runs):.2f} ms, "
          f"p99 {statistics.median(key(r, 'p99 ms') for r in runs):.2f} ms")
PY
