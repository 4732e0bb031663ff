#!/usr/bin/env bash
# Usage: scripts/demo-smoke.sh HOPGATE_COMMAND...
# Runs `HOPGATE_COMMAND demo --https-port 0` in an empty temporary directory, sends the request
# its printed curl command names through the demo tunnel, requires a 200 answer from the demo
# backend, lists the demo's tunnel session with `HOPGATE_COMMAND admin` through the admin API the
# demo prints, prints `HOPGATE_COMMAND config server` and `config client`, then stops the demo
# with Ctrl-C (SIGINT) and requires exit status 0: every command of the CLI runs. Used by
# scripts/package-smoke.sh (the npm package) and scripts/single-file-smoke.sh (the executable).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 HOPGATE_COMMAND..." >&2; exit 2; }

smoke=demo-smoke
source "${BASH_SOURCE[0]%/*}/smoke-process.sh"

"$@" --version
smoke_start "$work/demo.log" "Press Ctrl-C to stop." "$@" demo --https-port 0 ||
  smoke_fail "the demo did not start:" "$work/demo.log"
line="$(grep -m1 -E -- '--cacert .* https://demo\.localhost:[0-9]+/hello' "$work/demo.log")"
port="$(sed -E 's|.*https://demo\.localhost:([0-9]+)/hello.*|\1|' <<<"$line")"
ca_file="$(sed -E 's|.*--cacert ([^ ]+) .*|\1|' <<<"$line")"
status="$(curl -sS -o "$work/body" -w '%{http_code}' --max-time 30 \
  --resolve "demo.localhost:$port:127.0.0.1" --cacert "$ca_file" "https://demo.localhost:$port/hello")"
if [ "$status" != 200 ] || ! grep -q "reached through HopGate" "$work/body"; then
  smoke_fail "expected 200 from the demo backend, got $status:" "$work/body" "$work/demo.log"
fi
echo "demo-smoke: https://demo.localhost:$port/hello answered 200 through the tunnel"
admin_key="$(grep -m1 -o 'Authorization: Bearer [^"]*' "$work/demo.log" | sed 's/Authorization: Bearer //')"
HOP_ADMIN_URL="https://localhost:$port" HOP_ADMIN_API_KEY="$admin_key" HOP_ADMIN_CA_FILE="$ca_file" \
  "$@" admin sessions >"$work/sessions.txt"
grep -q "demo.localhost" "$work/sessions.txt" ||
  smoke_fail "hopgate admin sessions did not list the demo's tunnel:" "$work/sessions.txt"
echo "demo-smoke: hopgate admin sessions lists the demo's tunnel"
"$@" config server | grep -q '"HOP_SERVER_DOMAIN"'
"$@" config client --server tunnel.example.com --domain app.example.com --api-key client-key-0123456789 \
  --local-target 8080 | grep -q '"HOP_CLIENT_LOCAL_TARGET": "http://127.0.0.1:8080/"'
echo "demo-smoke: hopgate config server and config client print the settings"
smoke_stop INT "$work/demo.log" "the demo (Ctrl-C)"
echo "demo-smoke: the demo stopped cleanly"
