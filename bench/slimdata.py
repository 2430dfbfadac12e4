#!/usr/bin/env python3
"""SlimData benchmark: Raft proposals through `slimfaas serve`.

Three `slimfaas serve` nodes on 127.0.0.1 form a SlimData cluster with fsync
on (--slimdata-sync true, the default). wrk sends proposals
`POST /data/sets/<unique id>` (bench/wrk/slimdata_set.lua: every request a new
id) with a body of 64 B or 4 KiB, closed loop at concurrency 1, 16 and 64,
to the leader; one extra case goes through a follower (which forwards to the
leader) for comparison. A proposal is answered 200 once committed and
applied, so committed ops/s = 200s / duration, and wrk's latency is the
commit latency seen by the client.

For each case we also take, from the leader's /debug/raft counters, how many
log writes (fsynced batches) and entries it persisted during the run: their
ratio is the group-commit batch size. After the run: RSS (VmRSS) and peak
RSS (VmHWM) of each node.

  bench/slimdata.py [--duration 8] [--warmup 2] [--payloads 64,4096]
                    [--concurrency 1,16,64] [--out DIR]

Binaries: SLIMFAAS_BIN (default build/release/slimfaas), WRK_BIN (wrk on
PATH). BENCH_WRK_THREADS (default 1: on 2 cores a second wrk thread only
takes CPU from the nodes). Only 127.0.0.1. Results:
bench/results/<UTC time>-slimdata/slimdata.{json,md} (+ node logs).
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench/wrk/slimdata_set.lua")
sys.path.insert(0, os.path.join(ROOT, "bench/lib"))
from run_context import run_context  # noqa: E402
from slimdata_cluster import Cluster, actor_threads_share, proc_status, raft, request, wait_for  # noqa: E402




def run_wrk(wrk, port, case, via, payload_file, conc, duration, threads, run_id):
    env = dict(os.environ, BENCH_BODY_FILE=payload_file, BENCH_CASE=case, BENCH_VIA=via,
               BENCH_CONCURRENCY=str(conc), BENCH_RUN_ID=run_id)
    t = max(1, min(threads, conc))
    cmd = [wrk, f"-t{t}", f"-c{conc}", f"-d{duration}s", "--timeout", "10s", "--latency", "-s", LUA,
           f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        sys.exit(f"slimdata: wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return json.loads(line[len("BENCH_JSON "):]), out.stdout


def run_case(cluster, wrk, case, via, body_file, conc, args, wrk_threads, run_id, wrk_log):
    """One case on a fresh cluster: start, elect, sanity check, warm up, measure, settle, footprint."""
    cluster.start()
    leader = cluster.wait_leader()
    if leader is None:
        sys.exit(f"slimdata: {case}: the cluster did not elect a stable leader (exited nodes: "
                 f"{cluster.dead_nodes()}); see {cluster.logs}")
    follower = next(n for n in cluster.nodes if n is not leader)
    node = leader if via == "leader" else follower
    # Sanity: a proposal through a follower is readable from every node.
    code, _, _ = request(follower["http"], "POST", "/data/sets/bench-check", body=b"ok")
    if code != 200 or any(request(n["http"], "GET", "/data/sets/bench-check")[0] != 200 for n in cluster.nodes):
        sys.exit(f"slimdata: {case}: sanity write/read failed; see {cluster.logs}")
    if args.warmup > 0:
        run_wrk(wrk, node["http"], case, via, body_file, conc, args.warmup, wrk_threads, "w" + run_id)
    before = raft(leader["http"])
    row, text = run_wrk(wrk, node["http"], case, via, body_file, conc, args.duration, wrk_threads, "m" + run_id)
    after = raft(leader["http"]) or {}
    wrk_log.write(f"== {case}\n{text}\n")
    row["sent_to_node"] = node["id"]
    row["leader_at_start"] = leader["id"]
    row["leader_at_end"] = after.get("leader")
    # Term increases during the measured run: elections (a healthy leader never sees one).
    row["elections"] = max(r.get("term", 0) for r in (raft(n["http"]) or {} for n in cluster.nodes)) - before["term"]
    ca, cb = after.get("counters", {}), before["counters"]
    writes = ca.get("persists", 0) - cb["persists"]
    entries = ca.get("persisted_entries", 0) - cb["persisted_entries"]
    row["leader_log_writes"] = writes
    row["leader_persisted_entries"] = entries
    row["entries_per_write"] = entries / writes if writes > 0 else 0.0
    row["error_count"] = sum(row["errors"][e] for e in ("connect", "read", "write", "timeout")) + row["non_200"]
    # Every node applied everything committed, then the footprint.
    final = raft(leader["http"]) or {"commit_index": 0}
    wait_for(lambda: all((raft(n["http"]) or {}).get("last_applied", -1) >= final["commit_index"]
                         for n in cluster.nodes), 30)
    row["nodes_after"] = []
    for n in cluster.nodes:
        r = raft(n["http"]) or {}
        st = proc_status(n["proc"].pid)
        row["nodes_after"].append({"id": n["id"], "role": r.get("role"), "rss_mib": st.get("VmRSS"),
                                   "peak_rss_mib": st.get("VmHWM"), "commit_index": r.get("commit_index"),
                                   "last_applied": r.get("last_applied"), "snapshot_index": r.get("snapshot_index")})
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of discarded warm-up per case")
    ap.add_argument("--payloads", default="64,4096")
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--follower-case", default="64:16", help="payload:concurrency sent through a follower ('' for none)")
    ap.add_argument("--node-args", default="", help="more `slimfaas serve` options for every node")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    binary = os.environ.get("SLIMFAAS_BIN", os.path.join(ROOT, "build/release/slimfaas"))
    wrk = os.environ.get("WRK_BIN", shutil.which("wrk") or "/usr/bin/wrk")
    for b in (binary, wrk):
        if not os.access(b, os.X_OK):
            sys.exit(f"slimdata: {b} is missing (build with 'make build'; apt-get install wrk)")
    wrk_threads = int(os.environ.get("BENCH_WRK_THREADS", "1"))
    payloads = [int(p) for p in args.payloads.split(",") if p]
    concs = [int(c) for c in args.concurrency.split(",") if c]

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or os.path.join(ROOT, "bench/results", f"{stamp}-slimdata")
    logs = os.path.join(out_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    work = tempfile.mkdtemp(prefix="slimfaas-slimdata-")
    bodies = {}
    for p in payloads + ([int(args.follower_case.split(":")[0])] if args.follower_case else []):
        path = os.path.join(work, f"body-{p}")
        with open(path, "wb") as f:
            f.write(bytes((ord("a") + i % 26) for i in range(p)))
        bodies[p] = path

    load_start = os.getloadavg()[0]
    cases = [(p, c, "leader") for p in payloads for c in concs]
    if args.follower_case:
        fp, fc = (int(x) for x in args.follower_case.split(":"))
        cases.append((fp, fc, "follower"))
    rows = []
    used_ports = set()
    wrk_log = open(os.path.join(logs, "wrk.log"), "w")
    try:
        for k, (payload, conc, via) in enumerate(cases):
            case = f"{payload}B-c{conc}-{via}"
            case_logs = os.path.join(logs, case)
            os.makedirs(case_logs, exist_ok=True)
            cluster = Cluster(binary, os.path.join(work, case), case_logs, used_ports, extra_args=args.node_args.split())
            try:
                row = run_case(cluster, wrk, case, via, bodies[payload], conc, args, wrk_threads,
                               f"{k}-{stamp}", wrk_log)
            finally:
                cluster.stop()
                shutil.rmtree(os.path.join(work, case), ignore_errors=True)
            rows.append(row)
            lat = row["latency_us"]
            rss = "/".join(f"{n['rss_mib'] or 0:.0f}" for n in row["nodes_after"])
            print(f"{case}: {row['committed_ops_s']:.0f} committed ops/s, p50 {lat['p50']/1e3:.2f} ms, "
                  f"p95 {lat['p95']/1e3:.2f} ms, p99 {lat['p99']/1e3:.2f} ms, errors {row['error_count']}, "
                  f"{row['entries_per_write']:.1f} entries/log write, elections {row['elections']}, "
                  f"RSS after {rss} MiB", 
                  flush=True)
    finally:
        wrk_log.close()
        shutil.rmtree(work, ignore_errors=True)

    ctx = run_context(binary)
    commit, dirty, cpu, build = ctx["commit"], ctx["dirty"], ctx["cpu"], ctx["build"]
    result = {"scenario": "slimdata", "commit": commit, "worktree_dirty": bool(dirty), "build": build, "cpu": cpu,
              "cores": os.cpu_count(), "binary": binary,
              "load_average_1m": {"start": load_start, "end": os.getloadavg()[0]},
              "settings": {"nodes": 3, "fsync": True, "fresh_cluster_per_case": True, "duration_s": args.duration,
                           "warmup_s": args.warmup, "wrk_threads": wrk_threads, "tick_ms": 50,
                           "election_ticks": 10, "request_timeout_ms": 5000,
                           "snapshot_interval_entries": 10000, "actor_threads": actor_threads_share()},
              "runs": rows,
              "targets": {"committed_ops_s": 20000, "p95_ms_at_c16": 3.0}}
    with open(os.path.join(out_dir, "slimdata.json"), "w") as f:
        json.dump(result, f, indent=2)

    md = [f"# SlimData proposals, commit {commit}{' (+ uncommitted changes)' if dirty else ''}, {build}, "
          f"{cpu}, {os.cpu_count()} cores", "",
          f"3 `slimfaas serve` nodes on 127.0.0.1 (a fresh cluster per case), fsync on, "
          f"`--actor-threads {actor_threads_share()}` per node (its share of the CPUs), "
          f"`POST /data/sets/<unique id>`, wrk closed loop ({wrk_threads} thread), {args.duration} s per case after "
          f"{args.warmup} s of warm-up. ops/s = 200 answers per second (each one committed and applied); "
          "latency = wrk's request latency (the client's commit latency). "
          f"Load average (1 min) {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.", "",
          "| payload | conc | via | committed ops/s | p50 ms | p95 ms | p99 ms | max ms | errors | "
          "entries per log write (leader) | elections | RSS after MiB (n1/n2/n3) | peak RSS MiB (max) |",
          "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        lat = r["latency_us"]
        size = "4 KiB" if r["payload_bytes"] == 4096 else f"{r['payload_bytes']} B"
        rss = "/".join(f"{n['rss_mib'] or 0:.0f}" for n in r["nodes_after"])
        peak = max((n["peak_rss_mib"] or 0) for n in r["nodes_after"])
        md.append(f"| {size} | {r['concurrency']} | {r['via']} | {r['committed_ops_s']:.0f} | "
                  f"{lat['p50']/1e3:.2f} | {lat['p95']/1e3:.2f} | {lat['p99']/1e3:.2f} | {lat['max']/1e3:.2f} | "
                  f"{r['error_count']} | {r['entries_per_write']:.1f} | {r['elections']} | {rss} | {peak:.0f} |")
    best = max((r["committed_ops_s"] for r in rows), default=0)
    c16 = [r for r in rows if r["concurrency"] == 16 and r["via"] == "leader"]
    md += ["", f"Targets: >= 20,000 committed ops/s (best here: {best:.0f}); "
           f"p95 <= 3 ms at concurrency 16 (here: " +
           ", ".join(f"{r['payload_bytes']} B {r['latency_us']['p95']/1e3:.2f} ms" for r in c16) + "). "
           "'elections' counts term changes during the measured run (0 when the leader stayed healthy)."]
    with open(os.path.join(out_dir, "slimdata.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nresults: {out_dir}")


if __name__ == "__main__":
    main()
