"""Where a run's CPU went: the whole machine (/proc/stat) and each process
of the run, by thread name (/proc/<pid>/task/*/stat), over one window.

The machine's busy time is the ground truth for "was this run CPU-bound":
it includes softirq work the kernel charges to no thread of ours, kernel
threads (disk I/O) and anything else running. Threads are summed by name
(`http-io`, `http-client`, `raft-log`, `caf.worker`, `caf.middleman`, ...; see
docs/architecture.md, "Threads"); a thread that ended inside the window
is not counted.
"""
import os
import resource

TICK = os.sysconf("SC_CLK_TCK")
# /proc/stat's cpu line, in order (guest time is already in user).
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_ticks():
    with open("/proc/stat") as f:
        values = f.readline().split()[1:1 + len(STAT_FIELDS)]
    return dict(zip(STAT_FIELDS, (int(v) for v in values)))


def stat_fields(stat):
    """The fields of a /proc/.../stat line after the name, which may hold
    spaces and parentheses (fields[0] is the state, fields[7] minflt,
    fields[11] and [12] utime and stime)."""
    return stat[stat.rindex(")") + 2:].split()


def threads_seconds(pid):
    """CPU seconds so far of each thread name of `pid` (repeats summed)."""
    out = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat_fields(stat)
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def minor_faults(pid):
    """Minor page faults so far of process `pid` (all its threads). Each one
    is a trap into the kernel; under a paravirtualized host with shadow
    paging they cost several microseconds, so they are worth a column."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0
    return int(stat_fields(stat)[7])


def children_seconds():
    """CPU seconds of this process's waited-for children (a subprocess.run)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Window:
    """CPU used between start() and stop() by the machine and by each named
    process (role -> pid); `waited_role` names the child that start() and
    stop() bracket with subprocess.run (its CPU comes from RUSAGE_CHILDREN).
    split() computes the figures afterwards.
    """

    def __init__(self, processes, waited_role=None):
        self.processes = dict(processes)
        self.waited_role = waited_role

    def start(self):
        self.machine = machine_ticks()
        self.threads = {role: threads_seconds(pid) for role, pid in self.processes.items()}
        self.faults = {role: minor_faults(pid) for role, pid in self.processes.items()}
        self.children = children_seconds()

    def stop(self):
        """Ends the window (right after the bracketed child was waited for)."""
        self.machine_end = machine_ticks()
        self.threads_end = {role: threads_seconds(pid) for role, pid in self.processes.items()}
        self.faults_end = {role: minor_faults(pid) for role, pid in self.processes.items()}
        self.children_end = children_seconds()

    def split(self, calls):
        """The window's CPU in microseconds per call, and the machine's shares."""
        delta = {k: self.machine_end[k] - self.machine[k] for k in STAT_FIELDS}
        total = sum(delta.values()) or 1
        busy = total - delta["idle"] - delta["iowait"]
        per_call = lambda seconds: seconds / calls * 1e6 if calls else None  # noqa: E731
        roles = {}
        for role in self.processes:
            before, after = self.threads[role], self.threads_end[role]
            by_thread = {name: after[name] - before.get(name, 0.0) for name in after}
            faults = self.faults_end[role] - self.faults[role]
            roles[role] = {"us_per_call": per_call(sum(by_thread.values())),
                           "minor_faults_per_call": faults / calls if calls else None,
                           "threads_us_per_call": {n: per_call(s) for n, s in sorted(
                               by_thread.items(), key=lambda x: -x[1]) if s > 0}}
        if self.waited_role:
            roles[self.waited_role] = {"us_per_call": per_call(self.children_end - self.children),
                                       "threads_us_per_call": {}}
        counted = sum(r["us_per_call"] or 0 for r in roles.values())
        machine_us = per_call(busy / TICK)
        return {
            "machine_busy_pct": 100 * busy / total,
            "machine_softirq_pct": 100 * delta["softirq"] / total,
            "machine_iowait_pct": 100 * delta["iowait"] / total,
            "machine_us_per_call": machine_us,
            "roles": roles,
            # Busy time no process of the run was charged with: softirq
            # work, kernel threads, other processes.
            "unattributed_us_per_call": machine_us - counted if machine_us is not None else None,
        }
