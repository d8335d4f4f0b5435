#!/usr/bin/env bash
# Install the Ralph LRS (https://github.com/openfun/ralph) into its own virtualenv.
#
# Ralph is only used by the LRS integration tests (tests/integration/test_lrs.py)
# and to run an LRS locally (scripts/run_ralph.py); it lives outside the
# project's .venv because its pinned dependencies (fastapi, pydantic, ...) are
# not ours to share.
#
#   scripts/install_ralph.sh                  # venv at ${RALPH_VENV:-.venv-ralph} (repo root)
#   RALPH_VENV=/tmp/ralph scripts/install_ralph.sh
#   PYTHON=python3.11 scripts/install_ralph.sh
#
# Idempotent: exits 0 silently when the pinned version is already installed.
# The fs backend needs no extra (ralph-malph 5.1 has no "backend-fs" extra).
set -euo pipefail

RALPH_VERSION="5.1.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RALPH_VENV:-.venv-ralph}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="${PYTHON:-python3}"
# one install at a time per venv: `make test` starts this in the background and a test that
# needs it runs it again, which waits here and then finds the install complete
exec 9>"$VENV.lock"
flock 9

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$RALPH_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version

import requests  # noqa: F401
import uvicorn  # noqa: F401

sys.exit(0 if version("ralph-malph") == sys.argv[1] else 1)
PYEOF
then
    exit 0
fi

echo "Installing ralph-malph ${RALPH_VERSION} into ${VENV} ..." >&2
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The whole dependency set, pinned (as resolved for Python 3.11 on Linux).
cat > "$WORK/constraints.txt" <<'PINS'
annotated-types==0.8.0
anyio==4.16.0
bcrypt==4.2.0
cachetools==5.5.0
certifi==2026.10.18
charset-normalizer==3.5.2
click==8.2.0
click-option-group==0.5.9
dnspython==2.9.2
ecdsa==0.19.2
email-validator==2.4.0
fastapi==0.114.2
h11==0.16.0
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
importlib_metadata==8.5.0
langcodes==3.5.1
pyasn1==0.6.5
pydantic==2.14.3
pydantic-settings==2.16.3
pydantic_core==2.50.4
python-dotenv==1.2.4
python-jose==3.3.0
PyYAML==6.0.3
requests==2.32.5
rfc3987==1.3.8
rsa==4.9.1
sentry-sdk==2.14.0
six==1.17.0
starlette==0.38.6
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
uvicorn==0.30.6
uvloop==0.23.0
watchfiles==1.3.0
websockets==17.4
zipp==4.1.2
PINS

if ! { "$PY" -m venv "$VENV" &&
       "$VENV/bin/python" -m pip install --disable-pip-version-check -c "$WORK/constraints.txt" \
           "ralph-malph[lrs,cli]==${RALPH_VERSION}" requests &&
       "$VENV/bin/ralph" --version; } >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log" >&2
    echo "install_ralph.sh: installing Ralph into ${VENV} failed (log above)" >&2
    exit 1
fi
echo "Ralph ${RALPH_VERSION} installed: ${VENV}/bin/ralph" >&2
