#!/usr/bin/env bash
# Scenario 1: sync proxy overhead.
#
# Measures, in one run and interleaved per case, the same echo upstream
# reached three ways: directly, through nginx (plain keep-alive reverse
# proxy) and through slimfaas (/function/echo/...). See bench/README.md.
#
#   bench/run.sh [quick|standard] [--out DIR] [--targets direct,nginx,slimfaas]
#                [--payloads 64,4k,256k,2m] [--concurrency 1,16]
#
# Binaries (override with env): ECHO_BIN, SLIMFAAS_BIN, NGINX_BIN, WRK_BIN.
# Knobs (env): BENCH_DURATION, BENCH_WARMUP, BENCH_REPS (override the profile),
#   BENCH_WRK_THREADS (max wrk threads, default 1), BENCH_WRK_TIMEOUT (s, 10),
#   ECHO_THREADS (default nproc), NGINX_WORKERS (default nproc),
#   NGINX_BUFFERING (on|off, default on: whole bodies buffered in memory),
#   BENCH_START_TIMEOUT (s to wait for /health, 20), SLIMFAAS_LOG_LEVEL (warn).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=lib/servers.sh
source "$BENCH_DIR/lib/servers.sh"

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

# ---------------------------------------------------------------- arguments
PROFILE=quick
OUT_DIR=""
TARGETS_ARG="direct,nginx,slimfaas"
PAYLOADS_ARG="64,4k,256k,2m"
CONCURRENCY_ARG="1,16"
while (($#)); do
  case "$1" in
    quick | standard) PROFILE=$1 ;;
    --out) OUT_DIR=${2:?--out needs a directory}; shift ;;
    --out=*) OUT_DIR=${1#*=} ;;
    --targets) TARGETS_ARG=${2:?--targets needs a list}; shift ;;
    --targets=*) TARGETS_ARG=${1#*=} ;;
    --payloads) PAYLOADS_ARG=${2:?--payloads needs a list}; shift ;;
    --payloads=*) PAYLOADS_ARG=${1#*=} ;;
    --concurrency) CONCURRENCY_ARG=${2:?--concurrency needs a list}; shift ;;
    --concurrency=*) CONCURRENCY_ARG=${1#*=} ;;
    -h | --help) usage 0 ;;
    *) printf 'unknown argument: %s\n\n' "$1" >&2; usage 2 ;;
  esac
  shift
done

case "$PROFILE" in
  quick)    DURATION=${BENCH_DURATION:-3};  WARMUP=${BENCH_WARMUP:-1}; REPS=${BENCH_REPS:-1} ;;
  standard) DURATION=${BENCH_DURATION:-10}; WARMUP=${BENCH_WARMUP:-2}; REPS=${BENCH_REPS:-3} ;;
esac

# Targets, kept in canonical order whatever order they were given in.
TARGETS=()
IFS=, read -ra _t <<<"$TARGETS_ARG"
for name in direct nginx slimfaas; do
  for t in "${_t[@]}"; do [[ "$t" == "$name" ]] && TARGETS+=("$name") && break; done
done
for t in "${_t[@]}"; do
  [[ "$t" =~ ^(direct|nginx|slimfaas)$ ]] || die "unknown target '$t' (expected direct, nginx, slimfaas)"
done
((${#TARGETS[@]})) || die "--targets is empty"
has_target() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

# Sizes: plain bytes or with a k/m suffix (KiB/MiB).
to_bytes() {
  local s=${1,,}
  case "$s" in
    *k) echo $((${s%k} * 1024)) ;;
    *m) echo $((${s%m} * 1024 * 1024)) ;;
    *[!0-9]* | "") die "bad payload size '$1'" ;;
    *) echo "$s" ;;
  esac
}
PAYLOADS=()
IFS=, read -ra _p <<<"$PAYLOADS_ARG"
for p in "${_p[@]}"; do PAYLOADS+=("$(to_bytes "$p")"); done
IFS=, read -ra CONCS <<<"$CONCURRENCY_ARG"
for c in "${CONCS[@]}"; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "bad concurrency '$c'"; done

NPROC=$(nproc)
ECHO_THREADS=${ECHO_THREADS:-$NPROC}
NGINX_WORKERS=${NGINX_WORKERS:-$NPROC}
# One wrk thread by default, also at -c16: on a 2-core box a second client
# thread only takes CPU away from the processes under test, and one wrk
# thread drives far more requests per second than a proxy chain on 2 cores.
WRK_MAX_THREADS=${BENCH_WRK_THREADS:-1}
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-10}
wrk_threads_for() { local c=$1; echo $((c < WRK_MAX_THREADS ? c : WRK_MAX_THREADS)); }

# ---------------------------------------------------------------- binaries
require_cmd curl "Install it: apt-get install curl"
require_cmd python3 "Install it: apt-get install python3"
WRK_BIN=${WRK_BIN:-$(command -v wrk || echo /usr/bin/wrk)}
require_exe "$WRK_BIN" wrk "Install it: apt-get install wrk (or set WRK_BIN)."
ECHO_BIN=${ECHO_BIN:-$ROOT/build/release/examples/echo}
require_exe "$ECHO_BIN" "echo function" "Build it with 'make build', or set ECHO_BIN."
ECHO_BIN=$(abs_path "$ECHO_BIN")
if has_target nginx; then
  NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
  require_exe "$NGINX_BIN" nginx "Install it: apt-get install nginx-light (or set NGINX_BIN), or drop it with --targets."
  NGINX_BIN=$(abs_path "$NGINX_BIN")
fi
if has_target slimfaas; then
  SLIMFAAS_BIN=${SLIMFAAS_BIN:-$ROOT/build/release/slimfaas}
  require_exe "$SLIMFAAS_BIN" slimfaas "Build it with 'make build', set SLIMFAAS_BIN, or skip it with --targets direct,nginx."
  SLIMFAAS_BIN=$(abs_path "$SLIMFAAS_BIN")
fi
LUA_SCRIPT="$BENCH_DIR/wrk/post_body.lua"
[[ -f "$LUA_SCRIPT" ]] || die "missing $LUA_SCRIPT"

# ---------------------------------------------------------------- output
OUT_DIR=${OUT_DIR:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)-$PROFILE}
mkdir -p "$OUT_DIR/logs"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
LOG_DIR="$OUT_DIR/logs"
RAW="$OUT_DIR/raw.jsonl"
: >"$RAW"
: >"$LOG_DIR/wrk.log"

TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/slimfaas-bench.XXXXXX")
WRK_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$WRK_PID" ]]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  stop_all
  rm -rf "$TMP_DIR"
  ((rc == 0)) || log "aborted (exit $rc); partial data and logs in $OUT_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- metadata
git_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo uncommitted)
git_dirty=false
[[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -c1)" ]] && git_dirty=true
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$ROOT/build/release/CMakeCache.txt" 2>/dev/null || true)
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
to_json_list() { local IFS=,; echo "[$*]"; }
quoted_list() { local out=() x; for x in "$@"; do out+=("\"$x\""); done; to_json_list "${out[@]}"; }

json_line kind=meta \
  git_commit="$git_commit" git_dirty:="$git_dirty" build_type="${build_type:-unknown}" \
  cpu_model="${cpu_model:-unknown}" nproc:="$NPROC" kernel="$(uname -r)" \
  profile="$PROFILE" started_utc="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  clk_tck:="$(getconf CLK_TCK)" \
  targets:="$(quoted_list "${TARGETS[@]}")" \
  payloads:="$(to_json_list "${PAYLOADS[@]}")" \
  concurrency:="$(to_json_list "${CONCS[@]}")" \
  duration_s:="$DURATION" warmup_s:="$WARMUP" reps:="$REPS" \
  wrk_max_threads:="$WRK_MAX_THREADS" wrk_timeout_s:="$WRK_TIMEOUT" \
  echo_threads:="$ECHO_THREADS" nginx_workers:="$NGINX_WORKERS" \
  nginx_buffering="${NGINX_BUFFERING:-on}" \
  echo_bin="$ECHO_BIN" slimfaas_bin="${SLIMFAAS_BIN:-}" nginx_bin="${NGINX_BIN:-}" \
  wrk_version="$("$WRK_BIN" -v 2>&1 | head -n1 | awk '{print $2}')" \
  nginx_version="$({ [[ -n "${NGINX_BIN:-}" ]] && "$NGINX_BIN" -v 2>&1; } | sed 's/.*nginx\///')" \
  >>"$RAW"

# ---------------------------------------------------------------- payloads
for p in "${PAYLOADS[@]}"; do
  head -c "$p" /dev/urandom >"$TMP_DIR/payload-$p.bin"
done

# ---------------------------------------------------------------- servers
start_echo
has_target nginx && start_nginx
has_target slimfaas && start_slimfaas

target_url() {
  case "$1" in
    direct)   echo "http://127.0.0.1:$ECHO_PORT/echo" ;;
    nginx)    echo "http://127.0.0.1:$NGINX_PORT/echo" ;;
    slimfaas) echo "http://127.0.0.1:$SLIMFAAS_PORT/function/echo/echo" ;;
  esac
}
# Pids of a process group we report a footprint for.
proc_pids() {
  case "$1" in
    echo)     echo "$ECHO_PID" ;;
    nginx)    echo "$NGINX_PID $NGINX_WORKER_PIDS" ;;
    slimfaas) echo "$SLIMFAAS_PID" ;;
  esac
}
PROCS=(echo)
has_target nginx && PROCS+=(nginx)
has_target slimfaas && PROCS+=(slimfaas)

check_all_alive() {
  assert_alive echo "$ECHO_PID" "$LOG_DIR/echo.log"
  if has_target nginx; then assert_alive nginx "$NGINX_PID" "$LOG_DIR/nginx-error.log"; fi
  if has_target slimfaas; then assert_alive slimfaas "$SLIMFAAS_PID" "$LOG_DIR/slimfaas.log"; fi
}

# footprint LABEL: one line per process group with its current RSS and peak.
footprint() {
  local label=$1 proc pids
  for proc in "${PROCS[@]}"; do
    read -ra pids <<<"$(proc_pids "$proc")"
    printf '{"kind":"footprint","label":"%s","process":"%s","npids":%d,"rss_kb":%d,"hwm_kb":%d,"cpu_ticks":%d}\n' \
      "$label" "$proc" "${#pids[@]}" "$(status_kb VmRSS "${pids[@]}")" \
      "$(status_kb VmHWM "${pids[@]}")" "$(cpu_ticks "${pids[@]}")" >>"$RAW"
  done
}

# Idle footprint: everything answered /health; now 1 s with no traffic.
sleep 1
footprint idle

# ---------------------------------------------------------------- preflight
# Every target must echo every payload byte for byte with a 200 before we
# measure anything. The first payload is retried for a while, in case a
# proxy answers /health before its upstream is routable.
post_check() { # URL FILE -> 0 when the response is 200 and identical
  code=$(curl -sS -o "$TMP_DIR/resp.bin" -w '%{http_code}' --max-time 30 \
    -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    --data-binary "@$2" "$1" 2>"$TMP_DIR/curl.err") || true
  [[ "$code" == 200 ]] && cmp -s "$2" "$TMP_DIR/resp.bin"
}
for t in "${TARGETS[@]}"; do
  url=$(target_url "$t")
  first=1
  for p in "${PAYLOADS[@]}"; do
    f="$TMP_DIR/payload-$p.bin"
    deadline=$((SECONDS + (first ? ${BENCH_START_TIMEOUT:-20} : 0)))
    until post_check "$url" "$f"; do
      if ((SECONDS >= deadline)); then
        warn "last response status: ${code:-?}; curl: $(cat "$TMP_DIR/curl.err")"
        warn "response size $(stat -c %s "$TMP_DIR/resp.bin" 2>/dev/null || echo 0) bytes, expected $p"
        die "$t did not echo a ${p}-byte POST correctly at $url"
      fi
      sleep 0.2
    done
    first=0
  done
  log "preflight ok: $t echoes ${PAYLOADS[*]} bytes at $url"
done
check_all_alive

# ---------------------------------------------------------------- measuring
# run_wrk TARGET PAYLOAD CONC REP DURATION: runs wrk, leaves its JSON in WRK_JSON.
run_wrk() {
  local target=$1 payload=$2 conc=$3 rep=$4 dur=$5 rc=0
  local threads outfile="$TMP_DIR/wrk.out"
  threads=$(wrk_threads_for "$conc")
  BENCH_TARGET=$target BENCH_PAYLOAD=$payload BENCH_CONCURRENCY=$conc BENCH_REP=$rep \
    BENCH_BODY_FILE="$TMP_DIR/payload-$payload.bin" \
    "$WRK_BIN" -t"$threads" -c"$conc" -d"${dur}s" --timeout "${WRK_TIMEOUT}s" \
    -s "$LUA_SCRIPT" "$(target_url "$target")" >"$outfile" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  {
    echo "### $target payload=$payload c=$conc t=$threads rep=$rep duration=${dur}s rc=$rc"
    cat "$outfile"
  } >>"$LOG_DIR/wrk.log"
  if ((rc != 0)); then
    cat "$outfile" >&2
    die "wrk exited with $rc for $target payload=$payload c=$conc"
  fi
  WRK_JSON=$(sed -n 's/^BENCH_JSON //p' "$outfile")
  [[ -n "$WRK_JSON" ]] || { cat "$outfile" >&2; die "wrk printed no BENCH_JSON line"; }
}

json_field() { # crude extraction of a numeric field from WRK_JSON
  sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$WRK_JSON"
}

# Which process group a target's own cost is charged to.
proxy_proc_of() {
  case "$1" in direct) echo echo ;; *) echo "$1" ;; esac
}

TOTAL=$((REPS * ${#PAYLOADS[@]} * ${#CONCS[@]} * ${#TARGETS[@]}))
est=$((TOTAL * (DURATION + WARMUP) + TOTAL))
log "profile=$PROFILE: $TOTAL measured runs of ${DURATION}s (+${WARMUP}s warm-up each), about $((est / 60))m$((est % 60))s"

n=0
nt=${#TARGETS[@]}
for ((rep = 1; rep <= REPS; rep++)); do
  case_idx=0
  for payload in "${PAYLOADS[@]}"; do
    for conc in "${CONCS[@]}"; do
      # Rotate the target order from case to case so no target is always
      # first (or last) after a change of payload or concurrency.
      for ((k = 0; k < nt; k++)); do
        target=${TARGETS[(k + case_idx + rep - 1) % nt]}
        n=$((n + 1))

        if ((WARMUP > 0)); then
          run_wrk "$target" "$payload" "$conc" 0 "$WARMUP"
        fi

        # CPU of the target's own process group and of the shared upstream,
        # sampled around the measured run only.
        read -ra own <<<"$(proc_pids "$(proxy_proc_of "$target")")"
        read -ra up <<<"$(proc_pids echo)"
        own0=$(cpu_ticks "${own[@]}")
        up0=$(cpu_ticks "${up[@]}")
        run_wrk "$target" "$payload" "$conc" "$rep" "$DURATION"
        own1=$(cpu_ticks "${own[@]}")
        up1=$(cpu_ticks "${up[@]}")
        echo "$WRK_JSON" >>"$RAW"
        printf '{"kind":"proc","target":"%s","payload_bytes":%d,"concurrency":%d,"rep":%d,"process":"%s","cpu_ticks":%d,"rss_kb":%d,"hwm_kb":%d,"upstream_cpu_ticks":%d}\n' \
          "$target" "$payload" "$conc" "$rep" "$(proxy_proc_of "$target")" $((own1 - own0)) \
          "$(status_kb VmRSS "${own[@]}")" "$(status_kb VmHWM "${own[@]}")" $((up1 - up0)) >>"$RAW"
        check_all_alive

        errs=$(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$WRK_JSON")
        err_total=$(grep -o '[0-9]\+' <<<"$errs" | awk '{ s += $1 } END { print s + 0 }')
        note=""
        [[ "$err_total" == 0 ]] || note="  <-- ERRORS {$errs}"
        [[ "$(json_field requests)" != 0 ]] || note="$note  <-- NO REQUESTS COMPLETED"
        printf '[%3d/%d] rep %d  %-8s %8s B  c=%-3s %10s rps  p50 %7.3f ms  p99 %7.3f ms%s\n' \
          "$n" "$TOTAL" "$rep" "$target" "$payload" "$conc" "$(json_field rps)" \
          "$(awk -v u="$(json_field p50)" 'BEGIN { print u / 1000 }')" \
          "$(awk -v u="$(json_field p99)" 'BEGIN { print u / 1000 }')" "$note" >&2
      done
      case_idx=$((case_idx + 1))
    done
  done
done

footprint final
stop_all

# ---------------------------------------------------------------- report
python3 "$BENCH_DIR/report.py" "$OUT_DIR"
echo
cat "$OUT_DIR/summary.md"
echo
echo "Results: $OUT_DIR"
