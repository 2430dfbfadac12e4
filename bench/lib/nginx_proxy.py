"""nginx as a plain keep-alive reverse proxy in front of scenario 2's
receiver: the reference that bench/async.py runs beside each sustained case.

An async call costs the node at least what one proxied call costs (receive
a request, answer it, send one request to the function, read its answer),
plus the durable, replicated commit. The same sender, receiver, payload and
connection count through nginx therefore give the bar on this machine
for a front end that would add nothing to that proxied call, measured in
the same process tree and minutes as the candidate (BENCHMARKS.md: ratios,
not absolutes).

nginx tags every call with its $request_id, as SlimFaas-Element-Id both
to the receiver and in the answer, so the sender's and the receiver's
records pair up exactly as for the nodes.
"""
import os
import shutil
import signal
import socket
import subprocess
import time


def binary():
    """The nginx executable (NGINX_BIN, else the one on PATH or Debian's), or None."""
    explicit = os.environ.get("NGINX_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


SERVERS_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers.sh")


def write_config(directory, port, upstream_port, workers, logs, clients):
    """Scenario 1's nginx.conf (bench/lib/servers.sh, write_nginx_conf) for
    the receiver, keeping an idle upstream connection per client and tagging
    every call; returns its path."""
    env = dict(os.environ, ECHO_PORT=str(upstream_port), NGINX_PORT=str(port), NGINX_WORKERS=str(workers),
               LOG_DIR=logs, NGINX_UPSTREAM_KEEPALIVE=str(max(64, clients)),
               NGINX_LOCATION_EXTRA="proxy_set_header SlimFaas-Element-Id $request_id; "
                                    "add_header SlimFaas-Element-Id $request_id always;")
    r = subprocess.run(["bash", "-c", 'source "$1" && write_nginx_conf "$2"', "bash", SERVERS_SH, directory],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"cannot write nginx.conf: {r.stderr.strip()}")
    return os.path.join(directory, "nginx.conf")


class NginxProxy:
    def __init__(self, nginx, work, logs, port, upstream_port, workers, clients):
        self.nginx, self.port = nginx, port
        self.directory = os.path.join(work, "nginx")
        os.makedirs(self.directory, exist_ok=True)
        self.error_log = os.path.join(logs, "nginx-error.log")
        self.conf = write_config(self.directory, port, upstream_port, workers, logs, clients)
        shutil.copy(self.conf, os.path.join(logs, "nginx.conf"))
        self.proc = None

    def start(self, timeout=10.0):
        check = subprocess.run([self.nginx, "-t", "-q", "-p", self.directory, "-e", self.error_log, "-c", self.conf],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected {self.conf}: {check.stderr.strip()}")
        self.proc = subprocess.Popen([self.nginx, "-p", self.directory, "-e", self.error_log, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}; see {self.error_log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port} within {timeout:.0f} s")

    def pids(self):
        """The master and its workers (their CPU time is the proxy's cost)."""
        if self.proc is None:
            return []
        children = []
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            pass
        return [self.proc.pid] + children

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        workers = self.pids()[1:]
        self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass
