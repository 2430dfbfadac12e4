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


def config(directory, port, upstream_port, workers, error_log):
    """scenario 1's proxy settings (bench/lib/servers.sh), for one upstream."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes {workers};
daemon off;
master_process on;
pid {directory}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    upstream receiver {{
        server 127.0.0.1:{upstream_port};
        keepalive 1024;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        client_body_buffer_size 1m;
        location / {{
            proxy_pass http://receiver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header SlimFaas-Element-Id $request_id;
            add_header SlimFaas-Element-Id $request_id always;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


class NginxProxy:
    def __init__(self, nginx, work, logs, port, upstream_port, workers):
        self.nginx, self.port = nginx, port
        self.directory = os.path.join(work, "nginx")
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.directory, sub), exist_ok=True)
        self.error_log = os.path.join(logs, "nginx-error.log")
        self.conf = os.path.join(self.directory, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(config(self.directory, port, upstream_port, workers, self.error_log))
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
