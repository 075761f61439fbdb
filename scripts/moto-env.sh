# Sourced by scripts/test.sh and `denyctl demo`'s set-up: makes a local virtualenv with moto's
# standalone server and the checkers the IaC tests run (cfn-lint, python-hcl2), pinned in
# scripts/moto-requirements.txt, and exports DENYCTL_MOTO_SERVER and DENYCTL_VENV.
venv="${DENYCTL_VENV:-$PWD/.venv}"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/moto_server" ] || ! cmp -s scripts/moto-requirements.txt "$stamp"; then
  echo "setting up moto, cfn-lint and python-hcl2 in $venv ..." >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/moto-requirements.txt >&2
  cp scripts/moto-requirements.txt "$stamp"
fi
export DENYCTL_MOTO_SERVER="$venv/bin/moto_server"
export DENYCTL_VENV="$venv"
