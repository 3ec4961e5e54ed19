#!/usr/bin/env bash
# Make this Debian 12 machine ready for CloudAI Tasks, as root: Debian packages, then a virtualenv with the
# package installed. Idempotent: what is already there is left alone.
#   CLOUDAI_VENV   where the virtualenv goes (default <repo>/.venv)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CLOUDAI_VENV:-$ROOT/.venv}

need=()
command -v redis-server >/dev/null || need+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v runuser >/dev/null || need+=(util-linux)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "bootstrap: missing Debian packages: ${need[*]}; run this script as root or install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts redis-server and postgresql as system services on install; CloudAI runs its own instances.
for svc in redis-server postgresql; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

stamp="$VENV/.cloudai-installed"
want=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "bootstrap: installing the package into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test,monitor]"
  echo "$want" > "$stamp"
fi
