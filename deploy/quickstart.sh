#!/usr/bin/env bash
# Quickstart: install what is missing, create the config home, start the local stack (TLS Redis, a worker)
# and run a first job to its result. The stack keeps running; stop it with `.venv/bin/cloudai dev down`.
#   CLOUDAI_HOME   config home (default ~/.cloudai); DATABASE_URL unset means SQLite in the home
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CLOUDAI_VENV:-$ROOT/.venv}
bash "$ROOT/deploy/bootstrap.sh"
cloudai() { "$VENV/bin/cloudai" "$@"; }
cloudai init
cloudai dev up
echo "first job:"
cloudai ping 42
