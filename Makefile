# Two commands do everything on a fresh machine:  make demo   and   make test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install demo run test lint dev clean bench bi-bundle spark

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version" || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# the Spark engine (SKILLPATH_ENGINE=spark): Java 17 from Debian when missing, pyspark and
# dbt-spark (requirements-spark.lock) into .venv; docs/scale_out.md. demo and test need it not
# (make test installs it in the background for the Spark test).
spark: install
	bash scripts/install_spark.sh

demo: install
	$(BIN)/skillpath demo

run: install
	$(BIN)/skillpath run

# every test: lint, then pytest (unit + dbt + integration against real servers).
# Ralph, Superset, the old DuckDB and Spark install in the background while pytest starts (their
# scripts take a lock; the tests that need them run the script again, which waits for
# the install and returns). pytest runs TEST_WORKERS processes (pytest-xdist), a file at
# a time each, longest files first (tests/conftest.py).
TEST_WORKERS ?= 2
test: install
	bash scripts/install_system_deps.sh
	mkdir -p .tmp
	for s in ralph superset old_duckdb spark; do (bash scripts/install_$$s.sh > .tmp/install_$$s.log 2>&1 &); done
	$(MAKE) lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check skillpath skillpath_dev tests scripts

dev: install
	mkdir -p $${SKILLPATH_HOME:-.skillpath}/dagster
	test -f $${SKILLPATH_HOME:-.skillpath}/dagster/dagster.yaml || cp dagster.yaml $${SKILLPATH_HOME:-.skillpath}/dagster/
	DAGSTER_HOME=$$(cd $${SKILLPATH_HOME:-.skillpath}/dagster && pwd) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster dev

bench: install
	$(BIN)/skillpath bench --statements $${STATEMENTS:-1000000}

clean:
	rm -rf .skillpath dbt_project/target dbt_project/logs

# the Superset bundle (bi/superset) with this installation's connections (docs/bi.md):
#   make bi-bundle [OUT=dir-or.zip] [BI_BUNDLE_ARGS="--postgres-login LOGIN"]
bi-bundle: install
	$(BIN)/python -m skillpath.publish.bi_bundle --out $${OUT:-$${SKILLPATH_HOME:-.skillpath}/superset_bundle.zip} $(BI_BUNDLE_ARGS)
