#!/usr/bin/env bash
# Runs every test of denyctl on a fresh machine: installs moto's server into a local virtualenv
# (.venv, reused when present), then runs the whole Cargo test suite. End-to-end tests find the
# server through DENYCTL_MOTO_SERVER and start it themselves on 127.0.0.1 with a free port.
# Ends with one totals line: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto-env.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
