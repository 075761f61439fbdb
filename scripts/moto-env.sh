# Sourced by scripts/test.sh and `denyctl demo`'s set-up: makes a local virtualenv with moto's
# standalone server (pinned in scripts/moto-requirements.txt) and exports DENYCTL_MOTO_SERVER.
venv="${DENYCTL_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "setting up moto in $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/moto-requirements.txt >&2
fi
export DENYCTL_MOTO_SERVER="$venv/bin/moto_server"
