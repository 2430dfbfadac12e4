#!/usr/bin/env bash
# Starts the demo: examples/slimfaas.local.yaml (the example functions as
# local processes, echo at ReplicasMin 0) behind one slimfaas node, until
# Ctrl-C. Called by `make demo` after the build.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"

for bin in "$build/slimfaas" "$build/examples/fibonacci" "$build/examples/echo"; do
  [ -x "$bin" ] || { echo "demo: $bin is missing; run 'make build' first" >&2; exit 1; }
done

cat <<TEXT
Starting the demo (examples/slimfaas.local.yaml). Once it prints the
entrypoint, try from another terminal:
  curl http://127.0.0.1:30020/function/fibonacci/hello/world
  curl -X POST -H 'Content-Type: application/json' -d '{"input": 10}' http://127.0.0.1:30020/function/fibonacci/fibonacci
  curl -d hello http://127.0.0.1:30020/function/echo/echo      # echo starts from zero on this call
  curl -i -d later http://127.0.0.1:30020/async-function/echo/echo   # 202 once durably queued
  curl -d v http://127.0.0.1:30020/data/sets/my-key && curl http://127.0.0.1:30020/data/sets/my-key
  curl http://127.0.0.1:30020/status-functions
  curl http://127.0.0.1:30020/debug/actors
Function logs: .slimfaas/demo/logs/   Stop: Ctrl-C

TEXT
# exec: Ctrl-C and SIGTERM reach slimfaas itself, which stops every function.
exec "$build/slimfaas" local up -f "$root/examples/slimfaas.local.yaml" "$@"
