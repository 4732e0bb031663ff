# Sourced by scripts/demo-smoke.sh and scripts/workers-smoke.sh: the one HopGate process a smoke
# test runs in the background, in an empty temporary directory `$work` that goes on exit with
# the process (SIGKILL if it still runs). Uses only bash, cat, grep, mktemp, rm, seq and sleep:
# scripts/single-file-smoke.sh runs the smoke tests with a PATH that holds little more.
# The sourcing script sets `smoke` (its name, for messages) first.

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# smoke_fail MESSAGE FILE...: MESSAGE and the FILEs on stderr, then exit 1.
smoke_fail() {
  echo "$smoke: $1" >&2
  shift
  [ $# -eq 0 ] || cat "$@" >&2
  exit 1
}

# smoke_start LOG READY COMMAND...: runs COMMAND in the background, its output in LOG; succeeds
# once a line of LOG matches the grep pattern READY, fails when COMMAND exits or 60 s pass first.
smoke_start() {
  local log="$1" ready="$2"
  shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    grep -q -- "$ready" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  grep -q -- "$ready" "$log"
}

# smoke_stop SIGNAL LOG WHAT: sends SIGNAL (INT, TERM) to the process and requires exit status 0;
# otherwise fails with WHAT and LOG.
smoke_stop() {
  local signal="$1" log="$2" what="$3" code=0
  kill "-$signal" "$pid"
  wait "$pid" || code=$?
  pid=""
  [ "$code" = 0 ] || smoke_fail "$what exited with status $code after SIG$signal:" "$log"
}
