"""A three-node SlimData cluster of `slimfaas serve` processes on 127.0.0.1,
and the small HTTP and /proc helpers the benchmark scripts share
(bench/slimdata.py, bench/async.py)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

NO_FUNCTIONS = '{"Functions":[]}'


def free_port(used):
    """A free ephemeral port on 127.0.0.1 not handed out before (`used`)."""
    for _ in range(20):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p not in used:
            used.add(p)
            return p
    raise RuntimeError("no free port")


def request(port, method, path, body=None, timeout=10.0, headers=None):
    """(status, body bytes, lower-cased headers) of one call on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read(), dict((k.lower(), v) for k, v in r.getheaders())
    finally:
        conn.close()


def raft(port):
    """A node's /debug/raft, or None."""
    try:
        code, body, _ = request(port, "GET", "/debug/raft", timeout=3.0)
        return json.loads(body) if code == 200 else None
    except (OSError, ValueError):
        return None


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def proc_status(pid):
    """VmRSS and VmHWM of a process, in MiB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0]) / 1024.0
    except OSError:
        pass
    return out


def actor_threads_share(nodes=3):
    """Actor threads per node when `nodes` nodes share this machine's CPUs
    (what `slimfaas local up` gives its nodes)."""
    return max(1, len(os.sched_getaffinity(0)) // nodes)


class Cluster:
    """Three nodes with fsync on, serving `functions` (MOCK_KUBERNETES_FUNCTIONS)."""

    def __init__(self, binary, work, logs, used, functions=NO_FUNCTIONS, extra_args=()):
        self.binary, self.work, self.logs, self.functions = binary, work, logs, functions
        self.extra_args = list(extra_args)  # more `slimfaas serve` options, on every node
        self.nodes = []
        os.makedirs(work, exist_ok=True)
        for i in (1, 2, 3):
            self.nodes.append({"id": i, "http": free_port(used), "raft": free_port(used),
                               "dir": os.path.join(work, f"node{i}"), "proc": None})
        self.peers = ",".join(f"127.0.0.1:{n['raft']}" for n in self.nodes)

    def start(self):
        for n in self.nodes:
            self.start_node(n)

    def start_node(self, n, log_suffix=""):
        """Starts one node (again, after a stop) with the command line of the
        first start; its output goes to node<id><log_suffix>.log."""
        env = dict(os.environ, MOCK_KUBERNETES_FUNCTIONS=self.functions, SlimFaas__LogLevel="warn")
        # The nodes share this machine's CPUs: each sizes its actor scheduler
        # on its share, as `slimfaas local up` does for its nodes (unless the
        # caller chose).
        share = [] if "--actor-threads" in self.extra_args else \
            ["--actor-threads", str(actor_threads_share(len(self.nodes)))]
        with open(os.path.join(self.logs, f"node{n['id']}{log_suffix}.log"), "w") as log:
            n["proc"] = subprocess.Popen(
                [self.binary, "serve", "--ports", str(n["http"]),
                 "--slimdata-peers", self.peers, "--slimdata-node-id", str(n["id"]),
                 "--slimdata-directory", n["dir"], "--slimdata-secret", "bench-secret",
                 "--slimdata-bind-address", "127.0.0.1", "--slimdata-sync", "true", *share, *self.extra_args],
                env=env, stdout=log, stderr=subprocess.STDOUT)

    def leader(self):
        """The leader's node entry once every node names it and all peers are connected."""
        roles = {n["id"]: raft(n["http"]) for n in self.nodes}
        if any(r is None for r in roles.values()):
            return None
        leaders = [i for i, r in roles.items() if r["role"] == "leader"]
        named = {r["leader"] for r in roles.values()}
        if len(leaders) != 1 or named != {leaders[0]}:
            return None
        if not all(p["connected"] for r in roles.values() for p in r["peers"]):
            return None
        return self.nodes[leaders[0] - 1]

    def wait_leader(self, timeout=60, settle=1.0):
        """The leader's node entry once it has held for `settle` seconds
        (every node naming it, all peers connected, in two polls that far
        apart), or None after `timeout` or as soon as a node process exits.
        Until 955a407 two nodes could dial each other at once and lose both
        connections right after meeting (the lower id alone dials now); a
        measurement still starts only on a leader that holds."""
        deadline = time.monotonic() + timeout
        seen, since = None, 0.0
        while time.monotonic() < deadline:
            if any(n["proc"].poll() is not None for n in self.nodes):
                return None
            now = self.leader()
            if now is None or now is not seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= settle:
                return now
            time.sleep(0.05)
        return None

    def dead_nodes(self):
        """(id, exit status) of the node processes that have exited."""
        return [(n["id"], n["proc"].poll()) for n in self.nodes if n["proc"] and n["proc"].poll() is not None]

    def stop(self):
        for n in self.nodes:
            if n["proc"] and n["proc"].poll() is None:
                n["proc"].send_signal(signal.SIGTERM)
        for n in self.nodes:
            if n["proc"]:
                try:
                    n["proc"].wait(60)
                except subprocess.TimeoutExpired:
                    n["proc"].kill()
                    n["proc"].wait()
