#!/usr/bin/env bash
# Starts the demo: the example functions as local processes behind one
# slimfaas node, until Ctrl-C. Called by `make demo` after the build.
#
# Until `slimfaas local up` lands, the functions are declared through the
# static list (MOCK_KUBERNETES_FUNCTIONS), exactly as in docker-compose mode.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
port="${DEMO_PORT:-30020}"
fib_port="${DEMO_FIBONACCI_PORT:-30101}"
echo_port="${DEMO_ECHO_PORT:-30102}"
state="$root/.slimfaas/demo"
mkdir -p "$state"

for bin in "$build/slimfaas" "$build/examples/fibonacci" "$build/examples/echo"; do
  [ -x "$bin" ] || { echo "demo: $bin is missing; run 'make build' first" >&2; exit 1; }
done

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: stopped"
}
trap cleanup EXIT INT TERM

wait_http() {
  local url=$1 name=$2
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: $name did not answer $url; see $state/$name.log" >&2
  exit 1
}

"$build/examples/fibonacci" --port "$fib_port" >"$state/fibonacci.log" 2>&1 & pids+=($!)
"$build/examples/echo" --port "$echo_port" >"$state/echo.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$fib_port/health" fibonacci
wait_http "http://127.0.0.1:$echo_port/health" echo

functions=$(cat <<JSON
{"Functions":[
  {"Name":"fibonacci","NumberParallelRequest":10,"Urls":["http://127.0.0.1:$fib_port"]},
  {"Name":"echo","NumberParallelRequest":100,"Urls":["http://127.0.0.1:$echo_port"]}
]}
JSON
)
SLIMFAAS_PORTS="$port" MOCK_KUBERNETES_FUNCTIONS="$functions" SlimFaas__Hostname=slimfaas-demo \
  "$build/slimfaas" serve >"$state/slimfaas.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$port/health" slimfaas

cat <<TEXT

Entrypoint: http://127.0.0.1:$port

Try:
  curl http://127.0.0.1:$port/function/fibonacci/hello/world
  curl -X POST -H 'Content-Type: application/json' -d '{"input": 10}' http://127.0.0.1:$port/function/fibonacci/fibonacci
  curl http://127.0.0.1:$port/status-functions
  curl http://127.0.0.1:$port/debug/actors
  curl http://127.0.0.1:$port/metrics

Logs: $state/*.log   Stop: Ctrl-C
TEXT

wait -n "${pids[@]}"
echo "demo: a process exited; see $state/*.log" >&2
