#!/usr/bin/env bash
# Runs every test of denyctl on a fresh machine: installs moto's server into a local virtualenv
# (.venv, reused when present), then runs the whole Cargo test suite. End-to-end tests find the
# server through DENYCTL_MOTO_SERVER and start it themselves on 127.0.0.1 with a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto-env.sh
cargo test --workspace --locked "$@"
