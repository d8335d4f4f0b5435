"""The raw contract (skillpath/ingest/contract.py) is the one list of raw tables: the DDL, the
Dagster assets and dbt's sources agree with it."""

from __future__ import annotations

import duckdb
import yaml

from skillpath.config import REPO_ROOT
from skillpath.ingest.contract import (
    DDL,
    INGESTION_ONLY_TABLES,
    LANDING_FOLDERS,
    SOURCES,
    STATE_TABLES,
    SUMMARY_TABLES,
)


def _contract_tables() -> set[str]:
    return {t for s in SOURCES for t in s.tables} | set(SUMMARY_TABLES) | set(STATE_TABLES)


def test_the_ddl_creates_exactly_the_contract_tables():
    con = duckdb.connect()
    con.execute(DDL)
    created = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}
    assert created == _contract_tables()


def test_dbt_declares_every_raw_table_it_may_read_and_no_other():
    doc = yaml.safe_load((REPO_ROOT / "dbt_project/models/staging/_raw__sources.yml").read_text())
    (raw,) = [s for s in doc["sources"] if s["name"] == "raw"]
    declared = {t["name"] for t in raw["tables"]}
    assert declared == _contract_tables() - set(INGESTION_ONLY_TABLES)


def test_the_dagster_raw_assets_are_the_contract_tables():
    from skillpath.defs import ingest

    keys = {k.path[-1] for a in ingest.assets for k in a.keys}
    assert keys == _contract_tables() - set(STATE_TABLES)


def test_landing_folders_follow_the_sources_in_order():
    assert LANDING_FOLDERS == ("lms", "credentials", "xapi", "credential_events", "consents")
    assert [s.name for s in SOURCES][-1] == "xapi_lrs"  # the LRS is read last
