#!/usr/bin/env python3
"""Scenario 2: async acceptance and arrival.

Three `slimfaas serve` nodes on 127.0.0.1 form a SlimData cluster with fsync
on (--slimdata-sync true). One function, `bench`, has NumberParallelRequest
(and PerPod) 64 and one replica: a receiver (bench/async_peer, `receive`)
that records, per SlimFaas-Element-Id, the time its handler starts and
answers 200 at once. A sender (bench/async_peer, `send`) POSTs
`/async-function/bench/work` to the leader over keep-alive connections and
records, per request, the send time, the answer time, the status and the
element id. Both use CLOCK_MONOTONIC, so:

  acceptance = send -> 202 (the call is committed on a majority, fsynced)
  arrival    = send -> the receiver's handler start (first attempt)

Cases, each on a fresh cluster, payloads 64 B and 4 KiB:
  paced      100 msgs, one every 100 ms (the queue is idle between them)
  burst      1,000 msgs at concurrency 64
  sustained  --duration s (10) as fast as possible, once per
             --sustained-concurrency value (64 and 256: the function's cap
             follows); 256 connections show the acceptance rate once the
             commit rounds are full, 64 what a smaller client pool gets
After sending, the script waits until the leader reports every call
delivered (slimfaas_async_delivered_total), then compares the receiver's
record with the 202s: missing = accepted ids never seen; duplicated = ids
seen more than once. Throughput = 202s / (last answer - first send);
delivery rate = arrivals / (last arrival - first send).

Beside each sustained case (--reference nginx, the default) the same
sender, receiver, payload and connections run through nginx as a plain
keep-alive reverse proxy (bench/lib/nginx_proxy.py): one proxied call is
the least an async call costs its node, so nginx's rate, measured minutes
apart from the candidate, is the bar on this machine for a front end that
does nothing else, and the record gives accepted msgs/s as a share of it.

With --reps N every case runs N times, the repetitions interleaved (all
cases once, then all again), and the record gives each case's median and
range; the comparison with the targets uses the medians. Before each
repetition a host probe (bench/lib/host_probe.py) measures the disk's
fdatasync time, idle and back to back, and a fixed CPU loop, in the same
process tree, so a slow quarter of an hour shows in the record.

  bench/async.py [--payloads 64,4096] [--cases paced,burst,sustained]
                 [--duration 10] [--concurrency 64] [--sustained-concurrency 64,256]
                 [--reps 1] [--trace-fsync] [--trace-hops] [--reference nginx|none] [--out DIR]

--trace-fsync (paced cases; needs perf) splits each call's time around its
nodes' fdatasync calls: see bench/lib/fsync_trace.py. --trace-hops does that
and splits it further, hop by hop between threads and nodes, from more of
their system calls (bench/lib/hop_trace.py); tracing them costs each call a
little, so its paced figures are not comparable with an untraced run's.

Binaries: SLIMFAAS_BIN (default build/release/slimfaas), NGINX_BIN (default
nginx on PATH; Debian's nginx-light, scripts/install-deps.sh), ASYNC_PEER_BIN
(default build/bench-async-peer/async_peer, built from bench/async_peer with
cmake and brought up to date first). Only 127.0.0.1. Results:
bench/results/<UTC time>-async/async.{json,md} (+ node logs). BENCH_COMMIT
names the binary's commit when it was not built from this worktree.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench/lib"))
import cpu_split  # noqa: E402
import fsync_trace  # noqa: E402
import hop_trace  # noqa: E402
import host_probe  # noqa: E402
import nginx_proxy  # noqa: E402
from run_context import run_context  # noqa: E402
from stats import percentile, summary  # noqa: E402
from slimdata_cluster import Cluster, actor_threads_share, free_port, proc_status, raft, request, wait_for  # noqa: E402,F401
FUNCTION = "bench"
# SlimFaas's numbers, from issue 5, and the targets.
REFERENCE = {"accept_p95_ms": 13.6, "accepted_per_s": 1221, "arrival_p95_ms": 44.0}
TARGETS = {"accept_p95_ms": 3.0, "accepted_per_s": 20000, "arrival_p95_ms": 10.0, "missing": 0}


def metric(port, name):
    try:
        code, body, _ = request(port, "GET", "/metrics", timeout=5.0)
    except OSError:
        return None
    if code != 200:
        return None
    m = re.search(r"^" + re.escape(name) + r'\{[^}]*function="' + FUNCTION + r'"[^}]*\}\s+(\S+)$',
                  body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


class Receiver:
    def __init__(self, peer, logs, name):
        self.out = os.path.join(logs, f"{name}-arrivals.txt")
        self.proc = subprocess.Popen([peer, "receive", "--out", self.out], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            sys.exit("async: the receiver did not start")
        self.port = int(line.split()[1])

    def count(self):
        return json.loads(request(self.port, "GET", "/__stats")[1])["requests"]

    def dump(self):
        request(self.port, "GET", "/__dump", timeout=60)
        arrivals = []
        with open(self.out) as f:
            for line in f:
                i, at, tn = line.split()
                arrivals.append((i, int(at), tn))
        return arrivals

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def cluster_for(binary, work, logs, used, receiver_port, concurrency, extra_args=()):
    """The cluster serving the one benchmark function, delivered to the receiver."""
    cfg = {"DefaultSync": {"HttpTimeout": 30}, "DefaultAsync": {"HttpTimeout": 30}}
    functions = json.dumps({"Functions": [{
        "Name": FUNCTION, "NumberParallelRequest": concurrency, "NumberParallelRequestPerPod": concurrency,
        "Urls": [f"http://127.0.0.1:{receiver_port}"],
        "Annotations": {"SlimFaas/Configuration": json.dumps(cfg)}}]})
    return Cluster(binary, work, logs, used, functions, extra_args)


def run_sender(peer, port, payload, concurrency, out, count=None, duration=None, interval_ms=None):
    cmd = [peer, "send", "--port", str(port), "--target", f"/async-function/{FUNCTION}/work",
           "--payload", str(payload), "--concurrency", str(concurrency), "--out", out]
    if count is not None:
        cmd += ["--count", str(count)]
    if duration is not None:
        cmd += ["--duration", str(duration)]
    if interval_ms is not None:
        cmd += ["--interval-ms", str(interval_ms)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"async: sender failed ({r.returncode}): {r.stderr}")
    head = json.loads(r.stdout.strip().splitlines()[-1])
    records = []
    with open(out) as f:
        for line in f:
            seq, sent, done, status, eid = line.split()
            records.append({"seq": int(seq), "sent": int(sent), "done": int(done), "status": int(status),
                            "id": eid})
    return head, records


def case_name(payload, mode, concurrency):
    return f"{'4KiB' if payload == 4096 else str(payload) + 'B'}-{mode}" + (f"-c{concurrency}" if mode == "sustained" else "")


def run_case(binary, peer, payload, mode, concurrency, args, work, logs, used, rep=0):
    case = case_name(payload, mode, concurrency)
    case_logs = os.path.join(logs, case + (f"-r{rep + 1}" if args.reps > 1 else ""))
    fsync_events = None
    os.makedirs(case_logs, exist_ok=True)
    receiver = Receiver(peer, case_logs, case)
    cluster = cluster_for(binary, os.path.join(work, case), case_logs, used, receiver.port, concurrency,
                          args.node_args.split())
    try:
        cluster.start()
        leader = cluster.wait_leader()
        if leader is None:
            sys.exit(f"async: {case}: no stable leader (exited nodes: {cluster.dead_nodes()}); see {case_logs}")
        # Sanity + warm-up (opens the pool's connections): 64 calls, all delivered.
        warm = concurrency
        run_sender(peer, leader["http"], payload, min(concurrency, 64), os.path.join(case_logs, "warmup.txt"),
                   count=warm)
        if not wait_for(lambda: receiver.count() >= warm, 60):
            sys.exit(f"async: {case}: warm-up calls did not arrive; see {case_logs}")
        base_delivered = metric(leader["http"], "slimfaas_async_delivered_total") or 0
        cpu_before = {n["id"]: cpu_seconds(n["proc"].pid) for n in cluster.nodes}
        out = os.path.join(case_logs, "sent.txt")
        cpu_window = cpu_split.Window(
            {**{("leader" if n is leader else f"follower-{n['id']}"): n["proc"].pid for n in cluster.nodes},
             "function": receiver.proc.pid}, waited_role="sender")
        if mode == "paced":
            tracer = None
            if args.trace_fsync:
                tracer = fsync_trace.FsyncTrace([n["proc"].pid for n in cluster.nodes],
                                                os.path.join(case_logs, "fsync.perf"),
                                                hop_trace.EVENTS if args.trace_hops else fsync_trace.EVENTS)
                try:
                    tracer.start()
                except RuntimeError as e:
                    sys.exit(f"async: --trace-fsync: {e}")
            cpu_window.start()
            head, records = run_sender(peer, leader["http"], payload, 1, out, count=args.paced_count,
                                       interval_ms=args.paced_interval_ms)
            cpu_window.stop()
            if tracer:
                fsync_events = tracer.stop()
        elif mode == "burst":
            cpu_window.start()
            head, records = run_sender(peer, leader["http"], payload, concurrency, out, count=args.burst_count)
            cpu_window.stop()
        else:
            cpu_window.start()
            head, records = run_sender(peer, leader["http"], payload, concurrency, out, duration=args.duration)
            cpu_window.stop()
        accepted = [r for r in records if r["status"] == 202]
        cpu_while_sending = cpu_window.split(len(accepted))
        # Wait until the leader has delivered (and acked) every accepted call.
        want = base_delivered + len(accepted)
        drained = wait_for(lambda: (metric(leader["http"], "slimfaas_async_delivered_total") or 0) >= want,
                           args.drain_timeout, 0.1)
        cpu_after = {n["id"]: cpu_seconds(n["proc"].pid) for n in cluster.nodes}
        arrivals = receiver.dump()
        nodes_after = []
        for n in cluster.nodes:
            st = proc_status(n["proc"].pid)
            nodes_after.append({"id": n["id"], "leader": n is leader, "rss_mib": st.get("VmRSS"),
                                "peak_rss_mib": st.get("VmHWM"),
                                "cpu_s": cpu_after[n["id"]] - cpu_before[n["id"]]})
        elections = max((raft(n["http"]) or {}).get("term", 0) for n in cluster.nodes)
    finally:
        cluster.stop()
        receiver.stop()
        if not args.keep_data:
            shutil.rmtree(os.path.join(work, case), ignore_errors=True)

    first = {}
    seen = {}
    for eid, at, _ in arrivals:
        seen[eid] = seen.get(eid, 0) + 1
        if eid not in first or at < first[eid]:
            first[eid] = at
    accept_ms = [(r["done"] - r["sent"]) / 1e6 for r in accepted]
    arrival_ms = [(first[r["id"]] - r["sent"]) / 1e6 for r in accepted if r["id"] in first]
    missing = [r["id"] for r in accepted if r["id"] not in first]
    duplicated = [r["id"] for r in accepted if seen.get(r["id"], 0) > 1]
    ids = [r["id"] for r in accepted]
    t0 = min(r["sent"] for r in records) if records else 0
    t_accept_end = max((r["done"] for r in accepted), default=t0)
    t_arrive_end = max((first[r["id"]] for r in accepted if r["id"] in first), default=t0)
    status_counts = {}
    for r in records:
        status_counts[str(r["status"])] = status_counts.get(str(r["status"]), 0) + 1
    row = {
        "case": case, "rep": rep, "payload_bytes": payload, "mode": mode,
        "concurrency": 1 if mode == "paced" else concurrency,
        "sent": len(records), "accepted": len(accepted), "statuses": status_counts,
        "transport_errors": head["transport_errors"],
        "acceptance_ms": summary(accept_ms), "arrival_ms": summary(arrival_ms),
        "accepted_per_s": len(accepted) / ((t_accept_end - t0) / 1e9) if t_accept_end > t0 else 0.0,
        "delivered_per_s": len(arrival_ms) / ((t_arrive_end - t0) / 1e9) if t_arrive_end > t0 else 0.0,
        "send_window_s": (t_accept_end - t0) / 1e9,
        "missing": len(missing), "missing_ids": missing[:20],
        "duplicated": len(duplicated), "duplicated_ids": duplicated[:20],
        "unique_ids": len(set(ids)) == len(ids),
        "drained": drained, "leader": leader["id"], "final_term": elections,
        "nodes_after": nodes_after,
        "cpu_s_per_10k": (sum(n["cpu_s"] for n in nodes_after) / len(accepted) * 1e4) if accepted else None,
        "cpu_while_sending": cpu_while_sending,
    }
    if fsync_events is not None:
        row["fsync_trace"] = fsync_trace.decompose(accepted, fsync_events, leader["proc"].pid)
        if args.trace_hops:
            row["hop_trace"] = hop_trace.decompose(accepted, hop_trace.read(os.path.join(case_logs, "fsync.perf")),
                                                   leader["proc"].pid,
                                                   [n["proc"].pid for n in cluster.nodes if n is not leader])
    if mode == "sustained" and args.reference == "nginx":
        row["proxy_reference"] = run_proxy_reference(peer, payload, concurrency, args, os.path.join(work, case),
                                                     case_logs, used)
    return row


def run_proxy_reference(peer, payload, concurrency, args, work, logs, used):
    """The sustained case's clients through nginx (bench/lib/nginx_proxy.py):
    calls answered per second, answer and arrival times, nginx's CPU."""
    os.makedirs(work, exist_ok=True)
    receiver = Receiver(peer, logs, "nginx")
    proxy = nginx_proxy.NginxProxy(args.nginx, work, logs, free_port(used), receiver.port, os.cpu_count(),
                                   concurrency)
    try:
        try:
            proxy.start()
        except RuntimeError as e:
            sys.exit(f"async: reference: {e}")
        run_sender(peer, proxy.port, payload, min(concurrency, 64), os.path.join(logs, "nginx-warmup.txt"),
                   count=concurrency)
        if not wait_for(lambda: receiver.count() >= concurrency, 30):
            sys.exit(f"async: reference: warm-up calls did not arrive through nginx; see {logs}")
        cpu_before = sum(cpu_seconds(p) for p in proxy.pids())
        head, records = run_sender(peer, proxy.port, payload, concurrency, os.path.join(logs, "nginx-sent.txt"),
                                   duration=args.duration)
        cpu = sum(cpu_seconds(p) for p in proxy.pids()) - cpu_before
        arrivals = receiver.dump()
    finally:
        proxy.stop()
        receiver.stop()
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
    answered = [r for r in records if r["status"] == 200]
    first = {}
    for eid, at, _ in arrivals:
        first[eid] = min(at, first.get(eid, at))
    t0 = min((r["sent"] for r in records), default=0)
    t_end = max((r["done"] for r in answered), default=t0)
    statuses = {}
    for r in records:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    return {
        "sent": len(records), "answered": len(answered), "statuses": statuses,
        "transport_errors": head["transport_errors"],
        "answered_per_s": len(answered) / ((t_end - t0) / 1e9) if t_end > t0 else 0.0,
        "answer_ms": summary([(r["done"] - r["sent"]) / 1e6 for r in answered]),
        "arrival_ms": summary([(first[r["id"]] - r["sent"]) / 1e6 for r in answered if r["id"] in first]),
        "missing": sum(1 for r in answered if r["id"] not in first),
        "nginx_cpu_s_per_10k": cpu / len(answered) * 1e4 if answered else None,
    }


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def share(part, whole):
    return "-" if not whole else f"{part / whole:.0%}"


def peer_binary():
    """The bench/async_peer binary: ASYNC_PEER_BIN as given, or the one under
    build/, built and brought up to date with its source first (a binary
    left by an older checkout would measure with an older client)."""
    given = os.environ.get("ASYNC_PEER_BIN")
    if given:
        if not os.access(given, os.X_OK):
            sys.exit(f"async: ASYNC_PEER_BIN {given} is not an executable")
        return given
    bdir = os.path.join(ROOT, "build/bench-async-peer")
    if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", os.path.join(ROOT, "bench/async_peer"), "-B", bdir,
                        "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", bdir], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(bdir, "async_peer")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--payloads", default="64,4096")
    ap.add_argument("--cases", default="paced,burst,sustained")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of the sustained case")
    ap.add_argument("--concurrency", type=int, default=64, help="burst connections, and the function's cap")
    ap.add_argument("--sustained-concurrency", default="64,256",
                    help="the sustained case once per value: connections, and the function's cap")
    ap.add_argument("--burst-count", type=int, default=1000)
    ap.add_argument("--paced-count", type=int, default=100)
    ap.add_argument("--paced-interval-ms", type=int, default=100)
    ap.add_argument("--drain-timeout", type=float, default=180.0)
    ap.add_argument("--reps", type=int, default=1, help="runs of every case, interleaved; medians reported")
    ap.add_argument("--trace-fsync", action="store_true",
                    help="paced cases: split each call's time around its nodes' fdatasync calls (needs perf)")
    ap.add_argument("--trace-hops", action="store_true",
                    help="--trace-fsync, and each paced call split hop by hop between threads and nodes")
    ap.add_argument("--reference", choices=("nginx", "none"), default="nginx",
                    help="beside each sustained case, the same clients through nginx as a plain proxy")
    ap.add_argument("--node-args", default="", help="more `slimfaas serve` options for every node (experiments)")
    ap.add_argument("--out", default="")
    ap.add_argument("--keep-data", action="store_true",
                    help="keep the nodes' data directories (RocksDB LOG with flush and compaction stats, snapshots)")
    ap.add_argument("--report", default="", metavar="DIR", help="only write DIR/async.md again from DIR/async.json")
    args = ap.parse_args()
    if args.report:
        return render(args.report)

    binary = os.environ.get("SLIMFAAS_BIN", os.path.join(ROOT, "build/release/slimfaas"))
    if not os.access(binary, os.X_OK):
        sys.exit(f"async: {binary} is missing (make build)")
    peer = peer_binary()
    args.nginx = nginx_proxy.binary() if args.reference == "nginx" else None
    if args.reference == "nginx" and args.nginx is None:
        sys.exit("async: --reference nginx: nginx is missing (scripts/install-deps.sh installs nginx-light; "
                 "or set NGINX_BIN, or pass --reference none)")
    args.trace_fsync = args.trace_fsync or args.trace_hops
    if args.trace_fsync and fsync_trace.available():
        sys.exit(f"async: --trace-fsync: {fsync_trace.available()}")
    payloads = [int(p) for p in args.payloads.split(",") if p]
    modes = [m for m in args.cases.split(",") if m]

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or os.path.join(ROOT, "bench/results", f"{stamp}-async")
    logs = os.path.join(out_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    work = tempfile.mkdtemp(prefix="slimfaas-async-")
    load_start = os.getloadavg()[0]
    rows = []
    probes = []
    used = set()
    if args.reps < 1:
        sys.exit("async: --reps must be at least 1")
    try:
        sustained = [int(c) for c in args.sustained_concurrency.split(",") if c]
        cases = [(mode, payload, c) for mode in modes for payload in payloads
                 for c in (sustained if mode == "sustained" else [args.concurrency])]
        for rep in range(args.reps):
            probes.append(host_probe.probe(work))
            print(f"rep {rep + 1}/{args.reps}: host {host_probe.describe(probes[-1])}", flush=True)
            for mode, payload, concurrency in cases:
                row = run_case(binary, peer, payload, mode, concurrency, args, work, logs, used, rep)
                rows.append(row)
                a, v = row["acceptance_ms"], row["arrival_ms"]
                print(f"{row['case']}: accepted {row['accepted']}/{row['sent']} ({row['accepted_per_s']:.0f}/s), "
                      f"202 p50/p95/p99 {fmt(a['p50'])}/{fmt(a['p95'])}/{fmt(a['p99'])} ms, "
                      f"arrival p50/p95/p99 {fmt(v['p50'])}/{fmt(v['p95'])}/{fmt(v['p99'])} ms, "
                      f"missing {row['missing']}, duplicated {row['duplicated']}", flush=True)
                if row.get("proxy_reference"):
                    ref = row["proxy_reference"]
                    print(f"{row['case']}: the same clients through nginx: {ref['answered']}/{ref['sent']} "
                          f"answered ({ref['answered_per_s']:.0f}/s); accepted = "
                          f"{share(row['accepted_per_s'], ref['answered_per_s'])} of it", flush=True)
    finally:
        if args.keep_data:
            print(f"nodes' data kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    ctx = run_context(binary)
    commit, dirty, cpu, build = ctx["commit"], ctx["dirty"], ctx["cpu"], ctx["build"]
    load_end = os.getloadavg()[0]
    result = {"scenario": "async", "commit": commit, "worktree_dirty": bool(dirty), "build": build, "cpu": cpu,
              "cores": os.cpu_count(), "binary": binary,
              "load_average_1m": {"start": load_start, "end": load_end},
              "settings": {"nodes": 3, "fsync": True, "fresh_cluster_per_case": True, "sent_to": "leader",
                           "function_parallelism": "the case's concurrency", "duration_s": args.duration,
                           "sustained_concurrency": args.sustained_concurrency,
                           "burst_count": args.burst_count, "paced_count": args.paced_count,
                           "paced_interval_ms": args.paced_interval_ms, "warmup_calls": args.concurrency,
                           "node_args": args.node_args, "actor_threads": actor_threads_share(),
                           "reps": args.reps, "trace_fsync": args.trace_fsync,
                           "trace_hops": args.trace_hops,
                           "reference": args.reference, "nginx_workers": os.cpu_count()},
              "host_probes": probes, "runs": rows, "targets": TARGETS, "slimfaas_reference": REFERENCE}
    with open(os.path.join(out_dir, "async.json"), "w") as f:
        json.dump(result, f, indent=2)
    render(out_dir)


def gap(here, target, lower_is_better=True):
    if here is None:
        return "-"
    if (here <= target) if lower_is_better else (here >= target):
        return "met"
    ratio = here / target if lower_is_better else target / here
    # Near the line, one decimal would read "1.0x": show two.
    text = f"{ratio:.2f}x" if ratio < 1.1 else f"{ratio:.1f}x"
    return f"{text} over" if lower_is_better else f"{text} short"


def node_options(settings):
    """The nodes' thread options as the record states them."""
    extra = settings.get("node_args", "")
    if "--actor-threads" in extra:
        return f"node options `{extra}`"
    share = settings.get("actor_threads")
    opts = f"`--actor-threads {share}` per node (its share of the CPUs)" if share else "default threads"
    return opts + (f", node options `{extra}`" if extra else "")


def grouped(rows):
    """Rows of one case (mode, payload, concurrency) together, in first-run order."""
    groups = {}
    for r in rows:
        groups.setdefault((r["mode"], r["payload_bytes"], r["concurrency"]), []).append(r)
    return list(groups.values())


def median(values):
    values = [v for v in values if v is not None]
    return percentile(values, 0.5) if values else None


def spread(values, digits):
    """`median` or, over several runs, `median (min-max)`."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0], digits)
    return f"{fmt(median(values), digits)} ({fmt(min(values), digits)}-{fmt(max(values), digits)})"


def size(b):
    return "4 KiB" if b == 4096 else f"{b} B"


def table_head(columns, rep_col, text_columns=0):
    """A table's header and alignment rows: `case` (and `rep`) first, then
    `columns`, numbers right-aligned but for the last `text_columns`."""
    names = ["case"] + (["rep"] if rep_col else []) + list(columns)
    numbers = len(names) - 1 - text_columns
    return ["| " + " | ".join(names) + " |", "|---|" + "---:|" * numbers + "---|" * text_columns]


def cpu_table(rows, rep_col):
    """Where the CPU went while the sustained cases sent (bench/lib/cpu_split.py)."""
    split_rows = [r for r in rows if r["mode"] == "sustained" and r.get("cpu_while_sending")]
    if not split_rows:
        return []

    def threads(role, top):
        named = list(role["threads_us_per_call"].items())[:top]
        return ", ".join(f"{name} {us:.1f}" for name, us in named)

    md = ["", "Where the CPU went while the sustained cases sent (bench/lib/cpu_split.py): the machine's busy "
          "share of all its CPUs (softirq in it), then CPU microseconds per accepted call: the whole machine, "
          "each process of the run, and what no process was charged with (softirq work, kernel threads, "
          "anything else running); minor page faults per call of the leader and each follower "
          "(bench/lib/cpu_split.py says why they matter); the leader's and a follower's busiest threads by name "
          "(docs/architecture.md, \"Threads\").", ""]
    md += table_head(["payload", "conc", "machine busy % (softirq)", "machine µs/call", "leader", "followers",
                      "sender", "function", "unattributed", "minor faults/call (leader; followers)",
                      "leader's threads µs/call",
                      "a follower's threads µs/call"], rep_col, text_columns=2)
    for r in split_rows:
        c = r["cpu_while_sending"]
        roles = c["roles"]
        followers = sorted((k for k in roles if k.startswith("follower-")))
        md.append(f"| {r['mode']} | " + (f"{r.get('rep', 0) + 1} | " if rep_col else "")
                  + f"{size(r['payload_bytes'])} | {r['concurrency']} | "
                  f"{c['machine_busy_pct']:.0f} ({c['machine_softirq_pct']:.0f}) | {fmt(c['machine_us_per_call'], 0)} | "
                  f"{fmt(roles['leader']['us_per_call'], 0)} | "
                  f"{' / '.join(fmt(roles[f]['us_per_call'], 0) for f in followers)} | "
                  f"{fmt(roles['sender']['us_per_call'], 0)} | {fmt(roles['function']['us_per_call'], 0)} | "
                  f"{fmt(c['unattributed_us_per_call'], 0)} | "
                  f"{fmt(roles['leader'].get('minor_faults_per_call'), 2)}; "
                  f"{' / '.join(fmt(roles[f].get('minor_faults_per_call'), 2) for f in followers)} | "
                  f"{threads(roles['leader'], 6)} | "
                  f"{threads(roles[followers[0]], 4) if followers else '-'} |")
    return md


def render(out_dir):
    """async.md from async.json (also: bench/async.py --report DIR)."""
    with open(os.path.join(out_dir, "async.json")) as f:
        result = json.load(f)
    rows, st = result["runs"], result["settings"]
    reps = st.get("reps", 1)
    load = result["load_average_1m"]
    md = [f"# Async acceptance and arrival (scenario 2), commit {result['commit']}"
          f"{' (+ uncommitted changes)' if result['worktree_dirty'] else ''}, {result['build']}, {result['cpu']}, "
          f"{result['cores']} cores", "",
          "3 `slimfaas serve` nodes on 127.0.0.1 (a fresh cluster per case), fsync on, "
          f"{node_options(st)}; calls sent to the leader "
          "over keep-alive connections by `bench/async_peer send`; the function (`bench/async_peer receive`, "
          "NumberParallelRequest = the case's concurrency) answers 200 at once. acceptance = send -> 202; "
          "arrival = send -> the function's handler start (first attempt). "
          "Warm-up calls (as many as the concurrency) are not counted. "
          + (f"Every case ran {reps} times, the repetitions interleaved. " if reps > 1 else "")
          + f"Load average (1 min) {load['start']:.1f} at the start, {load['end']:.1f} at the end."
          + (f" Note: {result['note']}" if result.get("note") else ""), ""]
    probes = result.get("host_probes", [])
    if probes:
        md += ["The host, measured just before " + ("each repetition" if len(probes) > 1 else "the runs")
               + " (bench/lib/host_probe.py):", ""]
        md += [f"- rep {i + 1}: {host_probe.describe(p)}" if len(probes) > 1 else f"- {host_probe.describe(p)}"
               for i, p in enumerate(probes)]
        md.append("")
    rep_col = reps > 1
    md += table_head(["payload", "conc", "accepted/sent", "accepted msgs/s", "202 p50 ms", "202 p95 ms",
                      "202 p99 ms", "arrival p50 ms", "arrival p95 ms", "arrival p99 ms", "delivered msgs/s",
                      "missing", "duplicated", "CPU s / 10k (3 nodes)", "peak RSS MiB (max)"], rep_col)
    for r in rows:
        a, v = r["acceptance_ms"], r["arrival_ms"]
        peak = max((n["peak_rss_mib"] or 0) for n in r["nodes_after"])
        md.append(f"| {r['mode']} | " + (f"{r.get('rep', 0) + 1} | " if rep_col else "")
                  + f"{size(r['payload_bytes'])} | {r['concurrency']} | {r['accepted']}/{r['sent']} | "
                  f"{r['accepted_per_s']:.0f} | {fmt(a['p50'])} | {fmt(a['p95'])} | {fmt(a['p99'])} | "
                  f"{fmt(v['p50'])} | {fmt(v['p95'])} | {fmt(v['p99'])} | {r['delivered_per_s']:.0f} | "
                  f"{r['missing']} | {r['duplicated']} | {fmt(r['cpu_s_per_10k'])} | {peak:.0f} |")
    groups = grouped(rows)
    if rep_col:
        md += ["", f"Each case over its {reps} runs: median (min-max).", "",
               "| case | payload | conc | accepted msgs/s | 202 p95 ms | arrival p95 ms | delivered msgs/s | "
               "CPU s / 10k | missing | duplicated |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for g in groups:
            r0 = g[0]
            md.append(f"| {r0['mode']} | {size(r0['payload_bytes'])} | {r0['concurrency']} | "
                      f"{spread([r['accepted_per_s'] for r in g], 0)} | "
                      f"{spread([r['acceptance_ms']['p95'] for r in g], 2)} | "
                      f"{spread([r['arrival_ms']['p95'] for r in g], 2)} | "
                      f"{spread([r['delivered_per_s'] for r in g], 0)} | "
                      f"{spread([r['cpu_s_per_10k'] for r in g], 2)} | "
                      f"{sum(r['missing'] for r in g)} | {sum(r['duplicated'] for r in g)} |")

    def per_payload(mode, pick, lower_is_better, target):
        cells = []
        for g in groups:
            r0 = g[0]
            if r0["mode"] == mode:
                values = [pick(r) for r in g]
                label = size(r0["payload_bytes"]) + (f" c{r0['concurrency']}" if mode == "sustained" else "")
                cells.append((label, spread(values, 2 if lower_is_better else 0),
                              gap(median(values), target, lower_is_better)))
        return (" / ".join(h for _, h, _ in cells) or "-",
                "; ".join(f"{p}: {g}" for p, _, g in cells) or "-",
                " / ".join(p for p, _, _ in cells))
    targets, ref = result["targets"], result["slimfaas_reference"]
    missing = sum(r["missing"] for r in rows)
    dups = sum(r["duplicated"] for r in rows)
    md += ["", "Against the targets (issue 5) and SlimFaas's numbers. 202 p95 and arrival p95 from the paced "
           "case (an idle queue), accepted msgs/s from the sustained case, each payload"
           + (f"; the median of the {reps} runs (min-max) and the gap of that median" if rep_col else "") + ":", "",
           "| measure | here | target | SlimFaas | gap to target |", "|---|---:|---:|---:|---|"]
    for label, mode, pick, lower, target, reference in (
            ("202 p95 ms", "paced", lambda r: r["acceptance_ms"]["p95"], True, targets["accept_p95_ms"],
             ref["accept_p95_ms"]),
            ("accepted msgs/s", "sustained", lambda r: r["accepted_per_s"], False, targets["accepted_per_s"],
             ref["accepted_per_s"]),
            ("arrival p95 ms", "paced", lambda r: r["arrival_ms"]["p95"], True, targets["arrival_p95_ms"],
             ref["arrival_p95_ms"])):
        here, gaps, payloads = per_payload(mode, pick, lower, target)
        md.append(f"| {label} ({payloads}) | {here} | {'<=' if lower else '>='} {target:g} | {reference:g} | {gaps} |")
    delivered = [(size(g[0]["payload_bytes"]) + f" c{g[0]['concurrency']}", spread([r["delivered_per_s"] for r in g], 0))
                 for g in groups if g[0]["mode"] == "sustained"]
    if delivered:
        md.append(f"| delivered msgs/s, sustained ({' / '.join(p for p, _ in delivered)}) | "
                  f"{' / '.join(d for _, d in delivered)} | - | - | end to end: the function's arrivals |")
    ceilings = [(size(g[0]["payload_bytes"]) + f" c{g[0]['concurrency']}",
                 [r["proxy_reference"]["answered_per_s"] for r in g if r.get("proxy_reference")],
                 [r["accepted_per_s"] / r["proxy_reference"]["answered_per_s"] for r in g
                  if r.get("proxy_reference") and r["proxy_reference"]["answered_per_s"]])
                for g in groups if g[0]["mode"] == "sustained"]
    if any(c for _, c, _ in ceilings):
        md.append(f"| a plain proxy hop: the same clients through nginx, msgs/s "
                  f"({' / '.join(p for p, _, _ in ceilings)}) | {' / '.join(spread(c, 0) for _, c, _ in ceilings)} "
                  f"| - | - | an async call costs its node at least one proxied call |")
        md.append(f"| accepted msgs/s as a share of the proxy's rate | "
                  f"{' / '.join(spread([100 * x for x in r], 0) + ' %' for _, _, r in ceilings)} | - | - | "
                  f"plus a commit fsynced on 2 of 3 nodes, the queue and the delivery |")
    md.append(f"| missing (all cases) | {missing} | 0 | - | {'met' if missing == 0 else 'NOT met'} |")
    md.append(f"| duplicated (all cases) | {dups} | - | - | {'none' if dups == 0 else 'see runs'} |")
    referenced = [r for r in rows if r.get("proxy_reference")]
    if referenced:
        md += ["", f"The reference beside each sustained case: the same sender, receiver, payload and connections "
               f"through nginx ({st.get('nginx_workers', '?')} workers, a plain keep-alive reverse proxy, "
               "bench/lib/nginx_proxy.py), right after the nodes' run; nginx answers with the function's 200 and "
               "stores nothing.", ""]
        md += table_head(["payload", "conc", "nginx answered/sent", "nginx msgs/s", "nodes' accepted msgs/s", "share",
                          "nginx answer p50 / p95 ms", "nginx arrival p50 / p95 ms", "nginx CPU s / 10k",
                          "nodes' CPU s / 10k", "nginx missing"], rep_col)
        for r in referenced:
            ref = r["proxy_reference"]
            md.append(f"| {r['mode']} | " + (f"{r.get('rep', 0) + 1} | " if rep_col else "")
                      + f"{size(r['payload_bytes'])} | {r['concurrency']} | {ref['answered']}/{ref['sent']} | "
                      f"{ref['answered_per_s']:.0f} | {r['accepted_per_s']:.0f} | "
                      f"{share(r['accepted_per_s'], ref['answered_per_s'])} | "
                      f"{fmt(ref['answer_ms']['p50'])} / {fmt(ref['answer_ms']['p95'])} | "
                      f"{fmt(ref['arrival_ms']['p50'])} / {fmt(ref['arrival_ms']['p95'])} | "
                      f"{fmt(ref['nginx_cpu_s_per_10k'])} | {fmt(r['cpu_s_per_10k'])} | {ref['missing']} |")
    md += cpu_table(rows, rep_col)
    traced = [r for r in rows if r.get("fsync_trace")]
    if traced:
        md += ["", "Where the paced calls' time went (--trace-fsync, bench/lib/fsync_trace.py): each node's "
               "fdatasync traced by perf; quorum = the second node's fdatasync ended; p50 / p95 in ms.", ""]
        md += table_head(["payload", "calls", "send -> leader fsync starts", "send -> first follower fsync starts",
                          "one fsync", "send -> quorum", "quorum -> 202", "202"], rep_col)
        for r in traced:
            t = r["fsync_trace"]
            cell = lambda k: f"{fmt(t[k]['p50'])} / {fmt(t[k]['p95'])}"  # noqa: E731
            md.append(f"| {r['mode']} | " + (f"{r.get('rep', 0) + 1} | " if rep_col else "")
                      + f"{size(r['payload_bytes'])} | {t['calls']} | {cell('leader_fsync_start_ms')} | "
                      f"{cell('follower_fsync_start_ms')} | {cell('fsync_ms')} | {cell('quorum_ms')} | "
                      f"{cell('after_quorum_ms')} | {cell('acceptance_ms')} |")
    hopped = [r for r in rows if r.get("hop_trace")]
    if hopped:
        md += ["", "The same calls hop by hop (--trace-hops, bench/lib/hop_trace.py): each hop ends at the next "
               "system call of the thread that takes the call on, so the hops add up to the 202; the follower is "
               "the quorum's; p50 / p95 in ms (medians of different calls do not add up).", ""]
        md += table_head(["payload", "calls"] + [title for _, title in hop_trace.HOPS], rep_col)
        for r in hopped:
            t = r["hop_trace"]
            md.append(f"| {r['mode']} | " + (f"{r.get('rep', 0) + 1} | " if rep_col else "")
                      + f"{size(r['payload_bytes'])} | {t['calls']} | "
                      + " | ".join(f"{fmt(t[k]['p50'])} / {fmt(t[k]['p95'])}" for k, _ in hop_trace.HOPS) + " |")
    with open(os.path.join(out_dir, "async.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nresults: {out_dir}")


if __name__ == "__main__":
    main()
