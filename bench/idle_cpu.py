#!/usr/bin/env python3
"""What an idle SlimData cluster costs: each node's CPU and context switches.

Three `slimfaas serve` nodes on 127.0.0.1 with fsync on, as bench/async.py
and bench/slimdata.py start them (bench/lib/slimdata_cluster.py), and no
traffic at all: what remains is Raft's heartbeats, the timers and the
threads' wake-ups. Once a leader has held for --settle seconds, every node
is measured at once for --seconds by

  perf stat -e task-clock,context-switches -p PID -- sleep SECONDS

and the script prints, per node, its share of one CPU and its context
switches a second. --node-args passes settings to every node, e.g. a
shorter Raft tick (docs/configuration.md, "Latency of calls to an idle
cluster"); --reps N measures N fresh clusters.

  bench/idle_cpu.py [--seconds 10] [--settle 3] [--reps 1] [--node-args "..."] [--json FILE]

Needs perf (Debian's linux-perf). The CPU share is the node process's own
threads. Binary: SLIMFAAS_BIN (default build/release/slimfaas). Only
127.0.0.1.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from slimdata_cluster import Cluster  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_CLOCK = re.compile(r"([\d.,]+)\s+msec\s+task-clock")
SWITCHES = re.compile(r"([\d,]+)\s+context-switches")


def perf_number(pattern, text):
    m = pattern.search(text)
    if not m:
        raise RuntimeError("perf stat printed no " + pattern.pattern + ":\n" + text)
    return float(m.group(1).replace(",", ""))


def measure(binary, node_args, seconds, settle, work):
    """[{id, role, cpu_pct, switches_per_s}] of one fresh idle cluster."""
    cluster = Cluster(binary, work, work, set(), extra_args=node_args)
    try:
        cluster.start()
        leader = cluster.wait_leader()
        if leader is None:
            sys.exit(f"idle_cpu: no stable leader (exited nodes: {cluster.dead_nodes()}); logs in {work}")
        time.sleep(settle)
        stats = [subprocess.Popen(["perf", "stat", "-e", "task-clock,context-switches", "-p", str(n["proc"].pid),
                                   "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for n in cluster.nodes]
        nodes = []
        for n, p in zip(cluster.nodes, stats):
            err = p.communicate()[1]
            nodes.append({"id": n["id"], "role": "leader" if n is leader else "follower",
                          "cpu_pct": perf_number(TASK_CLOCK, err) / (seconds * 10.0),
                          "switches_per_s": perf_number(SWITCHES, err) / seconds})
        return nodes
    finally:
        cluster.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of quiet after the leader holds")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--node-args", default="", help="more `slimfaas serve` options, for every node")
    ap.add_argument("--json", help="also write the measurements to this file")
    args = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("idle_cpu: needs perf (Debian's linux-perf: apt-get install linux-perf)")
    binary = os.environ.get("SLIMFAAS_BIN", os.path.join(ROOT, "build", "release", "slimfaas"))
    if not os.path.exists(binary):
        sys.exit(f"idle_cpu: no binary at {binary} (build it, or set SLIMFAAS_BIN)")
    runs = []
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="slimfaas-idle-") as work:
            nodes = measure(binary, args.node_args.split(), args.seconds, args.settle, work)
        runs.append(nodes)
        print(f"rep {rep + 1}: " + "  ".join(
            f"{'L' if n['role'] == 'leader' else 'F'}{n['id']} {n['cpu_pct']:.2f}% of a CPU, "
            f"{n['switches_per_s']:.0f} switches/s" for n in nodes), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"node_args": args.node_args, "seconds": args.seconds, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
