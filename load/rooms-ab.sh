#!/usr/bin/env bash
# Rooms of 5 at 0.5 msg/s per user, two builds of the server taking turns ROUNDS times (A B A B …,
# then B A … in the second half, so neither always runs first), on one seeded data directory:
# the members are signed up once (`taina-load --accounts`), and every run starts from a copy of
# that directory, so a run takes seconds of sign-in-free set-up instead of minutes of Argon2.
# Prints each run and, per build, the median p50 and p99 over its runs, and the server's CPU time
# and the load tool's CPU time per delivered message (user and system time of the whole run,
# start-up and joins included), which vary less than latency on a shared machine.
#
#   load/rooms-ab.sh A_TAINA B_TAINA TAINA_LOAD USERS ROUNDS
#
# MODE=graphql sends with `sendMessage` over graphql-transport-ws (A_MODE / B_MODE for one side
# only, e.g. GraphQL against Phoenix on one build); A_ENV / B_ENV add environment
# (`NAME=value …`) to that side's server.
set -euo pipefail
a=$1 b=$2 load=$3 users=$4 rounds=$5
a_mode=${A_MODE:-${MODE:-phoenix}} b_mode=${B_MODE:-${MODE:-phoenix}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server BIN DATA_DIR EXTRA_ENV…: sets $server and $port.
start_server() {
  local bin=$1 data=$2
  shift 2
  port=$(free_port)
  env -i PATH="$PATH" HOME="$HOME" TAINA_DATA_DIR="$data" TAINA_LISTEN="127.0.0.1:$port" \
    TAINA_LOG=warn TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
    TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
    TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
    TAINA_HTTP__MAX_CONNECTIONS_PER_ADDRESS=100000 "$@" "$bin" serve >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
  echo "the server did not start: $(tail -5 "$work/server.log")" >&2
  exit 1
}

# The seed: members signed up through build A, kept in $work/accounts with the data directory.
start_server "$a" "$work/seed"
"$load" --url "http://127.0.0.1:$port" --accounts "$work/accounts" \
  rooms --users "$users" --room-size 5 --rate 0.5 --duration 1 >/dev/null
kill "$server"
wait "$server" || true

run() {
  local which=$1 bin=$2 mode=$3 extra=$4
  rm -rf "$work/data"
  cp -a "$work/seed" "$work/data"
  # shellcheck disable=SC2086 # extra is a list of NAME=value words
  start_server "$bin" "$work/data" $extra
  # The load tool's own CPU time too (it shares the machine): its rusage once it has ended.
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime, file=open(sys.argv[1] + ".cpu", "w"))' "$work/rooms.txt" \
    "$load" --url "http://127.0.0.1:$port" --server-pid "$server" --accounts "$work/accounts" \
    rooms --mode "$mode" --users "$users" --room-size 5 --rate 0.5 --duration 20
  local ticks
  ticks=$(awk '{ print $14 + $15 }' "/proc/$server/stat")
  kill "$server"
  wait "$server" || true
  local p50 p99 lost deliveries cpu_us load_us
  p50=$(awk '/latency p50 ms/ { print $4 }' "$work/rooms.txt")
  p99=$(awk '/latency p99 ms/ { print $4 }' "$work/rooms.txt")
  lost=$(awk '/^ *lost/ { print $2 }' "$work/rooms.txt")
  deliveries=$(awk '$1 == "deliveries" && $2 ~ /^[0-9]+$/ { print $2 }' "$work/rooms.txt")
  cpu_us=$(python3 -c "print(round($ticks / $(getconf CLK_TCK) * 1e6 / max(${deliveries:-0}, 1), 1))")
  load_us=$(python3 -c "print(round($(cat "$work/rooms.txt.cpu") * 1e6 / max(${deliveries:-0}, 1), 1))")
  if [ -z "$p99" ]; then
    echo "$which: no result: $(tail -3 "$work/rooms.txt")" >&2
    return
  fi
  echo "$which $p50 $p99 $lost $cpu_us $load_us" >>"$work/results"
  echo "$which ($bin $extra), $mode, $users users: p50 $p50 ms, p99 $p99 ms, lost $lost, CPU per delivery: server $cpu_us µs, load tool $load_us µs"
}

for round in $(seq 1 "$rounds"); do
  if [ $((round * 2)) -le "$rounds" ]; then
    run A "$a" "$a_mode" "${A_ENV:-}"; run B "$b" "$b_mode" "${B_ENV:-}"
  else
    run B "$b" "$b_mode" "${B_ENV:-}"; run A "$a" "$a_mode" "${A_ENV:-}"
  fi
done
python3 - "$work/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    which, p50, p99, lost, cpu, load = line.split()
    runs.setdefault(which, []).append((float(p50), float(p99), int(lost), float(cpu), float(load)))
for which in sorted(runs):
    r = runs[which]
    print(f"{which}: {len(r)} runs, median p50 {statistics.median(x[0] for x in r):.1f} ms, "
          f"median p99 {statistics.median(x[1] for x in r):.1f} ms, lost {sum(x[2] for x in r)}, "
          f"median CPU per delivery: server {statistics.median(x[3] for x in r):.1f} µs, "
          f"load tool {statistics.median(x[4] for x in r):.1f} µs")
PY
