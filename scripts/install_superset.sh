#!/usr/bin/env bash
# Install Apache Superset (https://superset.apache.org) into its own virtualenv, with the
# drivers of the two Skillpath connections: duckdb-engine (the published warehouse.duckdb)
# and psycopg2-binary (the PostgreSQL schema).
#
# Superset is used by the Superset integration test (tests/integration/test_superset.py)
# and to try the bundle locally (docs/bi.md, "Superset"); it lives outside the project's
# .venv because its pinned dependencies (Flask 2, SQLAlchemy 1.4, marshmallow 3, pandas
# 2.0, ...) are not ours to share.
#
#   scripts/install_superset.sh                     # venv at ${SUPERSET_VENV:-.venv-superset} (repo root)
#   SUPERSET_VENV=/tmp/superset scripts/install_superset.sh
#   PYTHON=python3.11 scripts/install_superset.sh
#
# Idempotent: exits 0 at once when the pinned version is installed (a stamp file in the
# venv). It also prepares a migrated, initialised SQLite metadata database
# ($VENV/skillpath-metadata-template.db, no users, no examples) that the tests copy, so a
# test does not pay for `superset db upgrade` + `superset init` (about a minute).
set -euo pipefail

SUPERSET_VERSION="5.0.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SUPERSET_VENV:-.venv-superset}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP="$VENV/.skillpath-superset-${SUPERSET_VERSION}"
TEMPLATE="$VENV/skillpath-metadata-template.db"
# one install at a time per venv: `make test` starts this in the background and a test that
# needs it runs it again, which waits here and then finds the install complete
exec 9>"$VENV.lock"
flock 9

if [ -f "$STAMP" ] && [ -f "$TEMPLATE" ] && [ -x "$VENV/bin/superset" ]; then
    exit 0
fi

echo "Installing apache-superset ${SUPERSET_VERSION} into ${VENV} ..." >&2
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The whole dependency set, pinned (as resolved for Python 3.11 on Linux). apache-superset
# 5.0.0 declares marshmallow>=3,<5 but its schemas need marshmallow 3 (marshmallow 4 fails
# at import: "Field.__init__() got an unexpected keyword argument 'minLength'"), and
# marshmallow-sqlalchemy 1.4 is the last release for marshmallow 3.
cat > "$WORK/constraints.txt" <<'PINS'
alembic==1.19.2
amqp==5.4.2
apispec==6.10.1
apsw==3.54.1.0
attrs==26.1.0
babel==2.19.0
backoff==2.2.1
backports.zstd==1.8.0
bcrypt==5.0.0
billiard==4.3.2
blinker==1.9.0
Bottleneck==1.6.0
brotli==1.2.1
cachelib==0.17.0
cattrs==26.2.1
celery==5.7.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.5.1
click-didyoumean==0.3.1
click-option-group==0.5.10
click-plugins==1.1.1.2
click-repl==0.4.1
colorama==0.4.6
cron_descriptor==2.2.1
croniter==7.0.0
cryptography==43.0.3
defusedxml==0.7.1
Deprecated==1.3.1
deprecation==2.1.0
dnspython==2.9.2
duckdb==2.0.1
duckdb_engine==0.17.0
email-validator==2.4.0
et_xmlfile==2.0.0
Flask==2.3.3
Flask-AppBuilder==4.8.1
Flask-Babel==2.0.0
Flask-Caching==2.4.1
Flask-Compress==1.25
Flask-JWT-Extended==4.7.4
Flask-Limiter==3.12
Flask-Login==0.6.3
Flask-Migrate==3.1.0
Flask-Session==0.8.0
Flask-SQLAlchemy==2.5.1
flask-talisman==1.1.0
Flask-WTF==1.3.0
geographiclib==2.1
geopy==2.5.0
google-auth==2.63.0
greenlet==3.1.1
gunicorn==27.0.1
h11==0.16.0
hashids==1.3.1
holidays==0.25
humanize==4.17.0
idna==3.20
importlib_metadata==10.2.0
invoke==3.0.3
isodate==0.7.2
itsdangerous==2.2.0
Jinja2==3.1.6
jsonpath-ng==1.16.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kombu==5.7.0
korean_lunar_calendar==0.4.0
lazy-importer==0.1.0
limits==5.8.0
Mako==1.4.3
Markdown==3.11.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
marshmallow==3.26.2
marshmallow-sqlalchemy==1.4.0
mdurl==0.1.2
msgpack==1.0.8
msgspec==0.23.0
nh3==0.2.22
numpy==1.26.4
odfpy==1.4.1
openpyxl==3.1.5
ordered-set==4.1.0
outcome==1.3.0.post0
packaging==26.4
pandas==2.0.3
paramiko==5.1.0
parsedatetime==2.6
pgsanity==0.3.0
platformdirs==4.14.9
polyline==2.0.4
prison==0.2.1
prompt_toolkit==3.0.53
psycopg2-binary==2.9.13
pyarrow==14.0.2
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
Pygments==2.21.0
PyJWT==2.15.1
PyNaCl==1.6.2
pyOpenSSL==25.1.0
pyparsing==3.3.3
PySocks==1.7.1
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
python-geohash==0.9.2
pytz==2026.6
pyxlsb==1.0.10
PyYAML==6.0.4
redis==4.6.0
referencing==0.37.0
requests==2.34.2
requests-cache==1.3.3
rich==13.9.4
rpds-py==2026.9.1
selenium==4.51.0
shillelagh==1.4.5
shortid==0.1.2
simplejson==4.3.0
six==1.17.0
slack_sdk==3.48.0
sniffio==1.3.1
sortedcontainers==2.4.0
SQLAlchemy==1.4.54
SQLAlchemy-Utils==0.38.3
sqlglot==26.33.0
sqlparse==0.6.1
sshtunnel==0.4.0
tabulate==0.8.10
trio==0.35.0
trio-websocket==0.12.2
typing_extensions==4.16.0
tzdata==2026.6
tzlocal==5.4.5
url-normalize==3.1.0
urllib3==2.8.0
vine==5.1.0
wcwidth==0.9.4
websocket-client==1.9.2
Werkzeug==3.1.9
wrapt==2.5.2
wsproto==1.3.2
WTForms==3.3.2
WTForms-JSON==0.3.5
xlrd==2.0.2
XlsxWriter==3.0.9
zipp==4.1.2
PINS

if [ ! -f "$STAMP" ] || [ ! -x "$VENV/bin/superset" ]; then
    rm -f "$VENV"/.skillpath-superset-*
    if ! { "$PY" -m venv "$VENV" &&
           "$VENV/bin/python" -m pip install --disable-pip-version-check -c "$WORK/constraints.txt" \
               "apache-superset==${SUPERSET_VERSION}" duckdb-engine psycopg2-binary "marshmallow<4" \
               "marshmallow-sqlalchemy<1.5" &&
           "$VENV/bin/python" -c "import duckdb, duckdb_engine, psycopg2, superset" ; } >"$WORK/install.log" 2>&1; then
        cat "$WORK/install.log" >&2
        echo "install_superset.sh: installing Superset into ${VENV} failed (log above)" >&2
        exit 1
    fi
    touch "$STAMP"
fi

# The metadata template: migrations + roles/permissions, no admin (the tests create one).
cat > "$WORK/superset_config.py" <<PYEOF
SECRET_KEY = "template-only-$(date +%s%N)"
SQLALCHEMY_DATABASE_URI = "sqlite:///$WORK/metadata.db"
PYEOF
if ! { SUPERSET_CONFIG_PATH="$WORK/superset_config.py" FLASK_APP=superset "$VENV/bin/superset" db upgrade &&
       SUPERSET_CONFIG_PATH="$WORK/superset_config.py" FLASK_APP=superset "$VENV/bin/superset" init ; } \
        >"$WORK/template.log" 2>&1; then
    cat "$WORK/template.log" >&2
    echo "install_superset.sh: preparing the Superset metadata template failed (log above)" >&2
    exit 1
fi
mv "$WORK/metadata.db" "$TEMPLATE"
echo "Superset ${SUPERSET_VERSION} installed: ${VENV}/bin/superset (metadata template: ${TEMPLATE})" >&2
