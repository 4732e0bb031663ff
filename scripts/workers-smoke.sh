#!/usr/bin/env bash
# Usage: scripts/workers-smoke.sh HOPGATE_COMMAND...
# Runs `HOPGATE_COMMAND server --workers 2` (self-signed, localhost, the embedded store) in an
# empty temporary directory, requires both workers to listen and the shared HTTPS port to answer
# (404 for an unknown host: a worker's proxy answered), then stops it with SIGTERM and requires
# exit status 0. The single file needs this apart from the demo: node:cluster forks the
# executable itself (src/server/workers/run-primary.ts).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 HOPGATE_COMMAND..." >&2; exit 2; }

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
"$@" server --workers 2 --domain localhost --https-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --metrics-listen off --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  grep -q '"HopGate workers listening"' "$work/server.log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if ! grep -q '"HopGate workers listening"' "$work/server.log" ||
  [ "$(grep -c '"worker listening"' "$work/server.log")" != 2 ]; then
  echo "workers-smoke: two workers did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
port="$(grep -m1 '"HopGate workers listening"' "$work/server.log" | sed -E 's/.*"https_port":([0-9]+).*/\1/')"
status="$(curl -sS -k -o /dev/null -w '%{http_code}' --max-time 30 \
  --resolve "nobody.example.test:$port:127.0.0.1" "https://nobody.example.test:$port/")"
if [ "$status" != 404 ]; then
  echo "workers-smoke: expected 404 for an unknown host from a worker, got $status" >&2
  cat "$work/server.log" >&2
  exit 1
fi
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=""
if [ "$code" != 0 ]; then
  echo "workers-smoke: server --workers 2 exited $code after SIGTERM:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "workers-smoke: server --workers 2 started two workers, answered on the shared port, stopped with 0"
