"""Where a paced async call's time goes: its nodes' fdatasync calls.

A call is acknowledged (202) once a majority of the three nodes has written
its entry and fsynced it. perf traces every node's fdatasync entry and exit
(the syscalls tracepoints, on the nodes' threads only, stamped with
CLOCK_MONOTONIC like the sender's records), and each call is split into:

  before the disk   send -> the leader's fdatasync starts, and
                    send -> the first follower's starts (the append crossed
                    the network and two of the follower's threads)
  the disk          each node's fdatasync
  quorum            send -> the second node's fdatasync ends (a majority
                    holds the entry)
  after             quorum -> the 202 at the sender (commit seen by the
                    leader, applied, answered)

Only for calls sent one at a time (the paced case): with several calls in
flight, one fdatasync covers many calls and the split means nothing.
Needs `perf` (Debian: linux-perf) and the right to trace (root, or
kernel.perf_event_paranoid <= -1).
"""
import os
import shutil
import signal
import subprocess
import time

from stats import summary

EVENTS = "syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync"


def available():
    """None when tracing can run here, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed (Debian: linux-perf)"
    if os.geteuid() != 0:
        try:
            with open("/proc/sys/kernel/perf_event_paranoid") as f:
                paranoid = int(f.read())
        except (OSError, ValueError):
            paranoid = 2
        if paranoid > -1:
            return ("tracing syscalls needs root or kernel.perf_event_paranoid = -1 "
                    f"(it is {paranoid})")
    return None


class FsyncTrace:
    def __init__(self, pids, path, events=EVENTS):
        """`events`: perf's event list; more than EVENTS for bench/lib/hop_trace.py."""
        self.pids = list(pids)
        self.path = path
        self.events = events
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", self.events,
             "-p", ",".join(str(p) for p in self.pids), "-o", self.path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # perf writes its header once it has attached to every thread.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                time.sleep(0.2)
                return
            time.sleep(0.05)
        raise RuntimeError("perf record did not start: " + (self.proc.stderr.read() if self.proc.poll() is not None
                                                            else "no output after 10 s"))

    def stop(self):
        """The traced calls: (pid, tid, t_ns, 'enter' | 'exit'), in time order."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        out = subprocess.run(["perf", "script", "-i", self.path, "--ns", "-F", "pid,tid,time,event"],
                             capture_output=True, text=True, check=True).stdout
        return parse(out)


def parse(text):
    """perf script lines such as `  4242/4250 58412.256326123: syscalls:sys_enter_fdatasync:`."""
    events = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or "/" not in parts[0]:
            continue
        pid, tid = (int(x) for x in parts[0].split("/"))
        seconds, _, fraction = parts[1].rstrip(":").partition(".")
        t_ns = int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
        kind = "enter" if "sys_enter_fdatasync" in parts[2] else "exit" if "sys_exit_fdatasync" in parts[2] else None
        if kind:
            events.append((pid, tid, t_ns, kind))
    events.sort(key=lambda e: e[2])
    return events


def fsyncs_by_pid(events):
    """pid -> [(start_ns, end_ns)], each enter paired with its thread's exit."""
    open_calls, done = {}, {}
    for pid, tid, t, kind in events:
        if kind == "enter":
            open_calls[tid] = t
        elif tid in open_calls:
            done.setdefault(pid, []).append((open_calls.pop(tid), t))
    for calls in done.values():
        calls.sort()
    return done


def ms(ns):
    return ns / 1e6


def decompose(calls, events, leader_pid):
    """Per call (dicts with `sent` and `done` in ns), the split above in ms.
    A node's fdatasync for the call is its first one starting between send
    and 202 (it may end after the 202: a node outside the quorum). Calls
    without the leader's and two ended ones are left out (`untraced`)."""
    by_pid = fsyncs_by_pid(events)
    parts = {"leader_fsync_start_ms": [], "follower_fsync_start_ms": [], "fsync_ms": [],
             "quorum_ms": [], "after_quorum_ms": [], "acceptance_ms": []}
    untraced = 0
    for call in calls:
        sent, done = call["sent"], call["done"]
        first = {}
        for pid, intervals in by_pid.items():
            for start, end in intervals:
                if sent <= start <= done:
                    first[pid] = (start, end)
                    break
        ends = sorted(end for _, end in first.values())
        if len(ends) < 2 or ends[1] > done or leader_pid not in first:
            untraced += 1
            continue
        followers = [start for pid, (start, _) in first.items() if pid != leader_pid]
        parts["leader_fsync_start_ms"].append(ms(first[leader_pid][0] - sent))
        if followers:
            parts["follower_fsync_start_ms"].append(ms(min(followers) - sent))
        parts["fsync_ms"].extend(ms(end - start) for start, end in first.values())
        parts["quorum_ms"].append(ms(ends[1] - sent))
        parts["after_quorum_ms"].append(ms(done - ends[1]))
        parts["acceptance_ms"].append(ms(done - sent))
    result = {name: summary(v) for name, v in parts.items()}
    result["calls"] = len(calls) - untraced
    result["untraced"] = untraced
    return result
