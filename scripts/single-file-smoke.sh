#!/usr/bin/env bash
# Runs the single-file executables of `npm run package` as a host without Node.js would: copied
# out of the checkout, with a PATH that holds only the tools the smoke test itself uses (no node,
# no npm, no node_modules). The x64 file runs the demo end to end (scripts/demo-smoke.sh) and
# checks dist/bin/SHA256SUMS; the arm64 file, when built, runs the demo under Debian's
# qemu-user (qemu-aarch64 with the arm64 C libraries of libc6-arm64-cross/libstdc++6-arm64-cross).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$root/dist/bin"
[ -x "$bin_dir/hopgate-linux-x64" ] || { echo "single-file-smoke: run npm run package first" >&2; exit 1; }
(cd "$bin_dir" && sha256sum --check --quiet SHA256SUMS)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tools" "$work/app"
for tool in bash cat curl grep mktemp rm sed seq sleep; do
  ln -s "$(command -v "$tool")" "$work/tools/$tool"
done
cp "$bin_dir/hopgate-linux-x64" "$work/app/hopgate"
if PATH="$work/app:$work/tools" command -v node >/dev/null; then
  echo "single-file-smoke: node is still on the PATH" >&2
  exit 1
fi
echo "single-file-smoke: hopgate-linux-x64, $(du -m "$work/app/hopgate" | cut -f1) MiB, PATH without node"
env -i HOME="$work" PATH="$work/app:$work/tools" bash "$root/scripts/demo-smoke.sh" hopgate
env -i HOME="$work" PATH="$work/app:$work/tools" bash "$root/scripts/workers-smoke.sh" hopgate

if [ -x "$bin_dir/hopgate-linux-arm64" ]; then
  if ! command -v qemu-aarch64 >/dev/null; then
    echo "single-file-smoke: qemu-aarch64 is missing (Debian package qemu-user)" >&2
    exit 1
  fi
  cp "$bin_dir/hopgate-linux-arm64" "$work/app/hopgate-arm64"
  cat >"$work/app/hopgate-qemu" <<SCRIPT
#!$work/tools/bash
exec $(command -v qemu-aarch64) -L /usr/aarch64-linux-gnu "$work/app/hopgate-arm64" "\$@"
SCRIPT
  chmod +x "$work/app/hopgate-qemu"
  echo "single-file-smoke: hopgate-linux-arm64 under qemu-aarch64"
  env -i HOME="$work" PATH="$work/app:$work/tools" bash "$root/scripts/demo-smoke.sh" hopgate-qemu
fi
