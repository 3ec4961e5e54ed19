#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages, virtualenv, a running dockerd) and runs
# pytest. Extra arguments go to pytest, e.g. `deploy/test.sh tests/unit -k tls`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CLOUDAI_VENV:-$ROOT/.venv}
bash "$ROOT/deploy/bootstrap.sh"
if [[ -f $ROOT/deploy/start-dockerd.sh ]]; then
  bash "$ROOT/deploy/start-dockerd.sh"
fi
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
