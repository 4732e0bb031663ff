#!/usr/bin/env bash
# Usage (as root, with Debian's buildah and debootstrap): scripts/image-smoke.sh
# Builds deploy/Dockerfile with buildah on a machine with no Docker daemon and no access to an
# image registry, then runs the built image's own ENTRYPOINT and HEALTHCHECK (read from the image's
# config, not from the Dockerfile): `hopgate server` and `hopgate client`, each in a private
# network namespace, and requires the health check to pass for both, as the image's `node` user.
#
# The base image is a stand-in for node:24-slim, made here: Debian bookworm (debootstrap, minbase),
# the Node.js 24 binary that npm installed for this checkout, this host's npm, a `node` user with
# uid 1000 as in the official image, and this host's CA bundle (NODE_EXTRA_CA_CERTS: npm ci inside
# the build reaches the npm registry through whatever TLS proxy this host uses). Everything lives
# in a temporary directory (buildah --root), removed at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for tool in buildah debootstrap unshare ip; do
  command -v "$tool" >/dev/null || { echo "image-smoke: $tool is missing (apt-get install buildah debootstrap)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "image-smoke: run as root (debootstrap, buildah, unshare -n)" >&2; exit 1; }
node_binary="$(cd "$root" && npx node -p 'require("node:fs").realpathSync(process.execPath)')"
npm_dir="$(npm root -g)/npm"
ca_bundle="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"

work="$(mktemp -d)"
cleanup() {
  buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bah() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
export BUILDAH_ISOLATION=chroot

echo "image-smoke: a stand-in for node:24-slim (debootstrap bookworm, Node.js $("$node_binary" --version))"
debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
  { cat "$work/debootstrap.log" >&2; exit 1; }
install -m 755 "$node_binary" "$work/rootfs/usr/local/bin/node"
mkdir -p "$work/rootfs/usr/local/lib/node_modules" "$work/rootfs/etc/ssl/certs"
cp -a "$npm_dir" "$work/rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
cp "$ca_bundle" "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$work/rootfs/etc/resolv.conf"
chroot "$work/rootfs" groupadd --gid 1000 node
chroot "$work/rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
base="$(bah from scratch)"
cp -a "$work/rootfs/." "$(bah mount "$base")/"
bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$base"
bah commit -q "$base" docker.io/library/node:24-slim >/dev/null
rm -rf "$work/rootfs"

echo "image-smoke: buildah bud -f deploy/Dockerfile"
(cd "$root" && bah bud --pull=never --network=host --format docker -f deploy/Dockerfile \
  --ignorefile deploy/Dockerfile.dockerignore -t localhost/hopgate:smoke . >"$work/build.log" 2>&1) ||
  { tail -40 "$work/build.log" >&2; exit 1; }

# The image's config: entry point and health-check command as NUL-separated words.
bah inspect --type image localhost/hopgate:smoke >"$work/image.json"
words() {
  "$node_binary" -e '
    const config = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).Docker.config;
    const words = process.argv[2] === "healthcheck" ? config.Healthcheck.Test : config.Entrypoint;
    if (process.argv[2] === "healthcheck" && words.shift() !== "CMD") throw new Error("HEALTHCHECK is not exec form");
    process.stdout.write(words.map((w) => w + "\0").join(""));
  ' "$work/image.json" "$1"
}
mapfile -d '' entrypoint < <(words entrypoint)
mapfile -d '' healthcheck < <(words healthcheck)
echo "image-smoke: ENTRYPOINT ${entrypoint[*]}; HEALTHCHECK ${healthcheck[*]}"

# Runs `ENTRYPOINT <mode>` in the image (its ENV, user and working directory) in a network
# namespace of its own, waits for its start-up log line, then runs the HEALTHCHECK command there.
check() {
  local mode="$1" ready="$2"
  shift 2
  local container
  container="$(bah from --pull=never localhost/hopgate:smoke)"
  # shellcheck disable=SC2016 # expanded by the container's sh
  unshare --net bash -c 'ip link set lo up && exec "$@"' check \
    buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs run "$@" "$container" -- sh -c '
      mode="$1"; ready="$2"; entry="$3"; shift 3
      [ "$(id -u)" != 0 ] || { echo "runs as root" >&2; exit 1; }
      "$entry" "$mode" >/tmp/hopgate.log 2>&1 & pid=$!
      for _ in $(seq 1 100); do grep -q "$ready" /tmp/hopgate.log && break; sleep 0.2; done
      "$@"; code=$?
      kill -TERM "$pid"; wait "$pid" || true
      [ "$code" = 0 ] || cat /tmp/hopgate.log >&2
      exit "$code"
    ' sh "$mode" "$ready" "${entrypoint[@]}" "${healthcheck[@]}"
  echo "image-smoke: the HEALTHCHECK passes for \`${entrypoint[*]} $mode\`"
}
check server "HopGate server listening" --env HOP_SERVER_DOMAIN=localhost
check client "starting HopGate client" --env HOP_CLIENT_SERVER_ADDR=https://127.0.0.1:1 \
  --env HOP_CLIENT_DOMAIN=app.example.com --env HOP_CLIENT_API_KEY=client-key-0123456789 \
  --env HOP_CLIENT_LOCAL_TARGET=8080
