#!/usr/bin/env bash
# What the Spark engine (SKILLPATH_ENGINE=spark, docs/scale_out.md) needs, on a fresh Debian
# machine: Java 17 (openjdk-17-jre-headless, only when `java -version` is missing or older),
# and pyspark + dbt-spark[session] pinned in requirements-spark.lock, installed into the
# project's venv with requirements.lock as constraints, so no package of it moves (checked
# after the install). pyspark's wheel ships Spark's jars: nothing comes from Maven.
#
#   scripts/install_spark.sh            # into ${SPARK_VENV:-.venv} (repo root)
#
# Idempotent: exits quietly when Java 17+ and the pinned versions are there. `make test`
# starts it in the background; the Spark test runs it again, which waits on the lock.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SPARK_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
LOCK_FILE="$ROOT/requirements-spark.lock"
BASE_LOCK="$ROOT/requirements.lock"
exec 9>"$VENV-spark.lock"
flock 9

java_major() {
    command -v java >/dev/null 2>&1 || { echo 0; return; }
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}
if [ "$(java_major)" -lt 17 ]; then
    echo "installing Debian package openjdk-17-jre-headless" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install_spark.sh: no venv at $VENV (run make install first)" >&2
    exit 1
fi

# installed at the pinned versions already?
pinned() {
    "$VENV/bin/python" - "$LOCK_FILE" <<'PYEOF'
import re
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1]):
    m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?==([^\s#]+)", line.strip())
    if not m:
        continue
    try:
        if version(m.group(1)) != m.group(3):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PYEOF
}
if pinned; then
    exit 0
fi

echo "Installing the Spark engine into ${VENV} (requirements-spark.lock) ..." >&2
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" -m pip freeze --all > "$WORK/before.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$LOCK_FILE" -c "$BASE_LOCK"
"$VENV/bin/python" -m pip freeze --all > "$WORK/after.txt"
# nothing that was installed may have moved (only the Spark packages are added)
moved="$(comm -23 <(sort "$WORK/before.txt") <(sort "$WORK/after.txt") | grep -v '^-e ' || true)"
if [ -n "$moved" ]; then
    echo "install_spark.sh: the Spark pins changed installed packages:" >&2
    echo "$moved" >&2
    exit 1
fi
pinned || { echo "install_spark.sh: pinned versions not installed" >&2; exit 1; }
"$VENV/bin/python" -c "import pyspark, dbt.adapters.spark; print('pyspark', pyspark.__version__)" >&2
