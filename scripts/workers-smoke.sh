#!/usr/bin/env bash
# Usage: scripts/workers-smoke.sh HOPGATE_COMMAND...
# Runs `HOPGATE_COMMAND server --workers 2` (self-signed, localhost, the embedded store) in an
# empty temporary directory, requires both workers to listen and the shared HTTPS port to answer
# (404 for an unknown host: a worker's proxy answered), then stops it with SIGTERM and requires
# exit status 0. The single file needs this apart from the demo: node:cluster forks the
# executable itself (src/server/workers/run-primary.ts).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 HOPGATE_COMMAND..." >&2; exit 2; }

smoke=workers-smoke
source "${BASH_SOURCE[0]%/*}/smoke-process.sh"

if ! smoke_start "$work/server.log" '"HopGate workers listening"' \
  "$@" server --workers 2 --domain localhost --https-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --metrics-listen off --data-dir "$work/data" ||
  [ "$(grep -c '"worker listening"' "$work/server.log")" != 2 ]; then
  smoke_fail "two workers did not start:" "$work/server.log"
fi
port="$(grep -m1 '"HopGate workers listening"' "$work/server.log" | sed -E 's/.*"https_port":([0-9]+).*/\1/')"
status="$(curl -sS -k -o /dev/null -w '%{http_code}' --max-time 30 \
  --resolve "nobody.example.test:$port:127.0.0.1" "https://nobody.example.test:$port/")"
[ "$status" = 404 ] ||
  smoke_fail "expected 404 for an unknown host from a worker, got $status" "$work/server.log"
smoke_stop TERM "$work/server.log" "server --workers 2"
echo "workers-smoke: server --workers 2 started two workers, answered on the shared port, stopped with 0"
