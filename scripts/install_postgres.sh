#!/usr/bin/env bash
# Install the PostgreSQL server binaries (initdb, pg_ctl, postgres) used by the tests.
#
# tests/support_pg.py starts a throw-away server with initdb + pg_ctl; it finds the
# binaries on PATH or under /usr/lib/postgresql/<version>/bin (Debian's layout), so
# nothing else needs configuring. Needs root (apt-get). Idempotent.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install_postgres.sh: initdb not found; run as root (apt-get install postgresql)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's package creates and starts a default cluster; the tests do not use it.
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >&2
