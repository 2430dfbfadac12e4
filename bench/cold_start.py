#!/usr/bin/env python3
"""Scenario 3: cold start.

A function at 0 replicas receives a sync request through `slimfaas local up`.
For each run we measure:
  total     - the first request's latency, sent while the function is at zero;
  own       - the same function binary's own start-to-ready time, measured
              without slimfaas: spawn it, then probe GET /health every 0.2 ms
              until it answers 200;
  added     - total - own: what slimfaas adds (deciding to wake, spawning,
              noticing readiness, proxying the held request).
Runs alternate (one cold call, one bare start) so noise hits both alike. After
each cold call the function goes back to zero (TimeoutSecondBeforeSetReplicasMin
= 1) and the script waits until its process is gone.

  bench/cold_start.py [--runs 10] [--out DIR]

Binaries: SLIMFAAS_BIN, ECHO_BIN (default build/release/...). Only 127.0.0.1.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench/lib"))
from run_context import run_context  # noqa: E402
from stats import percentile  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=30.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def status(port, function):
    code, body = get(port, "/status-function/" + function, 5.0)
    return json.loads(body) if code == 200 else {}


def wait_for(predicate, timeout, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def pids_listening_range(binary, first, last):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].decode(errors="replace") == binary and b"--port" in args:
            port = int(args[args.index(b"--port") + 1])
            if first <= port <= last:
                out.append(int(pid))
    return out


def own_start_to_ready(echo_bin):
    """Spawn the function directly; time until GET /health answers 200."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([echo_bin, "--port", str(port), "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                code, _ = get(port, "/health", 1.0)
                if code == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("echo did not start")
            time.sleep(0.0002)
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    slimfaas = os.environ.get("SLIMFAAS_BIN", os.path.join(ROOT, "build/release/slimfaas"))
    echo_bin = os.environ.get("ECHO_BIN", os.path.join(ROOT, "build/release/examples/echo"))
    for b in (slimfaas, echo_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"cold_start: {b} is missing; run 'make build' first")

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or os.path.join(ROOT, "bench/results", f"{stamp}-cold-start")
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="slimfaas-cold-")
    entry, node = free_port(), free_port()
    first = 24000 + os.getpid() % 500 * 10
    manifest = os.path.join(work, "slimfaas.local.yaml")
    with open(manifest, "w") as f:
        f.write(f"""schemaVersion: 1
name: cold
cluster: {{ nodes: 1, entrypointPort: {entry}, nodeHttpPortBase: {node}, nodeLogLevel: Warning }}
processPorts: {{ from: {first}, to: {first + 9} }}
state: {{ mode: ephemeral, directory: {work}/state }}
functions:
  echo:
    command: ["{echo_bin}", "--port", "{{port}}", "--threads", "1"]
    annotations:
      SlimFaas/Function: "true"
      SlimFaas/ReplicasMin: "0"
      SlimFaas/TimeoutSecondBeforeSetReplicasMin: "1"
    health: {{ path: /health, periodSeconds: 1, timeoutSeconds: 2, startupTimeoutSeconds: 30 }}
""")
    log = open(os.path.join(out_dir, "slimfaas.log"), "w")
    proc = subprocess.Popen([slimfaas, "local", "up", "-f", manifest], stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        if not wait_for(lambda: _ok(entry), 30):
            sys.exit("cold_start: slimfaas did not start; see " + log.name)
        own_start_to_ready(echo_bin)  # warm the page cache for the binary
        for i in range(args.runs):
            # At zero, process gone.
            if not wait_for(lambda: status(entry, "echo").get("NumberRequested") == 0
                            and not pids_listening_range(echo_bin, first, first + 9), 30, 0.05):
                sys.exit("cold_start: the function did not go back to zero")
            time.sleep(0.2)
            t0 = time.perf_counter()
            code, _ = get(entry, "/function/echo/echo/cold")
            total = time.perf_counter() - t0
            if code != 200:
                sys.exit(f"cold_start: run {i}: status {code}")
            # A warm call right after, for the proxy's own share.
            t1 = time.perf_counter()
            get(entry, "/function/echo/echo/warm")
            warm = time.perf_counter() - t1
            own = own_start_to_ready(echo_bin)
            rows.append({"run": i, "total_ms": total * 1e3, "own_ms": own * 1e3,
                         "added_ms": (total - own) * 1e3, "warm_call_ms": warm * 1e3})
            print(f"run {i}: total {total*1e3:.2f} ms, own start-to-ready {own*1e3:.2f} ms, "
                  f"added {(total-own)*1e3:.2f} ms (warm call {warm*1e3:.2f} ms)", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()

    def summary(key):
        v = [r[key] for r in rows]
        return {"p50": statistics.median(v), "p90": percentile(v, 0.9), "min": min(v), "max": max(v)}

    ctx = run_context(slimfaas)
    commit, cpu = ctx["commit"] + (" (+ uncommitted changes)" if ctx["dirty"] else ""), ctx["cpu"]
    result = {"scenario": "cold-start", "commit": commit, "build": ctx["build"], "cpu": cpu, "cores": os.cpu_count(),
              "runs": rows, "total_ms": summary("total_ms"), "own_ms": summary("own_ms"),
              "added_ms": summary("added_ms"), "warm_call_ms": summary("warm_call_ms")}
    with open(os.path.join(out_dir, "cold_start.json"), "w") as f:
        json.dump(result, f, indent=2)
    md = [f"# Cold start (scenario 3), commit {commit}, {ctx['build']}, {cpu}, {os.cpu_count()} cores, {len(rows)} runs", "",
          "| measure | p50 ms | p90 ms | min ms | max ms |", "|---|---:|---:|---:|---:|"]
    for key, label in (("total_ms", "first request at zero (total)"), ("own_ms", "function's own start-to-ready"),
                       ("added_ms", "added by slimfaas (total - own)"), ("warm_call_ms", "warm call right after")):
        s = result[key]
        md.append(f"| {label} | {s['p50']:.2f} | {s['p90']:.2f} | {s['min']:.2f} | {s['max']:.2f} |")
    with open(os.path.join(out_dir, "cold_start.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nresults: {out_dir}")


def _ok(port):
    try:
        return get(port, "/health", 1.0)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
