# shellcheck shell=bash
# Small helpers shared by bench/run.sh: logging, port and health checks,
# and /proc readers for the footprint numbers. Sourced, never executed.

log()  { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
warn() { printf '[bench %s] WARNING: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# require_cmd NAME HINT: a command that must be on PATH.
require_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. $2"
}

# require_exe PATH WHAT HINT: an executable file given by path.
require_exe() {
  [[ -e "$1" ]] || die "$2 not found at '$1'. $3"
  [[ -f "$1" && -x "$1" ]] || die "$2 at '$1' is not an executable file."
}

# abs_path PATH: absolute form of an existing path (binaries are started
# from other working directories).
abs_path() {
  local d
  d=$(cd "$(dirname "$1")" && pwd) || die "no such directory for '$1'"
  echo "$d/$(basename "$1")"
}

# free_port: prints a TCP port on 127.0.0.1 that is free right now and was
# not handed out before by this script (ports in $USED_PORTS).
USED_PORTS=" "
free_port() {
  local p
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    p=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    if [[ "$USED_PORTS" != *" $p "* ]]; then
      USED_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  die "could not find a free port"
}

# wait_healthy NAME URL PID LOGFILE [TIMEOUT_S]: polls URL until it answers
# 2xx. Fails early, showing the log tail, if PID exits meanwhile.
wait_healthy() {
  local name=$1 url=$2 pid=$3 logfile=$4 timeout=${5:-${BENCH_START_TIMEOUT:-20}}
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      warn "$name (pid $pid) exited during start-up; last lines of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      die "$name failed to start"
    fi
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  warn "last lines of $logfile:"
  tail -n 20 "$logfile" >&2 || true
  die "$name did not answer $url within ${timeout}s"
}

# assert_alive NAME PID LOGFILE: dies with the log tail if PID is gone.
assert_alive() {
  kill -0 "$2" 2>/dev/null && return 0
  warn "$1 (pid $2) is no longer running; last lines of $3:"
  tail -n 20 "$3" >&2 || true
  die "$1 died during the benchmark"
}

# children_of PID: pids whose parent is PID (nginx workers of a master).
children_of() {
  local parent=$1 f d stat rest
  for f in /proc/[0-9]*/stat; do
    read -r stat 2>/dev/null <"$f" || continue   # process may be gone
    rest=${stat##*) }           # drop "pid (comm) "; comm may contain spaces
    # shellcheck disable=SC2086  # split the numeric fields on purpose
    set -- $rest
    [[ "${2:-}" == "$parent" ]] && { d=${f#/proc/}; echo "${d%/stat}"; }
  done
  return 0
}

# cpu_ticks PID...: sum of utime+stime (clock ticks) over the given pids.
# Threads are included in their process's counters.
cpu_ticks() {
  local total=0 pid stat rest
  for pid in "$@"; do
    read -r stat 2>/dev/null <"/proc/$pid/stat" || continue
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    # after "pid (comm) ", field 3 (state) is $1, so utime (14) is $12, stime (15) is $13
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# status_kb FIELD PID...: sum of a /proc/<pid>/status field in kB (VmRSS, VmHWM).
status_kb() {
  local field=$1 total=0 pid v
  shift
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# json_line KEY=STRING KEY:=RAW_JSON ...: prints one JSON object (via python,
# so strings are escaped properly).
json_line() {
  python3 - "$@" <<'PY'
import json, sys
out = {}
for arg in sys.argv[1:]:
    k, _, v = arg.partition("=")
    if k.endswith(":"):
        out[k[:-1]] = json.loads(v)
    else:
        out[k] = v
print(json.dumps(out))
PY
}
