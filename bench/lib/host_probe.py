"""What this host gives right now, measured beside a benchmark's own runs.

Machines here are shared: the same binary's figures move by 10% or more
from one quarter of an hour to the next. A record that shows, next to each
run, how fast the disk synced and how fast a fixed CPU loop ran at that
moment lets a reader tell the code's change from the host's.

- fsync floor: 4 KiB appended to a file in `directory` (put it on the
  nodes' file system) and `fdatasync`ed, once every `paced_interval_ms`
  (the disk idle in between, as under a paced load) and back to back.
  No commit through Raft can be faster than one of these.
- cpu loop: seconds a fixed pure-Python loop takes (lower is a faster
  host; it only compares runs of one machine).
"""
import os
import time

from stats import percentile


def _fdatasync_ms(fd, block, count, interval_s):
    times = []
    for _ in range(count):
        if interval_s:
            time.sleep(interval_s)
        os.write(fd, block)
        start = time.perf_counter()
        os.fdatasync(fd)
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50": percentile(times, 0.50), "p95": percentile(times, 0.95), "n": count}


def cpu_loop_seconds(n=3_000_000):
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i % 7
    return time.perf_counter() - start


def probe(directory, paced_count=40, paced_interval_ms=100, back_to_back=400):
    """About paced_count * interval + 1 s. Returns a plain dict for the record."""
    path = os.path.join(directory, "host-probe.log")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        block = os.urandom(4096)
        paced = _fdatasync_ms(fd, block, paced_count, paced_interval_ms / 1e3)
        burst = _fdatasync_ms(fd, block, back_to_back, 0)
    finally:
        os.close(fd)
        os.unlink(path)
    return {"fdatasync_idle_ms": paced, "fdatasync_back_to_back_ms": burst,
            "cpu_loop_s": cpu_loop_seconds(), "load_average_1m": os.getloadavg()[0]}


def describe(p):
    """One line for a record."""
    idle, b2b = p["fdatasync_idle_ms"], p["fdatasync_back_to_back_ms"]
    return (f"fdatasync 4 KiB idle p50/p95 {idle['p50']:.2f}/{idle['p95']:.2f} ms, back to back "
            f"{b2b['p50']:.2f}/{b2b['p95']:.2f} ms; cpu loop {p['cpu_loop_s']:.3f} s; "
            f"load {p['load_average_1m']:.1f}")
