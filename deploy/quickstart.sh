#!/usr/bin/env bash
# Quickstart: install what is missing, create the config home, start the local stack (TLS Redis with ACLs, an
# enrolled worker, the control process) and run a first sandboxed job to its encrypted, indexed result.
# The stack keeps running; stop it with `.venv/bin/cloudai dev down`.
#   CLOUDAI_HOME   config home (default ~/.cloudai); DATABASE_URL unset means SQLite in the home
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CLOUDAI_VENV:-$ROOT/.venv}
bash "$ROOT/deploy/bootstrap.sh"
bash "$ROOT/deploy/start-dockerd.sh"
cloudai() { "$VENV/bin/cloudai" "$@"; }
HOME_DIR=${CLOUDAI_HOME:-$HOME/.cloudai}

cloudai init
cloudai db upgrade
users=$(cloudai users list)
if ! grep -q '^demo ' <<<"$users"; then
  # The API key is printed once; keep it private in the home instead of on the terminal.
  (umask 077; cloudai users create demo > "$HOME_DIR/demo.api-key")
  echo "user demo created; API key in $HOME_DIR/demo.api-key"
fi
cloudai sandbox build-image --allow python >/dev/null
cloudai dev up

echo "first job:"
manifest=$(cloudai submit --user demo --project quickstart --wait -- \
  python3 -c 'import platform; open("/output/hello.txt", "w").write("hello from " + platform.python_version() + "\n")')
echo "$manifest"
file_id=$("$VENV/bin/python" -c 'import json, sys
m = json.load(sys.stdin)
print(next(f["file_id"] for f in m["stored"]["files"] if f["path"] == "output/hello.txt"))' <<<"$manifest")
echo "its output, decrypted by the control plane:"
cloudai results get "$file_id"
