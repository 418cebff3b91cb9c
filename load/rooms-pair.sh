#!/usr/bin/env bash
# Rooms of 5 at 0.5 msg/s per user against two builds of the server, interleaved, with the CPU
# each process used while sending (both share the machine's cores).
#
#   load/rooms-pair.sh NOW_TAINA BEFORE_TAINA TAINA_LOAD USERS...
#
# For each USERS, NOW then BEFORE: a fresh SQLite data directory, every limit a load test
# trips raised, `taina-load rooms --users USERS --room-size 5 --rate 0.5 --duration 20`
# (MODE=graphql for `sendMessage` over graphql-transport-ws), and the CPU time of the server
# and of the load tool over 10 s once every socket is connected.
set -euo pipefail
now=$1 before=$2 load=$3
shift 3
mode=${MODE:-phoenix}
cpu_seconds() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }

for users in "$@"; do
  for which in now before; do
    bin=$now
    [ "$which" = before ] && bin=$before
    work=$(mktemp -d)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    env -i PATH="$PATH" HOME="$HOME" TAINA_DATA_DIR="$work/data" TAINA_LISTEN="127.0.0.1:$port" \
      TAINA_LOG=warn TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000 \
      TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000 \
      TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000 \
      TAINA_HTTP__MAX_CONNECTIONS_PER_ADDRESS=100000 "$bin" serve >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    "$load" --url "http://127.0.0.1:$port" --server-pid "$server" \
      rooms --mode "$mode" --users "$users" --room-size 5 --rate 0.5 --duration 20 >"$work/rooms.txt" 2>&1 &
    driver=$!
    # Sign-ups first (thousands of Argon2 hashes); sending starts once every socket is in.
    until [ "$(ss -Htn state established "( sport = :$port )" | wc -l)" -ge "$users" ]; do
      sleep 1
      kill -0 "$driver" 2>/dev/null || break
    done
    sleep 4
    if kill -0 "$driver" 2>/dev/null; then
      s0=$(cpu_seconds "$server") d0=$(cpu_seconds "$driver")
      sleep 10
      s1=$(cpu_seconds "$server") d1=$(cpu_seconds "$driver")
      cpu=$(python3 -c "print(f'server {($s1 - $s0) / 10:.2f} cores, load tool {($d1 - $d0) / 10:.2f} cores')")
    else
      cpu="(the load tool ended before sending)"
    fi
    wait "$driver" || true
    echo "== $which ($bin), $mode, $users users: $cpu"
    grep -E "lost|deliveries per second|latency p(50|99)" "$work/rooms.txt" || cat "$work/rooms.txt"
    kill "$server"
    wait "$server" || true
    rm -rf "$work"
  done
done
