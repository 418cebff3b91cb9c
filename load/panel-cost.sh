#!/usr/bin/env bash
# What the admin panel (Nhaman) costs the server (issue 10). On loopback, with release builds:
#   quiet  a fresh server with nobody connected: its CPU over QUIET seconds with no panel, then
#          with PANELS panel sockets open (`/admin/live?page=overview`), then with MANY (so
#          that a per-panel cost rises above the clock's 10 ms resolution): the panel's own cost;
#   rooms  `taina-load rooms` (USERS users in rooms of 5, 1 message/s each, DURATION s), each
#          run on a fresh server, alternating: no panel / PANELS panels open throughout (and,
#          with --base, the pre-panel server without any), rotating the order every repeat;
#   idle   (with --base) a fresh server's CPU over QUIET s with nobody connected and its resident
#          memory, then `taina-load idle` bytes per socket, on this build and on the pre-panel
#          one, alternating.
# For rooms the server's CPU is read from /proc/PID/stat (utime+stime) over the sending phase
# only (from the moment all the sockets are open, seen as the server's open descriptors, for
# DURATION s), since setting up 1,000 accounts is argon2's time, not the panel's. Prints every
# run, then medians and the median of the per-repeat ratios.
# Usage: load/panel-cost.sh [--repeats 3] [--duration 20] [--users 1000] [--panels 3]
#          [--quiet 20] [--many 30] [--idle-connections 5000] [--no-build]
#          [--base DIR]   (DIR holds a `taina` built from before the panel, e.g. commit ad6f0d2)
# The panels are held by load/panel-sockets.py (python3, standard library only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

repeats=3 duration=20 users=1000 panels=3 many=30 quiet=20 idle_connections=5000 base= build=1
while [ $# -gt 0 ]; do
  case $1 in
    --repeats) repeats=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --panels) panels=$2; shift 2 ;;
    --quiet) quiet=$2; shift 2 ;;
    --many) many=$2; shift 2 ;;
    --idle-connections) idle_connections=$2; shift 2 ;;
    --base) base=$(cd "$2" && pwd); shift 2 ;;
    --no-build) build=; shift ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
cd "$root"
[ -n "$build" ] && cargo build --release -q -p taina -p taina-load
bin=$PWD/target/release
[ -z "$base" ] || [ -x "$base/taina" ] || { echo "no taina binary in $base" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

email=admin@example.org password='panel cost admin password'
tick=$(getconf CLK_TCK)
results=$work/results.tsv
printf 'phase\trepeat\tarm\tp50_ms\tp99_ms\tcpu_s\twindow_s\trss_mib\thwm_mib\tframes\tlost\tbytes_per_socket\n' >"$results"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_mib() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# start_server NAME BINDIR: a fresh data directory and port, an admin made by the CLI, then serve.
server= port=
start_server() {
  local dir=$work/data-$1 exe=$2/taina
  port=$(free_port)
  # Limits meant for people are lifted for the load generator, as in load/bench.sh.
  local envs=(env -i PATH="$PATH" HOME="$HOME"
    TAINA_DATA_DIR="$dir" TAINA_LISTEN="127.0.0.1:$port" TAINA_LOG=warn
    TAINA_AUTH__SIGNIN_PER_MINUTE=100000 TAINA_AUTH__SIGNUP_PER_MINUTE=100000
    TAINA_REALTIME__MAX_CONNECTIONS_PER_USER=50000 TAINA_REALTIME__MAX_CONNECTIONS_PER_ADDRESS=50000
    TAINA_REALTIME__MESSAGES_PER_SECOND=1000000 TAINA_REALTIME__MESSAGE_BURST=1000000
    TAINA_REALTIME__MAX_CHANNELS_PER_SOCKET=100)
  echo "$password" | "${envs[@]}" timeout 60 "$exe" user create --email "$email" --role admin \
    --community Aldeia >"$work/admin-$1.log" 2>&1
  "${envs[@]}" "$exe" serve >"$work/server-$1.log" 2>&1 &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "Tainá did not become ready; see $work/server-$1.log" >&2
  exit 1
}
stop_server() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }

# open_panels NAME [COUNT]: signs the admin in and holds COUNT (default $panels) panel sockets
# (at most 10 minutes).
panel_pid= holding=
open_panels() {
  holding=${2:-$panels}
  local token
  token=$(curl -sf -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" \
    "http://127.0.0.1:$port/api/auth/signin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  rm -f "$work/ready"
  python3 load/panel-sockets.py "$port" "$token" --panels "$holding" --seconds 600 \
    --ready "$work/ready" >"$work/panels-$1.jsonl" 2>"$work/panels-$1.err" &
  panel_pid=$!
  pids+=("$panel_pid")
  for _ in $(seq 1 100); do
    [ -e "$work/ready" ] && return 0
    sleep 0.1
  done
  echo "the panel sockets did not open; see $work/panels-$1.*" >&2
  exit 1
}
# close_panels NAME: stops them (in this shell, which can wait for them) and leaves the frames
# they received, summed, in $frames.
close_panels() {
  kill "$panel_pid" 2>/dev/null || true
  wait "$panel_pid" 2>/dev/null || true
  frames=$(python3 - "$work/panels-$1.jsonl" "$holding" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = [r for r in rows if r.get("error") or r.get("closed")]
assert len(rows) == int(sys.argv[2]) and not bad, f"panel sockets failed: {rows}"
print(sum(r["frames"] for r in rows))
PY
)
}

# The server's CPU ticks and open descriptors every 0.25 s, until stopped (at most 15 minutes).
start_sampler() {
  python3 - "$server" "$1" <<'PY' &
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
end = time.monotonic() + 900
with open(out, "w") as f:
    while time.monotonic() < end:
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            break
        f.write(f"{time.monotonic():.3f} {int(stat[11]) + int(stat[12])} {fds}\n")
        f.flush()
        time.sleep(0.25)
PY
  sampler=$!
  pids+=("$sampler")
}
stop_sampler() { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; }

# sending_cpu SAMPLES: CPU seconds and wall seconds from the first sample with every room
# socket open to the last one at most $duration s later.
sending_cpu() {
  python3 - "$1" "$users" "$duration" "$tick" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
users, duration, tick = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
base = rows[0][2]
start = next(r for r in rows if r[2] >= base + 0.98 * users)
end = [r for r in rows if start[0] <= r[0] <= start[0] + duration][-1]
assert end[0] - start[0] > duration * 0.8, "the sending phase was not sampled"
print(f"{(end[1] - start[1]) / tick:.2f} {end[0] - start[0]:.2f}")
PY
}

quiet_run() { # repeat
  start_server "quiet-$1" "$bin"
  sleep 2
  local t0 t1 t2
  t0=$(cpu_ticks "$server"); sleep "$quiet"; t1=$(cpu_ticks "$server")
  open_panels "quiet-$1"
  t1=$(cpu_ticks "$server"); sleep "$quiet"; t2=$(cpu_ticks "$server")
  close_panels "quiet-$1"
  local panels_frames=$frames t3 t4
  open_panels "quiet-many-$1" "$many"
  t3=$(cpu_ticks "$server"); sleep "$quiet"; t4=$(cpu_ticks "$server")
  close_panels "quiet-many-$1"
  printf 'quiet\t%s\tno panel\t\t\t%s\t%s\t%s\t\t\t\t\n' "$1" \
    "$(awk -v a="$t0" -v b="$t1" -v t="$tick" 'BEGIN { printf "%.2f", (b - a) / t }')" "$quiet" \
    "$(rss_mib "$server" VmRSS)" >>"$results"
  printf 'quiet\t%s\t%s panels\t\t\t%s\t%s\t%s\t\t%s\t\t\n' "$1" "$panels" \
    "$(awk -v a="$t1" -v b="$t2" -v t="$tick" 'BEGIN { printf "%.2f", (b - a) / t }')" "$quiet" \
    "$(rss_mib "$server" VmRSS)" "$panels_frames" >>"$results"
  printf 'quiet\t%s\t%s panels\t\t\t%s\t%s\t%s\t\t%s\t\t\n' "$1" "$many" \
    "$(awk -v a="$t3" -v b="$t4" -v t="$tick" 'BEGIN { printf "%.2f", (b - a) / t }')" "$quiet" \
    "$(rss_mib "$server" VmRSS)" "$frames" >>"$results"
  stop_server
}

rooms_run() { # repeat arm(off|on|base)
  local name="rooms-$1-$2" exe=$bin frames=
  [ "$2" = base ] && exe=$base
  start_server "$name" "$exe"
  [ "$2" = on ] && open_panels "$name"
  start_sampler "$work/$name.samples"
  timeout 900 "$bin/taina-load" --url "http://127.0.0.1:$port" --admin-email "$email" \
    --admin-password "$password" --server-pid "$server" --json "$work/$name.json" \
    rooms --users "$users" --room-size 5 --rate 1 --duration "$duration" >"$work/$name.log" 2>&1 \
    || { cat "$work/$name.log" >&2; exit 1; }
  stop_sampler
  [ "$2" = on ] && close_panels "$name"
  local label=$2
  case $2 in off) label="no panel" ;; on) label="$panels panels" ;; base) label="pre-panel" ;; esac
  python3 - "$work/$name.json" "$(sending_cpu "$work/$name.samples")" "$1" "$label" \
    "$(rss_mib "$server" VmRSS)" "$(rss_mib "$server" VmHWM)" "$frames" >>"$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
cpu, window = sys.argv[2].split()
print("\t".join(["rooms", sys.argv[3], sys.argv[4], f"{r['latency p50 ms']:.3f}",
                 f"{r['latency p99 ms']:.3f}", cpu, window, sys.argv[5], sys.argv[6],
                 sys.argv[7], str(r["lost"]), ""]))
PY
  stop_server
}

idle_run() { # repeat arm(this|base)
  local name="idle-$1-$2" exe=$bin label="this build"
  [ "$2" = base ] && exe=$base label="pre-panel"
  start_server "$name" "$exe"
  # Nobody connected: its CPU over $quiet s, and its resident memory.
  sleep 2
  local fresh t0 t1
  t0=$(cpu_ticks "$server"); sleep "$quiet"; t1=$(cpu_ticks "$server")
  fresh=$(rss_mib "$server" VmRSS)
  timeout 600 "$bin/taina-load" --url "http://127.0.0.1:$port" --admin-email "$email" \
    --admin-password "$password" --server-pid "$server" --json "$work/$name.json" \
    idle --connections "$idle_connections" --hold 3 >"$work/$name.log" 2>&1 \
    || { cat "$work/$name.log" >&2; exit 1; }
  python3 - "$work/$name.json" "$1" "$label" "$fresh" "$idle_connections" \
    "$(awk -v a="$t0" -v b="$t1" -v t="$tick" 'BEGIN { printf "%.2f", (b - a) / t }')" "$quiet" \
    >>"$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert r["connected"] == int(sys.argv[5]), r
print("\t".join(["idle", sys.argv[2], sys.argv[3], "", "", sys.argv[6], sys.argv[7], sys.argv[4],
                 f"{r['server RSS after (MiB)']:.1f}", "", "",
                 str(int(r["server bytes per idle connection"]))]))
PY
  stop_server
}

arms=(off on)
[ -n "$base" ] && arms+=(base)
for r in $(seq 1 "$repeats"); do
  echo "== repeat $r of $repeats ($(date -u +%H:%M:%S))"
  quiet_run "$r"
  tail -3 "$results" | sed 's/^/   /'
  # Rotate the order each repeat so drift on the shared machine does not favour one arm.
  n=${#arms[@]}
  for i in $(seq 0 $((n - 1))); do
    arm=${arms[$(((i + r - 1) % n))]}
    rooms_run "$r" "$arm"
    echo "   $(tail -1 "$results")"
  done
  if [ -n "$base" ]; then
    if [ $((r % 2)) = 1 ]; then order=(this base); else order=(base this); fi
    for arm in "${order[@]}"; do
      idle_run "$r" "$arm"
      echo "   $(tail -1 "$results")"
    done
  fi
done

python3 - "$results" "$panels" "$many" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
panels, many = sys.argv[2], sys.argv[3]
print("\nEvery run (cpu_s: server CPU seconds over window_s; rss/hwm: resident/peak MiB after the run;"
      " for idle, cpu_s over window_s and rss: fresh server, nobody connected; hwm = RSS holding the sockets)")
cols = ["phase", "repeat", "arm", "p50_ms", "p99_ms", "cpu_s", "window_s", "rss_mib", "hwm_mib",
        "frames", "lost", "bytes_per_socket"]
print("  ".join(f"{c:>16}" if i > 2 else f"{c:<10}" for i, c in enumerate(cols)))
for r in rows:
    print("  ".join(f"{r[c]:>16}" if i > 2 else f"{r[c]:<10}" for i, c in enumerate(cols)))

def by(phase, arm):
    return {r["repeat"]: r for r in rows if r["phase"] == phase and r["arm"] == arm}

def med(phase, arm, col):
    v = [float(r[col]) for r in by(phase, arm).values() if r[col]]
    return st.median(v) if v else float("nan")

def ratio(phase, a, b, col):
    x, y = by(phase, a), by(phase, b)
    v = [float(x[k][col]) / float(y[k][col]) for k in x if k in y and x[k][col] and float(y[k][col])]
    return (st.median(v), v) if v else (float("nan"), [])

def show(label, m_a, m_b, rat):
    each = ", ".join(f"{v:.3f}" for v in rat[1])
    print(f"  {label:<56} {m_a:>10.3f} {m_b:>10.3f}   {rat[0]:.3f}  ({each})")

on = f"{panels} panels"
print("\nMedians; ratio = median over repeats of (first / second) in the same repeat")
print(f"  {'':<56} {'first':>10} {'second':>10}   ratio")
q_off, q_on = med("quiet", "no panel", "cpu_s"), med("quiet", on, "cpu_s")
window = med("quiet", "no panel", "window_s")
print(f"  quiet server CPU ms/s, {on} / none: {1000 * q_on / window:.1f} / {1000 * q_off / window:.1f}"
      f" (the panels' own cost: {1000 * (q_on - q_off) / window:.1f} ms of CPU per second)")
q_many = med("quiet", f"{many} panels", "cpu_s")
print(f"  quiet server CPU ms/s, {many} panels: {1000 * q_many / window:.1f}"
      f" ({1000 * (q_many - q_off) / window / int(many):.2f} ms/s per panel)")
for col, label in (("p50_ms", "rooms p50 ms"), ("p99_ms", "rooms p99 ms"), ("cpu_s", "rooms server CPU s (sending phase)"),
                   ("hwm_mib", "rooms server peak RSS MiB")):
    show(f"{label}, {on} / none", med("rooms", on, col), med("rooms", "no panel", col), ratio("rooms", on, "no panel", col))
if by("rooms", "pre-panel"):
    for col, label in (("p50_ms", "rooms p50 ms"), ("p99_ms", "rooms p99 ms"), ("cpu_s", "rooms server CPU s (sending phase)"),
                       ("hwm_mib", "rooms server peak RSS MiB")):
        show(f"{label}, none / pre-panel", med("rooms", "no panel", col), med("rooms", "pre-panel", col),
             ratio("rooms", "no panel", "pre-panel", col))
if by("idle", "pre-panel"):
    print(f"  quiet server CPU ms/s, this build / pre-panel: {1000 * med('idle', 'this build', 'cpu_s') / window:.1f}"
          f" / {1000 * med('idle', 'pre-panel', 'cpu_s') / window:.1f}")
    show("fresh server RSS MiB, this / pre-panel", med("idle", "this build", "rss_mib"), med("idle", "pre-panel", "rss_mib"),
         ratio("idle", "this build", "pre-panel", "rss_mib"))
    show("bytes per idle socket, this / pre-panel", med("idle", "this build", "bytes_per_socket"),
         med("idle", "pre-panel", "bytes_per_socket"), ratio("idle", "this build", "pre-panel", "bytes_per_socket"))
frames = [int(r["frames"]) for r in rows if r["frames"]]
print(f"\npanel frames received per run (all {panels} sockets): {frames}")
PY
