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

work="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then kill -KILL "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
"$@" --version
"$@" demo --https-port 0 >"$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 1 120); do
  grep -q "Press Ctrl-C to stop." "$work/demo.log" && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.5
done
if ! grep -q "Press Ctrl-C to stop." "$work/demo.log"; then
  echo "demo-smoke: the demo did not start:" >&2
  cat "$work/demo.log" >&2
  exit 1
fi
line="$(grep -m1 -E -- '--cacert .* https://demo\.localhost:[0-9]+/hello' "$work/demo.log")"
port="$(sed -E 's|.*https://demo\.localhost:([0-9]+)/hello.*|\1|' <<<"$line")"
ca_file="$(sed -E 's|.*--cacert ([^ ]+) .*|\1|' <<<"$line")"
status="$(curl -sS -o "$work/body" -w '%{http_code}' --max-time 30 \
  --resolve "demo.localhost:$port:127.0.0.1" --cacert "$ca_file" "https://demo.localhost:$port/hello")"
if [ "$status" != 200 ] || ! grep -q "reached through HopGate" "$work/body"; then
  echo "demo-smoke: expected 200 from the demo backend, got $status:" >&2
  cat "$work/body" "$work/demo.log" >&2
  exit 1
fi
echo "demo-smoke: https://demo.localhost:$port/hello answered 200 through the tunnel"
admin_key="$(grep -m1 -o 'Authorization: Bearer [^"]*' "$work/demo.log" | sed 's/Authorization: Bearer //')"
HOP_ADMIN_URL="https://localhost:$port" HOP_ADMIN_API_KEY="$admin_key" HOP_ADMIN_CA_FILE="$ca_file" \
  "$@" admin sessions >"$work/sessions.txt"
if ! grep -q "demo.localhost" "$work/sessions.txt"; then
  echo "demo-smoke: hopgate admin sessions did not list the demo's tunnel:" >&2
  cat "$work/sessions.txt" >&2
  exit 1
fi
echo "demo-smoke: hopgate admin sessions lists the demo's tunnel"
"$@" config server | grep -q '"HOP_SERVER_DOMAIN"'
"$@" config client --server tunnel.example.com --domain app.example.com --api-key client-key-0123456789 \
  --local-target 8080 | grep -q '"HOP_CLIENT_LOCAL_TARGET": "http://127.0.0.1:8080/"'
echo "demo-smoke: hopgate config server and config client print the settings"
kill -INT "$demo_pid"
code=0
wait "$demo_pid" || code=$?
demo_pid=""
if [ "$code" != 0 ]; then
  echo "demo-smoke: the demo exited with status $code after Ctrl-C:" >&2
  cat "$work/demo.log" >&2
  exit 1
fi
echo "demo-smoke: the demo stopped cleanly"
