#!/usr/bin/env python3
"""A follower that missed compacted entries catches up from a large snapshot,
while a client keeps writing to the cluster.

A three-node cluster like bench/async.py's (fsync on). One follower is
stopped; --mib values of 1 MiB are written (the leader snapshots and
compacts its log meanwhile); the follower is started again and, until it
has applied what the leader had committed, one small value is written
every 20 ms and timed. The script prints the catch-up time, the slowest
small writes (any answer but 200 is shown as such), whether the term
changed (an election) and each node's role and term at the end.

  bench/snapshot_catchup.py [--mib 200] [--reps 1] [--json FILE]

Binary: SLIMFAAS_BIN (default build/release/slimfaas). Only 127.0.0.1.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from slimdata_cluster import Cluster, raft, request  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_run(binary, mib, work):
    used = set()
    cluster = Cluster(binary, os.path.join(work, "nodes"), work, used)
    cluster.start()
    try:
        leader = cluster.wait_leader()
        if leader is None:
            raise RuntimeError("no leader")
        lagging = next(n for n in cluster.nodes if n is not leader)
        lagging["proc"].send_signal(signal.SIGTERM)
        lagging["proc"].wait(60)
        value = os.urandom(1 << 20)
        for i in range(mib):
            code, _, _ = request(leader["http"], "POST", f"/data/sets/large-{i}", body=value, timeout=30)
            if code != 200:
                raise RuntimeError(f"write {i} answered {code}")
        before = raft(leader["http"])
        start = time.monotonic()
        cluster.start_node(lagging, "-again")
        writes, caught = [], None
        while time.monotonic() - start < 120:
            t = time.monotonic()
            try:
                code, _, _ = request(leader["http"], "POST", "/data/sets/small", body=b"x", timeout=30)
            except OSError as e:
                code = str(e)
            writes.append((round(t - start, 3), round(time.monotonic() - t, 4), code))
            j = raft(lagging["http"])
            if j and j.get("last_applied", 0) >= before["commit_index"]:
                caught = round(time.monotonic() - start, 2)
                break
            time.sleep(0.02)
        after = {n["id"]: raft(n["http"]) for n in cluster.nodes}
        return {
            "mib": mib,
            "snapshot_index": before["snapshot_index"],
            "caught_up_s": caught,
            "slowest_writes": sorted(writes, key=lambda w: -w[1])[:5],
            "writes": len(writes),
            "failed_writes": sum(1 for w in writes if w[2] != 200),
            "term_before": before["term"],
            "nodes_after": {i: (j and {"role": j["role"], "term": j["term"],
                                       "snapshots_sent": j["counters"].get("snapshots_sent"),
                                       "snapshots_received": j["counters"].get("snapshots_received")})
                            for i, j in after.items()},
        }
    finally:
        cluster.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    binary = os.environ.get("SLIMFAAS_BIN", os.path.join(ROOT, "build/release/slimfaas"))
    runs = []
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="slimfaas-catchup-") as work:
            r = one_run(binary, args.mib, work)
        runs.append(r)
        terms = sorted({n["term"] for n in r["nodes_after"].values() if n})
        print(f"rep {rep + 1}: {r['mib']} MiB, caught up in {r['caught_up_s']} s; slowest small writes "
              f"(s after restart, s, status): {r['slowest_writes'][:3]}; failed {r['failed_writes']} of "
              f"{r['writes']}; term {r['term_before']} -> {terms}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"binary": binary, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
