#!/usr/bin/env python3
"""Turns the raw JSON lines of one bench/run.sh run into results.json and summary.md.

    python3 bench/report.py RESULTS_DIR      # reads RESULTS_DIR/raw.jsonl

raw.jsonl holds one JSON object per line, told apart by "kind":
  meta       run settings and machine facts (first line)
  run        one measured wrk run (printed by bench/wrk/post_body.lua)
  proc       CPU ticks used during that run by the target's own process group
             (echo for "direct"), and its RSS right after
  footprint  RSS / peak RSS of each process group, label "idle" or "final"

Per case (target x payload x concurrency) every metric is the median over
the repetitions; errors and requests are summed. Standard library only.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

TARGET_ORDER = ["direct", "nginx", "slimfaas"]
ERROR_KINDS = ["connect", "read", "write", "status", "timeout"]
# Process group that does a target's own work ("direct" only runs echo).
OWN_PROCESS = {"direct": "echo", "nginx": "nginx", "slimfaas": "slimfaas"}


def fmt_size(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def fmt(x, digits=3):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def fmt_signed(x, digits=3):
    return "—" if x is None else f"{x:+.{digits}f}"


def mib(kb):
    return None if kb is None else kb / 1024


def load(path):
    meta, runs, procs, footprints = None, [], [], []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{lineno}: not JSON ({e})")
            kind = obj.get("kind")
            if kind == "meta":
                meta = obj
            elif kind == "run":
                runs.append(obj)
            elif kind == "proc":
                procs.append(obj)
            elif kind == "footprint":
                footprints.append(obj)
    if meta is None:
        sys.exit(f"{path}: no meta line")
    return meta, runs, procs, footprints


def case_key(o):
    return (o["target"], o["payload_bytes"], o["concurrency"])


def build_rows(meta, runs, procs):
    clk = meta.get("clk_tck", 100)
    by_case = defaultdict(list)
    for r in runs:
        by_case[case_key(r)].append(r)
    proc_by_run = {case_key(p) + (p["rep"],): p for p in procs}

    rows = []
    for key in sorted(by_case, key=lambda k: (k[1], k[2], TARGET_ORDER.index(k[0]))):
        reps = sorted(by_case[key], key=lambda r: r["rep"])
        target, payload, conc = key
        med = lambda f: statistics.median(f(r) for r in reps)  # noqa: E731
        errors = {k: sum(r["errors"][k] for r in reps) for k in ERROR_KINDS}
        errors["total"] = sum(errors.values())
        requests = sum(r["requests"] for r in reps)
        own_ticks = up_ticks = 0
        for r in reps:
            p = proc_by_run.get(key + (r["rep"],))
            if p:
                own_ticks += p["cpu_ticks"]
                up_ticks += p.get("upstream_cpu_ticks", 0)
        per10k = lambda t: (t / clk) / requests * 10_000 if requests else None  # noqa: E731
        rows.append({
            "target": target,
            "payload_bytes": payload,
            "concurrency": conc,
            "wrk_threads": min(conc, meta.get("wrk_max_threads", 1)),
            "reps": len(reps),
            "requests": requests,
            "rps": med(lambda r: r["rps"]),
            "rps_min": min(r["rps"] for r in reps),
            "rps_max": max(r["rps"] for r in reps),
            "p50_ms": med(lambda r: r["latency_us"]["p50"]) / 1000,
            "p95_ms": med(lambda r: r["latency_us"]["p95"]) / 1000,
            "p99_ms": med(lambda r: r["latency_us"]["p99"]) / 1000,
            "max_ms": med(lambda r: r["latency_us"]["max"]) / 1000,
            "errors": errors,
            "bytes_per_request": med(lambda r: r["bytes_per_request"]),
            "cpu_process": OWN_PROCESS[target],
            "cpu_s_per_10k": per10k(own_ticks),
            "upstream_cpu_s_per_10k": per10k(up_ticks),
            "runs": [{k: r[k] for k in ("rep", "requests", "duration_us", "rps", "latency_us", "errors")}
                     for r in reps],
        })

    # Comparisons within a case.
    index = {(r["target"], r["payload_bytes"], r["concurrency"]): r for r in rows}
    for r in rows:
        direct = index.get(("direct", r["payload_bytes"], r["concurrency"]))
        nginx = index.get(("nginx", r["payload_bytes"], r["concurrency"]))
        r["added_p50_ms_over_direct"] = (
            r["p50_ms"] - direct["p50_ms"] if direct and r["target"] != "direct" else None)
        r["added_p99_ms_over_direct"] = (
            r["p99_ms"] - direct["p99_ms"] if direct and r["target"] != "direct" else None)
        r["rps_ratio_vs_nginx"] = (
            r["rps"] / nginx["rps"] if nginx and nginx["rps"] and r["target"] == "slimfaas" else None)
    return rows


def build_footprint(meta, runs, procs, footprints):
    clk = meta.get("clk_tck", 100)
    payloads = meta.get("payloads") or sorted({r["payload_bytes"] for r in runs})
    largest = max(payloads) if payloads else None
    requests_of = {case_key(r) + (r["rep"],): r["requests"] for r in runs}
    out = {}
    for proc in ["slimfaas", "nginx", "echo"]:
        idle = next((f for f in footprints if f["process"] == proc and f["label"] == "idle"), None)
        final = next((f for f in footprints if f["process"] == proc and f["label"] == "final"), None)
        own = [p for p in procs if p["process"] == proc]
        if not (idle or final or own):
            continue
        after_largest = [p for p in own if p["payload_bytes"] == largest]
        ticks = sum(p["cpu_ticks"] for p in own)
        reqs = sum(requests_of.get(case_key(p) + (p["rep"],), 0) for p in own)
        out[proc] = {
            "pids": (idle or final or {}).get("npids"),
            "rss_idle_mib": mib(idle["rss_kb"]) if idle else None,
            "rss_after_largest_payload_mib": mib(after_largest[-1]["rss_kb"]) if after_largest else None,
            "largest_payload_bytes": largest,
            "peak_rss_mib": mib(final["hwm_kb"]) if final else None,
            "rss_final_mib": mib(final["rss_kb"]) if final else None,
            "cpu_s": ticks / clk,
            "requests": reqs,
            "cpu_s_per_10k": (ticks / clk) / reqs * 10_000 if reqs else None,
            "cpu_measured_over": "direct runs" if proc == "echo" else f"{proc} runs",
        }
    return out


def build_warnings(meta, rows):
    w = []
    if meta.get("build_type") not in ("Release", "RelWithDebInfo"):
        w.append(f"build type is {meta.get('build_type')!r}, not Release.")
    if meta.get("git_dirty"):
        w.append("the work tree had uncommitted changes.")
    for r in rows:
        case = f"{r['target']} {fmt_size(r['payload_bytes'])} c={r['concurrency']}"
        if r["errors"]["total"]:
            e = ", ".join(f"{k}={v}" for k, v in r["errors"].items() if v and k != "total")
            w.append(f"{case}: {r['errors']['total']} errors ({e}).")
        if r["requests"] == 0:
            w.append(f"{case}: no request completed.")
        elif r["bytes_per_request"] < r["payload_bytes"]:
            w.append(f"{case}: responses average {r['bytes_per_request']:.0f} bytes, "
                     f"less than the {r['payload_bytes']}-byte body sent (not a full echo?).")
    return w


def cell(index, target, p, c, field, f=fmt):
    r = index.get((target, p, c))
    return f(r[field]) if r else "—"


def render_md(meta, rows, footprint, warnings):
    targets = [t for t in TARGET_ORDER if t in meta.get("targets", TARGET_ORDER)]
    index = {(r["target"], r["payload_bytes"], r["concurrency"]): r for r in rows}
    cases = sorted({(r["payload_bytes"], r["concurrency"]) for r in rows})
    L = []
    L.append(f"# Scenario 1: sync proxy overhead ({meta['profile']})")
    L.append("")
    L.append(f"- commit `{meta['git_commit']}`{' (dirty)' if meta.get('git_dirty') else ''}, "
             f"build type {meta['build_type']}, started {meta['started_utc']}")
    L.append(f"- CPU: {meta['cpu_model']}, {meta['nproc']} cores, kernel {meta.get('kernel', '?')}")
    L.append(f"- {meta['reps']} repetition(s) of {meta['duration_s']} s per case after a "
             f"{meta['warmup_s']} s warm-up, interleaved per case; medians over repetitions")
    L.append(f"- closed loop: wrk -c<conc> -t<min(conc, {meta['wrk_max_threads']})>; "
             f"echo --threads {meta['echo_threads']}, nginx worker_processes {meta['nginx_workers']}, "
             f"nginx body buffering {meta.get('nginx_buffering', 'on')}")
    L.append(f"- wrk {meta.get('wrk_version', '?')}, nginx {meta.get('nginx_version') or '—'}")
    L.append("")
    if warnings:
        L.append("**Warnings**")
        L.append("")
        L.extend(f"- ⚠ {w}" for w in warnings)
        L.append("")

    def header(cols, left=2):
        """Markdown header; the first `left` columns are text, the rest numbers."""
        L.append("| " + " | ".join(cols) + " |")
        L.append("|" + "|".join("---" if i < left else "---:" for i in range(len(cols))) + "|")

    L.append("## Throughput and median latency")
    L.append("")
    cols = ["payload", "conc"] + [f"{t} rps" for t in targets]
    if "slimfaas" in targets and "nginx" in targets:
        cols.append("slimfaas/nginx rps")
    cols += [f"{t} p50 ms" for t in targets]
    cols += [f"{t} added p50 ms" for t in targets if t != "direct" and "direct" in targets]
    header(cols)
    for p, c in cases:
        row = [fmt_size(p), str(c)]
        row += [cell(index, t, p, c, "rps", lambda x: f"{x:,.0f}") for t in targets]
        if "slimfaas" in targets and "nginx" in targets:
            row.append(cell(index, "slimfaas", p, c, "rps_ratio_vs_nginx", lambda x: fmt(x, 2)))
        row += [cell(index, t, p, c, "p50_ms") for t in targets]
        row += [cell(index, t, p, c, "added_p50_ms_over_direct", fmt_signed)
                for t in targets if t != "direct" and "direct" in targets]
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    L.append("## Tail latency (ms)")
    L.append("")
    header(["payload", "conc"] + [f"{t} {q}" for q in ("p95", "p99", "max") for t in targets])
    for p, c in cases:
        row = [fmt_size(p), str(c)]
        row += [cell(index, t, p, c, f"{q}_ms") for q in ("p95", "p99", "max") for t in targets]
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    L.append("## Errors")
    L.append("")
    bad = [r for r in rows if r["errors"]["total"]]
    if not bad:
        total = sum(r["requests"] for r in rows)
        L.append(f"None in {total:,} measured requests: no connect/read/write/timeout error "
                 "and no HTTP status >= 400 (wrk's definition).")
    else:
        header(["target", "payload", "conc", "requests"] + ERROR_KINDS, left=3)
        for r in bad:
            L.append("| " + " | ".join([r["target"], fmt_size(r["payload_bytes"]), str(r["concurrency"]),
                                        str(r["requests"])] + [str(r["errors"][k]) for k in ERROR_KINDS]) + " |")
    L.append("")

    L.append("## CPU seconds per 10k requests, by case")
    L.append("")
    L.append("Own process group of each target, measured over its runs (direct = the echo upstream alone).")
    L.append("")
    header(["payload", "conc"] + [f"{'echo' if t == 'direct' else t}" for t in targets])
    for p, c in cases:
        row = [fmt_size(p), str(c)] + [cell(index, t, p, c, "cpu_s_per_10k") for t in targets]
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    L.append("## Footprint")
    L.append("")
    largest = next((f["largest_payload_bytes"] for f in footprint.values()), None)
    header(["process", "RSS idle MiB", f"RSS after {fmt_size(largest) if largest else 'largest'} cases MiB",
            "peak RSS (VmHWM) MiB", "CPU s / 10k req", "CPU measured over"], left=1)
    for proc, f in footprint.items():
        name = proc
        if proc == "nginx" and f.get("pids"):
            name = f"nginx (sum of {f['pids']} processes)"
        L.append("| " + " | ".join([
            name, fmt(f["rss_idle_mib"], 1), fmt(f["rss_after_largest_payload_mib"], 1),
            fmt(f["peak_rss_mib"], 1), fmt(f["cpu_s_per_10k"]),
            f"{f['requests']:,} req, {f['cpu_measured_over']}"]) + " |")
    L.append("")
    return "\n".join(L)


def rounded(x):
    """Floats rounded to 4 decimals so results.json stays readable."""
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = Path(sys.argv[1])
    meta, runs, procs, footprints = load(out_dir / "raw.jsonl")
    if not runs:
        sys.exit(f"{out_dir / 'raw.jsonl'}: no measured runs")
    rows = build_rows(meta, runs, procs)
    footprint = build_footprint(meta, runs, procs, footprints)
    warnings = build_warnings(meta, rows)
    settings_keys = ["targets", "payloads", "concurrency", "duration_s", "warmup_s", "reps",
                     "wrk_max_threads", "wrk_timeout_s", "echo_threads", "nginx_workers", "nginx_buffering",
                     "echo_bin", "slimfaas_bin", "nginx_bin", "wrk_version", "nginx_version"]
    results = {
        "scenario": "sync-proxy-overhead",
        "git_commit": meta["git_commit"],
        "git_dirty": meta.get("git_dirty"),
        "build_type": meta["build_type"],
        "cpu_model": meta["cpu_model"],
        "nproc": meta["nproc"],
        "kernel": meta.get("kernel"),
        "profile": meta["profile"],
        "started_utc": meta["started_utc"],
        "settings": {k: meta.get(k) for k in settings_keys},
        "rows": rows,
        "footprint": footprint,
        "warnings": warnings,
    }
    (out_dir / "results.json").write_text(json.dumps(rounded(results), indent=2) + "\n")
    (out_dir / "summary.md").write_text(render_md(meta, rows, footprint, warnings) + "\n")


if __name__ == "__main__":
    main()
