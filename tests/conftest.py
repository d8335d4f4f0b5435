from __future__ import annotations

from pathlib import Path

import pytest

from skillpath.ingest.contract import connect_raw

#: Files in the order pytest-xdist (``make test``: ``-n 2 --dist loadfile``) hands them out:
#: the longest first, so that none starts last and holds the run up alone; the tests of
#: the servers that ``make test`` installs in the background (Ralph, Superset, an old
#: DuckDB) after them, so the installs finish first. The rest follow in their usual order.
#: The Spark test is the exception: it is long, and its install (scripts/install_spark.sh)
#: finishes while it builds the shared published home it compares with.
SLOW_FIRST = (
    "integration/test_kill.py",
    "integration/test_spark_engine.py",
    "integration/test_gate_rules.py",
    "integration/test_pipeline.py",
    "integration/test_erasure.py",
    "integration/test_learner_marts.py",
    "integration/test_credential_marts.py",
    "integration/test_consent.py",
    "integration/test_incremental.py",
    "integration/test_report.py",
    "integration/test_hostile_marts.py",
    "integration/test_real_inputs_publish.py",
    "integration/test_xapi_only.py",
    "integration/test_postgres.py",
    "integration/test_production_postgres.py",
    "integration/test_dagster_dev.py",
    "integration/test_lrs.py",
    "integration/test_lrs_rescan.py",
    "integration/test_superset.py",
    "integration/test_publish_duckdb.py",
)


def pytest_collection_modifyitems(session, config, items):
    tests_dir = Path(__file__).parent
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}

    def key(item) -> int:
        rel = Path(str(item.path)).relative_to(tests_dir).as_posix()
        return rank.get(rel, len(SLOW_FIRST))

    items.sort(key=key)  # stable: the order within a file is kept


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SKILLPATH_HOME with an empty raw layer, set in the environment."""
    h = tmp_path / "home"
    (h / "landing").mkdir(parents=True)
    monkeypatch.setenv("SKILLPATH_HOME", str(h))
    monkeypatch.setenv("SKILLPATH_LANDING_DIR", str(h / "landing"))
    monkeypatch.setenv("SKILLPATH_PSEUDONYM_KEY", "test-pseudonym-key")
    connect_raw(h / "lake.duckdb").close()
    return h
