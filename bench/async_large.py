#!/usr/bin/env python3
"""Large async bodies must not slow small ones (issue 5).

Three `slimfaas serve` nodes (fsync on) and one function (bench/async_peer
`receive`, NumberParallelRequest 64). A small sender posts 64 B calls, one
every --interval-ms, and records each one's acceptance (send -> 202). Three
conditions, each on a fresh cluster:

  idle     only the small calls
  side     small calls while a second sender streams --large-bytes bodies
           at --large-concurrency (default: bodies over
           SlimFaas__AsyncSideBodyBytes are stored beside the Raft log)
  inline   the same with --async-side-body-bytes 0: every body is part of
           its Raft entry (how it was before side storage)

The small calls' 202 p50/p95/p99 under the large stream, against idle, is
the figure: side storage should keep it close to idle. Both senders go to
the leader. Results: bench/results/<UTC time>-async-large/async_large.{json,md}.

  bench/async_large.py [--duration 10] [--interval-ms 20] [--large-bytes 1048576]
                       [--large-concurrency 4] [--out DIR]
"""
import argparse
import datetime
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "bench/lib"))
from run_context import run_context  # noqa: E402
from slimdata_cluster import actor_threads_share, wait_for  # noqa: E402

bench_async = importlib.import_module("async")  # bench/async.py: its cluster, receiver and sender helpers


def run_condition(name, binary, peer, args, work, logs, used):
    case_logs = os.path.join(logs, name)
    os.makedirs(case_logs, exist_ok=True)
    receiver = bench_async.Receiver(peer, case_logs, name)
    extra = ["--async-side-body-bytes", "0"] if name == "inline" else []
    cluster = bench_async.cluster_for(binary, os.path.join(work, name), case_logs, used, receiver.port, 64, extra)
    large = {}
    try:
        cluster.start()
        leader = cluster.wait_leader()
        if leader is None:
            sys.exit(f"async_large: {name}: no stable leader (exited nodes: {cluster.dead_nodes()}); see {case_logs}")
        bench_async.run_sender(peer, leader["http"], 64, 8, os.path.join(case_logs, "warmup.txt"), count=64)
        background = None
        if name != "idle":
            def stream():
                head, records = bench_async.run_sender(
                    peer, leader["http"], args.large_bytes, args.large_concurrency,
                    os.path.join(case_logs, "large.txt"), duration=args.duration + 2)
                large["records"] = records
            background = threading.Thread(target=stream)
            background.start()
            # The stream runs at full speed before the small calls start.
            wait_for(lambda: receiver.count() > 64 + 2 * args.large_concurrency, 30, 0.05)
        count = int(args.duration * 1000 / args.interval_ms)
        _, small = bench_async.run_sender(peer, leader["http"], 64, 1, os.path.join(case_logs, "small.txt"),
                                          count=count, interval_ms=args.interval_ms)
        if background:
            background.join()
    finally:
        cluster.stop()
        receiver.stop()
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
    accepted = [r for r in small if r["status"] == 202]
    big = large.get("records", [])
    big_ok = [r for r in big if r["status"] == 202]
    window = (max(r["done"] for r in big) - min(r["sent"] for r in big)) / 1e9 if big else 0
    return {
        "condition": name, "small_sent": len(small), "small_accepted": len(accepted),
        "small_acceptance_ms": bench_async.summary([(r["done"] - r["sent"]) / 1e6 for r in accepted]),
        "large_sent": len(big), "large_accepted": len(big_ok),
        "large_mib_per_s": len(big_ok) * args.large_bytes / (1 << 20) / window if window else 0.0,
        "large_acceptance_ms": bench_async.summary([(r["done"] - r["sent"]) / 1e6 for r in big_ok]),
    }


def render(result):
    f = bench_async.fmt
    lines = [f"# Large bodies beside small ones, commit {result['commit']}{' (dirty)' if result['worktree_dirty'] else ''}, "
             f"{result['build']}, {result['cpu']}, {result['cores']} cores", "",
             f"3 nodes, fsync on, `--actor-threads {result['settings'].get('actor_threads', 'default')}` per node. "
             f"Small calls: 64 B, one every {result['settings']['interval_ms']} ms, "
             f"{result['settings']['duration_s']:.0f} s. Large stream: {result['settings']['large_bytes']} B bodies "
             f"at concurrency {result['settings']['large_concurrency']}, to the same function. All to the leader.", "",
             "| condition | small 202 p50 ms | p95 ms | p99 ms | max ms | small accepted | large accepted | large MiB/s | large 202 p50 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["runs"]:
        a, b = r["small_acceptance_ms"], r["large_acceptance_ms"]
        lines.append(f"| {r['condition']} | {f(a['p50'])} | {f(a['p95'])} | {f(a['p99'])} | {f(a['max'])} | "
                     f"{r['small_accepted']}/{r['small_sent']} | {r['large_accepted']}/{r['large_sent']} | "
                     f"{r['large_mib_per_s']:.1f} | {f(b['p50'])} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--interval-ms", type=int, default=20)
    ap.add_argument("--large-bytes", type=int, default=1 << 20)
    ap.add_argument("--large-concurrency", type=int, default=4)
    ap.add_argument("--conditions", default="idle,side,inline")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    binary = os.environ.get("SLIMFAAS_BIN", os.path.join(ROOT, "build/release/slimfaas"))
    if not os.access(binary, os.X_OK):
        sys.exit(f"async_large: {binary} is missing (make build)")
    peer = bench_async.peer_binary()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or os.path.join(ROOT, "bench/results", f"{stamp}-async-large")
    logs = os.path.join(out_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    work = tempfile.mkdtemp(prefix="slimfaas-async-large-")
    rows, used = [], set()
    try:
        for name in [c for c in args.conditions.split(",") if c]:
            row = run_condition(name, binary, peer, args, work, logs, used)
            rows.append(row)
            a = row["small_acceptance_ms"]
            print(f"{name}: small 202 p50/p95/p99 {bench_async.fmt(a['p50'])}/{bench_async.fmt(a['p95'])}/"
                  f"{bench_async.fmt(a['p99'])} ms; large accepted {row['large_accepted']} "
                  f"({row['large_mib_per_s']:.1f} MiB/s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ctx = run_context(binary)
    result = {"scenario": "async-large", "commit": ctx["commit"], "worktree_dirty": bool(ctx["dirty"]),
              "build": ctx["build"], "cpu": ctx["cpu"], "cores": os.cpu_count(),
              "settings": {"duration_s": args.duration, "interval_ms": args.interval_ms,
                           "large_bytes": args.large_bytes, "large_concurrency": args.large_concurrency,
                           "actor_threads": actor_threads_share()},
              "runs": rows}
    with open(os.path.join(out_dir, "async_large.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(out_dir, "async_large.md"), "w") as f:
        f.write(render(result))
    print(f"\nresults: {out_dir}")


if __name__ == "__main__":
    main()
