#!/usr/bin/env bash
# Builds the npm package (`npm pack`, which builds the bundle in prepack), installs it the way a
# user does into an empty prefix with --omit=dev, and runs the demo end to end from the installed
# `hopgate` command (scripts/demo-smoke.sh), outside this checkout and its node_modules: the
# PATH holds the installed package's bin directory and a directory with the Node.js 24 binary
# alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node_binary="$(cd "$root" && npx node -p process.execPath)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pack" "$work/prefix" "$work/node-bin"
ln -s "$node_binary" "$work/node-bin/node"

(cd "$root" && npm pack --silent --pack-destination "$work/pack" >/dev/null)
tarball="$(ls "$work/pack"/hopgate-*.tgz)"
# The same checks npm runs before a real publish (files, bin, package.json), without uploading;
# --ignore-scripts: npm pack above has just built dist/.
(cd "$root" && npm publish --dry-run --ignore-scripts >/dev/null 2>&1) || {
  echo "package-smoke: npm publish --dry-run failed:" >&2
  (cd "$root" && npm publish --dry-run --ignore-scripts) >&2
  exit 1
}
echo "package-smoke: npm publish --dry-run passes"
echo "package-smoke: $(basename "$tarball"), $(du -k "$tarball" | cut -f1) KiB"
(cd "$work" && PATH="$work/node-bin:$PATH" npm install --global --prefix "$work/prefix" --omit=dev \
  --no-audit --no-fund "$tarball")
installed="$work/prefix/lib/node_modules/hopgate"
if [ -d "$installed/node_modules" ]; then
  echo "package-smoke: the package installed dependencies, but the bundle needs none:" >&2
  ls "$installed/node_modules" >&2
  exit 1
fi
PATH="$work/prefix/bin:$work/node-bin:/usr/bin:/bin" "$root/scripts/demo-smoke.sh" hopgate
