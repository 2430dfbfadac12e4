"""Where a paced async call's time goes, hop by hop between threads and nodes.

bench/lib/fsync_trace.py splits a call around its nodes' fdatasync calls.
This splits it further, from the system calls of the threads a call passes
through, told apart by their names (docs/architecture.md, "Threads"). For
each call sent alone (the paced case), the first event of each kind after
the one before:

  leader   http-io        reads the request (recvfrom returning bytes)
  leader   caf.worker     wakes (a futex wait returns): the actors have it
  leader   caf.middleman  sends the append to a follower (sendto)
  follower caf.middleman  receives it (the quorum follower, below)
  follower raft-log       fdatasync starts, then ends
  follower caf.middleman  sends the acknowledgement (sendto)
  leader   caf.middleman  receives it
  leader   http-io        writes the 202 (sendmsg)

The quorum follower is the one whose fdatasync for the call ended first:
with the leader's own, its write made the call durable on a majority. The
hops add up to the call's acceptance exactly. The leader's own fdatasync
runs beside the follower's; when it ends later, "leader: ack -> 202" holds
the wait for it.

Needs the syscall events below (`bench/async.py --trace-hops`), which cost
each traced call a little: the paced figures of a traced run are a little
higher than an untraced one's. A heartbeat (Raft's, one per peer every
`--slimdata-tick-ms`, 50 ms by default, or CAF's between idle peers) sent
or received inside a hop, a fraction of a millisecond, is taken for the
call's message: a few calls in a hundred at most have a hop cut short and
a later one longer by as much (the sum stays exact), which the medians do
not see.
"""
import bisect
import re
import subprocess

from stats import summary

EVENTS = ",".join([
    "syscalls:sys_enter_fdatasync", "syscalls:sys_exit_fdatasync",
    "syscalls:sys_exit_recvfrom", "syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg",
    "syscalls:sys_exit_futex",
])

# `    caf.worker 4242/4250 58412.256326123: syscalls:sys_exit_futex: 0x1`
LINE = re.compile(r"^\s*(?P<comm>\S.*?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<s>\d+)\.(?P<f>\d+):\s+"
                  r"syscalls:sys_(?P<dir>enter|exit)_(?P<call>\w+):\s*(?P<rest>.*)$")

HOPS = [
    ("to_leader_ms", "send -> leader reads it"),
    ("to_actors_ms", "read -> actor thread wakes"),
    ("append_sent_ms", "-> append sent"),
    ("to_follower_ms", "-> follower receives it"),
    ("follower_to_fsync_ms", "follower: -> fsync starts"),
    ("fsync_ms", "follower: fsync"),
    ("ack_sent_ms", "follower: -> ack sent"),
    ("ack_to_leader_ms", "-> leader receives ack"),
    ("ack_to_202_ms", "leader: ack -> 202 written"),
    ("to_sender_ms", "-> sender reads 202"),
]


class Event:
    __slots__ = ("t", "pid", "comm", "enter", "call", "ret")

    def __init__(self, t, pid, comm, enter, call, ret):
        self.t, self.pid, self.comm, self.enter, self.call, self.ret = t, pid, comm, enter, call, ret


def exit_value(text):
    """A syscall's return value as perf prints it (hex; negative ones wrap)."""
    try:
        value = int(text.split()[0], 16)
    except (ValueError, IndexError):
        return None
    return value - (1 << 64) if value >= 1 << 63 else value


def parse(text):
    events = []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t = int(m["s"]) * 1_000_000_000 + int(m["f"].ljust(9, "0")[:9])
        enter = m["dir"] == "enter"
        events.append(Event(t, int(m["pid"]), m["comm"].strip(), enter, m["call"],
                            None if enter else exit_value(m["rest"])))
    events.sort(key=lambda e: e.t)
    return events


def read(path):
    out = subprocess.run(["perf", "script", "-i", path, "--ns", "-F", "comm,pid,tid,time,event,trace"],
                         capture_output=True, text=True, check=True).stdout
    return parse(out)


class Timeline:
    """The events, searchable by time."""

    def __init__(self, events):
        self.events = events
        self.times = [e.t for e in events]

    def first(self, after, until, match):
        for i in range(bisect.bisect_left(self.times, after), len(self.events)):
            e = self.events[i]
            if e.t > until:
                return None
            if match(e):
                return e
        return None


def received(pid, comm, call):
    return lambda e: e.pid == pid and e.comm == comm and not e.enter and e.call == call and (e.ret or 0) > 0


def entered(pid, comm, call):
    return lambda e: e.pid == pid and e.comm == comm and e.enter and e.call == call


def call_hops(tl, sent, done, leader, followers):
    """One call's hops in ns, or None when one of its events is missing."""
    request = tl.first(sent, done, received(leader, "http-io", "recvfrom"))
    if not request:
        return None
    woke = tl.first(request.t, done, lambda e: e.pid == leader and e.comm == "caf.worker" and not e.enter
                    and e.call == "futex")
    if not woke:
        return None
    append = tl.first(woke.t, done, entered(leader, "caf.middleman", "sendto"))
    if not append:
        return None
    quorum = None
    for f in followers:
        got = tl.first(append.t, done, received(f, "caf.middleman", "recvfrom"))
        start = got and tl.first(got.t, done, lambda e, f=f: e.pid == f and e.enter and e.call == "fdatasync")
        end = start and tl.first(start.t, done, lambda e, f=f: e.pid == f and not e.enter and e.call == "fdatasync")
        if end and (quorum is None or end.t < quorum[2].t):
            quorum = (got, start, end, f)
    if not quorum:
        return None
    got, start, end, f = quorum
    ack = tl.first(end.t, done, entered(f, "caf.middleman", "sendto"))
    if not ack:
        return None
    back = tl.first(ack.t, done, received(leader, "caf.middleman", "recvfrom"))
    if not back:
        return None
    answer = tl.first(back.t, done, entered(leader, "http-io", "sendmsg"))
    if not answer:
        return None
    marks = [sent, request.t, woke.t, append.t, got.t, start.t, end.t, ack.t, back.t, answer.t, done]
    return [b - a for a, b in zip(marks, marks[1:])]


def decompose(calls, events, leader_pid, follower_pids):
    """Per hop (HOPS), p50/p95/... in ms over the calls (dicts with `sent`
    and `done` in ns) whose every event was found."""
    tl = Timeline(events)
    per_hop = {key: [] for key, _ in HOPS}
    untraced = 0
    for call in calls:
        hops = call_hops(tl, call["sent"], call["done"], leader_pid, follower_pids)
        if hops is None:
            untraced += 1
            continue
        for (key, _), ns in zip(HOPS, hops):
            per_hop[key].append(ns / 1e6)
    result = {key: summary(values) for key, values in per_hop.items()}
    result["calls"] = len(calls) - untraced
    result["untraced"] = untraced
    return result
