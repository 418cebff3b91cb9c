"""Prints load/bench.sh's results as ratios: Tainá against the floor and the peers, per run."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
r = {p.stem: json.loads(p.read_text())["results"] for p in sorted(out.glob("*.json"))}
peers = ("floor", "graphql-ws", "socketio")


def ratio(a, b):
    return f"{a / b:.2f}x" if b else "n/a"


print("\n== idle: server bytes per connection (lower is better)")
for t in ("taina", "taina-graphql", "taina-mux", "graphql-ws", "socketio"):
    v = r.get(f"idle-{t}")
    if v:
        print(f"  {t:14} {v['connected']:>6} connected, {v.get('server bytes per idle connection', 'n/a'):>8} B/conn, "
              f"RSS {v.get('server RSS after (MiB)', 0):.1f} MiB")

print("\n== fanout, as fast as possible: deliveries per second (Tainá / other)")
for n in (1000, 5000, 10000):
    for rnd in (1, 2):
        t = r[f"fanout-{n}-max-taina-{rnd}"]
        line = f"  {n} subscribers, round {rnd}: taina {t['deliveries per second']:.0f}/s lost {t['lost']}"
        for p in peers:
            v = r.get(f"fanout-{n}-max-{p}-{rnd}")
            if v:
                line += (f"; {p} {v['deliveries per second']:.0f}/s lost {v['lost']} "
                         f"({ratio(t['deliveries per second'], v['deliveries per second'])})")
        print(line)

print("\n== fanout at a fixed 20,000 deliveries/s: latency p50 / p99 ms (Tainá p99 / other p99)")
t = r["fanout-fixed-taina"]
for name in ("taina",) + peers:
    v = r.get(f"fanout-fixed-{name}")
    if v:
        print(f"  {name:10} p50 {v['latency p50 ms']:.2f}  p99 {v['latency p99 ms']:.2f}  max {v['latency max ms']:.2f}  "
              f"lost {v['lost']}  ({ratio(t['latency p99 ms'], v['latency p99 ms'])})")

print("\n== rooms, 1000 users in rooms of 5 at 1/s: latency ms")
for name in ("taina", "taina-mux", "taina-graphql", "graphql-ws", "socketio"):
    v = r.get(f"rooms-{name}")
    if v and v.get("latency samples"):
        print(f"  {name:14} p50 {v['latency p50 ms']:.2f}  p99 {v['latency p99 ms']:.2f}  max {v['latency max ms']:.2f}  "
              f"lost {v['lost']}")

c = r.get("churn")
if c:
    print(f"\n== churn: {json.dumps(c)}")

t = r.get("transfer")
if t:
    print(f"\n== transfer: upload {t['upload MiB/s']:.0f} MiB/s; chat p99 {t['chat idle p99 ms']:.2f} ms idle, "
          f"{t['chat while streaming p99 ms']:.2f} ms while streaming; heartbeat p99 {t['heartbeat idle p99 ms']:.2f} / "
          f"{t['heartbeat while streaming p99 ms']:.2f} ms; streamed {t['streamed MiB']:.1f} MiB at "
          f"{t['stream MiB/s (while sampling)']:.0f} MiB/s")
