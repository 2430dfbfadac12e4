# shellcheck shell=bash
# shellcheck disable=SC2153  # ECHO_BIN, NGINX_BIN, SLIMFAAS_BIN come from run.sh
# Start/stop of the processes under test: the echo upstream, nginx and
# slimfaas. Everything listens on 127.0.0.1 only. Sourced by bench/run.sh,
# which owns cleanup (stop_all from its EXIT trap).
#
# Expects: TMP_DIR, LOG_DIR, ECHO_BIN, SLIMFAAS_BIN, ECHO_THREADS, NGINX_WORKERS.
# Sets:    ECHO_PORT/ECHO_PID, NGINX_PORT/NGINX_PID, SLIMFAAS_PORT/SLIMFAAS_PID.

STARTED_PIDS=()   # every pid we started, in start order

# stop_pid NAME PID: TERM, wait up to 5 s, then KILL. Only ever our own pids.
stop_pid() {
  local name=$1 pid=$2
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# stop_all: reverse start order, so proxies go before their upstream.
stop_all() {
  local i pid
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${STARTED_PIDS[i]}
    stop_pid "pid $pid" "$pid"
  done
  STARTED_PIDS=()
  # nginx workers exit with their master; make sure none is left behind.
  local w
  for w in ${NGINX_WORKER_PIDS:-}; do
    if kill -0 "$w" 2>/dev/null; then kill -KILL "$w" 2>/dev/null || true; fi
  done
  return 0
}

start_echo() {
  ECHO_PORT=$(free_port)
  log "starting echo: $ECHO_BIN --port $ECHO_PORT --threads $ECHO_THREADS"
  "$ECHO_BIN" --port "$ECHO_PORT" --threads "$ECHO_THREADS" >"$LOG_DIR/echo.log" 2>&1 &
  ECHO_PID=$!
  STARTED_PIDS+=("$ECHO_PID")
  wait_healthy echo "http://127.0.0.1:$ECHO_PORT/health" "$ECHO_PID" "$LOG_DIR/echo.log"
}

# A plain keep-alive reverse proxy, tuned only as far as any production
# config would be: upstream keep-alive, no access log, bodies of a few MiB
# kept in memory instead of temp files.
#
# NGINX_BUFFERING=off switches to streaming both ways (proxy_request_buffering
# off, proxy_buffering off) instead of buffering whole bodies in memory.
# NGINX_UPSTREAM_KEEPALIVE (64) idle upstream connections are kept: as many
# as the clients' connections, or nginx closes and reopens the rest.
# NGINX_LOCATION_EXTRA: more directives for the proxied location
# (bench/lib/nginx_proxy.py tags calls with SlimFaas-Element-Id).
write_nginx_conf() {
  local dir=$1 user_line="" buffering="on"
  [[ "${NGINX_BUFFERING:-on}" == off ]] && buffering="off"
  # As root without a "user" directive, workers would run as nobody and could
  # not write the temp dirs below; as non-root the directive is ignored.
  [[ $EUID -eq 0 ]] && user_line="user root;"
  mkdir -p "$dir"/{client_body,proxy,fastcgi,uwsgi,scgi}
  cat >"$dir/nginx.conf" <<NGINX
$user_line
worker_processes $NGINX_WORKERS;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $LOG_DIR/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;

    client_body_temp_path $dir/client_body;
    proxy_temp_path       $dir/proxy;
    fastcgi_temp_path     $dir/fastcgi;
    uwsgi_temp_path       $dir/uwsgi;
    scgi_temp_path        $dir/scgi;

    upstream echo_upstream {
        server 127.0.0.1:$ECHO_PORT;
        keepalive ${NGINX_UPSTREAM_KEEPALIVE:-64};
        keepalive_requests 1000000;
    }

    server {
        listen 127.0.0.1:$NGINX_PORT;

        client_max_body_size 0;
        client_body_buffer_size 4m;      # 2 MiB request bodies stay in memory

        location / {
            proxy_pass http://echo_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 64k;
            proxy_buffers 64 64k;        # 4 MiB: a 2 MiB response fits in memory
            proxy_busy_buffers_size 1m;
            proxy_read_timeout 60s;
            proxy_request_buffering $buffering;
            proxy_buffering $buffering;
            ${NGINX_LOCATION_EXTRA:-}
        }
    }
}
NGINX
}

start_nginx() {
  local dir="$TMP_DIR/nginx"
  NGINX_PORT=$(free_port)
  write_nginx_conf "$dir"
  cp "$dir/nginx.conf" "$LOG_DIR/nginx.conf"
  if ! "$NGINX_BIN" -t -q -p "$dir" -e "$LOG_DIR/nginx-error.log" -c "$dir/nginx.conf" \
      >>"$LOG_DIR/nginx.log" 2>&1; then
    cat "$LOG_DIR/nginx.log" >&2
    die "nginx rejected the generated config ($LOG_DIR/nginx.conf)"
  fi
  log "starting nginx on port $NGINX_PORT ($NGINX_WORKERS workers)"
  "$NGINX_BIN" -p "$dir" -e "$LOG_DIR/nginx-error.log" -c "$dir/nginx.conf" \
    >>"$LOG_DIR/nginx.log" 2>&1 &
  NGINX_PID=$!
  STARTED_PIDS+=("$NGINX_PID")
  wait_healthy nginx "http://127.0.0.1:$NGINX_PORT/health" "$NGINX_PID" "$LOG_DIR/nginx-error.log"
  # Workers are forked before the first request can be served.
  NGINX_WORKER_PIDS=$(children_of "$NGINX_PID" | tr '\n' ' ')
  [[ -n "$NGINX_WORKER_PIDS" ]] || warn "no nginx worker processes found under pid $NGINX_PID"
}

start_slimfaas() {
  local dir="$TMP_DIR/slimfaas"
  mkdir -p "$dir"
  SLIMFAAS_PORT=$(free_port)
  local functions
  functions=$(printf '{"Functions":[{"Name":"echo","NumberParallelRequest":1000,"NumberParallelRequestPerPod":1000,"Urls":["http://127.0.0.1:%s"]}]}' "$ECHO_PORT")
  log "starting slimfaas on port $SLIMFAAS_PORT: $SLIMFAAS_BIN serve"
  # Own working dir so anything it writes stays in the temp dir.
  (
    cd "$dir" || exit 1
    export SLIMFAAS_PORTS="$SLIMFAAS_PORT"
    export MOCK_KUBERNETES_FUNCTIONS="$functions"
    export SlimFaas__LogLevel="${SLIMFAAS_LOG_LEVEL:-warn}"
    exec "$SLIMFAAS_BIN" serve
  ) >"$LOG_DIR/slimfaas.log" 2>&1 &
  SLIMFAAS_PID=$!
  STARTED_PIDS+=("$SLIMFAAS_PID")
  wait_healthy slimfaas "http://127.0.0.1:$SLIMFAAS_PORT/health" "$SLIMFAAS_PID" "$LOG_DIR/slimfaas.log"
}
