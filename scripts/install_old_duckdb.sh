#!/usr/bin/env bash
# Install an OLDER duckdb release into its own virtualenv (.venv-duckdb-old).
#
# The published warehouse.duckdb must stay readable by the DuckDB versions that BI
# drivers bundle (Metabase's and Grafana's DuckDB drivers ship DuckDB 1.4.x/1.5.x;
# see docs/publishing.md). tests/integration/test_publish_duckdb.py opens the
# published file with this interpreter to prove it.
#
#   scripts/install_old_duckdb.sh            # venv at ${DUCKDB_OLD_VENV:-.venv-duckdb-old} (repo root)
#   DUCKDB_OLD_VENV=/tmp/d scripts/install_old_duckdb.sh
#
# Idempotent: exits quietly when the pinned version is already installed.
set -euo pipefail

DUCKDB_OLD_VERSION="1.4.4"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DUCKDB_OLD_VENV:-.venv-duckdb-old}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="${PYTHON:-python3}"
# one install at a time per venv: `make test` starts this in the background and a test that
# needs it runs it again, which waits here and then finds the install complete
exec 9>"$VENV.lock"
flock 9

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c \
    "import sys, duckdb; sys.exit(0 if duckdb.__version__ == sys.argv[1] else 1)" "$DUCKDB_OLD_VERSION" 2>/dev/null
then
    exit 0
fi

echo "Installing duckdb ${DUCKDB_OLD_VERSION} into ${VENV} ..." >&2
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==${DUCKDB_OLD_VERSION}"
"$VENV/bin/python" -c "import duckdb; print('duckdb', duckdb.__version__)" >&2
