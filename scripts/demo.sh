#!/usr/bin/env bash
# The README's first command: installs moto's server into ./.venv (once), builds denyctl, and runs
# `denyctl demo` against a local AWS-compatible endpoint. No AWS account is needed or used.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto-env.sh
exec cargo run -q -p denyctl -- demo "$@"
