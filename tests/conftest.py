from __future__ import annotations

from pathlib import Path

import pytest

from skillpath.ingest.contract import connect_raw


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
