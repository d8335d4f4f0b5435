"""The Superset bundle (bi/superset) and its writer (skillpath/publish/bi_bundle.py), without Superset.

Every reference inside the bundle resolves (chart -> dataset -> database, dashboard ->
chart, native filter -> dataset), every column and saved metric a chart uses exists in its
dataset and in the marts' model files, the written bundle carries this installation's
connections (absolute DuckDB path, PostgreSQL login with the password masked, never the
publisher's credentials) and a query context per chart. The real import and every chart's
numbers: tests/integration/test_superset.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from skillpath.publish import bi_bundle
from skillpath.publish.bi_bundle import (
    PASSWORD_MASK,
    SOURCE,
    BundleError,
    build_bundle,
    database_files,
    duckdb_uri,
    postgres_uri,
    query_context,
    write_bundle,
)

REPO = Path(__file__).resolve().parents[2]
PG_URL = "postgresql://publisher:s3cret@db.example.org:6543/analytics?sslmode=require"


def model_columns() -> dict[str, set[str]]:
    out = {}
    for f in (REPO / "dbt_project" / "models" / "marts").glob("*/_*models.yml"):
        for m in yaml.safe_load(f.read_text()).get("models", []):
            out[m["name"]] = {c["name"] for c in m.get("columns", [])}
    return out


def referenced_columns(params: dict) -> set[str]:
    cols = set(params.get("all_columns", [])) | set(params.get("groupby", []) if isinstance(params.get("groupby"), list)
                                                      else [params["groupby"]] if params.get("groupby") else [])
    for key in ("x_axis", "source", "target"):
        if params.get(key):
            cols.add(params[key])
    cols |= {f["subject"] for f in params.get("adhoc_filters", [])}
    cols |= {json.loads(o)[0] for o in params.get("order_by_cols", [])}
    return cols


def referenced_metrics(params: dict) -> set[str]:
    return set(params.get("metrics", [])) | ({params["metric"]} if params.get("metric") else set())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, dict]:
    return build_bundle(tmp_path_factory.mktemp("home") / "warehouse.duckdb", PG_URL, "northwind_managers")


def test_every_reference_resolves_and_every_column_exists(files):
    models = model_columns()
    dbs = {c["uuid"]: c for n, c in files.items() if n.startswith("databases/")}
    datasets = {c["uuid"]: c for n, c in files.items() if n.startswith("datasets/")}
    charts = {c["uuid"]: c for n, c in files.items() if n.startswith("charts/")}
    dashboards = [c for n, c in files.items() if n.startswith("dashboards/")]
    assert len(dbs) == 2 and len(dashboards) == 7 and len(charts) == 31
    uuids = [c["uuid"] for c in files.values() if "uuid" in c]
    assert len(uuids) == len(set(uuids)), "duplicate UUIDs in the bundle"
    for ds in datasets.values():
        assert ds["database_uuid"] in dbs, ds["table_name"]
        cols = {c["column_name"] for c in ds["columns"]}
        if not ds["sql"]:  # physical: a mart; its columns are columns of the model (new ones may be missing)
            assert ds["schema"] == "marts" and cols <= models[ds["table_name"]], \
                (ds["table_name"], cols - models[ds["table_name"]])
        else:
            assert ("skillpath." in ds["sql"]) == (ds["schema"] == "skillpath"), ds["table_name"]
        assert ds["main_dttm_col"] is None or ds["main_dttm_col"] in cols
    for chart in charts.values():
        ds = datasets[chart["dataset_uuid"]]
        cols = {c["column_name"] for c in ds["columns"]}
        metrics = {m["metric_name"] for m in ds["metrics"]}
        params = chart["params"]
        assert params["viz_type"] == chart["viz_type"]
        assert referenced_columns(params) <= cols, (chart["slice_name"], referenced_columns(params) - cols)
        assert referenced_metrics(params) <= metrics, (chart["slice_name"], referenced_metrics(params) - metrics)
        qc = json.loads(chart["query_context"])
        assert qc["form_data"] == params and len(qc["queries"]) == 1
    in_dashboards = set()
    for dash in dashboards:
        for node in dash["position"].values():
            if isinstance(node, dict) and node.get("type") == "CHART":
                assert node["meta"]["uuid"] in charts, (dash["dashboard_title"], node["meta"])
                in_dashboards.add(node["meta"]["uuid"])
                assert node["id"] in {c for n in dash["position"].values() if isinstance(n, dict)
                                      for c in n.get("children", [])}
        for f in dash["metadata"].get("native_filter_configuration", []):
            for target in f["targets"]:
                ds = datasets[target["datasetUuid"]]
                assert target["column"]["name"] in {c["column_name"] for c in ds["columns"]}
    assert in_dashboards == set(charts), "every chart sits on a dashboard"


def test_postgres_assets_are_account_scoped_and_per_login(files):
    models = model_columns()
    pg_db = next(c for c in files.values() if c.get("sqlalchemy_uri", "").startswith("postgresql"))
    pg_sets = [c for n, c in files.items() if n.startswith("datasets/") and c["database_uuid"] == pg_db["uuid"]]
    assert pg_sets
    for ds in pg_sets:
        assert ds["table_name"].endswith("__northwind_managers")
        assert "account_id" in {c["column_name"] for c in ds["columns"]}, ds["table_name"]
        for table in ("mart_issuance_trends", "mart_credential_engagement", "mart_credential_verification",
                      "mart_learner_flow", "mart_pathway_progress"):
            assert table not in ds["sql"], "issuer-level marts are denied to account roles"
    assert "account_id" not in models["mart_issuance_trends"]
    other = build_bundle(Path("/srv/skillpath/warehouse.duckdb"), PG_URL, "skillpath_user_u0000042")
    mine = {c["uuid"] for c in files.values() if "uuid" in c}
    theirs = {c["uuid"] for c in other.values() if "uuid" in c}
    shared = mine & theirs
    assert shared and all(c["uuid"] not in shared for c in pg_sets)  # DuckDB assets shared, PostgreSQL ones not


def test_connections_of_this_installation(tmp_path, files):
    uris = {db: files[name]["sqlalchemy_uri"] for name, db in database_files(files).items()}
    duck = next(u for db, u in uris.items() if "DuckDB" in db)
    assert duck.startswith("duckdb:////") and duck.endswith("/warehouse.duckdb")
    duck_db = next(c for c in files.values() if c.get("sqlalchemy_uri") == duck)
    assert duck_db["extra"]["engine_params"]["connect_args"] == {"read_only": True}
    assert duck_db["allow_dml"] is False
    pg = next(u for db, u in uris.items() if "PostgreSQL" in db)
    assert pg == f"postgresql://northwind_managers:{PASSWORD_MASK}@db.example.org:6543/analytics?sslmode=require"
    assert "s3cret" not in json.dumps(files) and "publisher" not in json.dumps(files)
    assert duckdb_uri(tmp_path / "a b" / "warehouse.duckdb") == f"duckdb:///{tmp_path}/a%20b/warehouse.duckdb"
    with pytest.raises(BundleError):
        postgres_uri("mysql://x@y/z", "bi")
    without_pg = build_bundle(tmp_path / "warehouse.duckdb")
    assert len(database_files(without_pg)) == 1
    assert not any("PostgreSQL" in json.dumps(c) for c in without_pg.values())


def test_query_contexts_send_what_superset_runs():
    raw = query_context({"viz_type": "table", "query_mode": "raw", "all_columns": ["a", "b"],
                         "order_by_cols": ['["a", true]'], "adhoc_filters": []})
    assert raw["queries"][0]["metrics"] is None  # a metrics list makes Superset GROUP BY the columns
    assert raw["queries"][0]["orderby"] == [["a", True]]
    ts = query_context({"viz_type": "echarts_timeseries_line", "x_axis": "m", "time_grain_sqla": "P1M",
                        "metrics": ["n"], "groupby": ["g"], "adhoc_filters": [
                            {"expressionType": "SIMPLE", "clause": "WHERE", "subject": "m",
                             "operator": "TEMPORAL_RANGE", "comparator": "No filter"}]})
    q = ts["queries"][0]
    assert q["columns"][0] == {"columnType": "BASE_AXIS", "sqlExpression": "m", "label": "m",
                               "expressionType": "SQL", "timeGrain": "P1M"}
    assert q["columns"][1:] == ["g"] and q["filters"] == [{"col": "m", "op": "TEMPORAL_RANGE", "val": "No filter"}]
    with pytest.raises(BundleError):
        query_context({"viz_type": "deck_arc"})


def test_write_zip_and_directory_and_the_command(tmp_path, files):
    z = write_bundle(files, tmp_path / "b.zip")
    with zipfile.ZipFile(z) as zf:
        names = zf.namelist()
    assert "skillpath_superset/metadata.yaml" in names and all(n.startswith("skillpath_superset/") for n in names)
    d = write_bundle(files, tmp_path / "dir")
    assert (d / "metadata.yaml").exists() and len(list(d.rglob("*.yaml"))) == len(files)
    write_bundle(files, tmp_path / "dir")  # a bundle directory is replaced
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(BundleError):
        write_bundle(files, tmp_path / "other")
    proc = subprocess.run([sys.executable, "-m", "skillpath.publish.bi_bundle", "--out", str(tmp_path / "c.zip"),
                           "--warehouse", str(tmp_path / "w.duckdb"), "--postgres-url", PG_URL],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "7 dashboards, 31 charts" in proc.stdout and "superset_bi:XXXXXXXXXX@db.example.org" in proc.stdout
    # the subcommand skillpath/cli/__init__.py can mount: skillpath bi-bundle
    parser = argparse.ArgumentParser(prog="skillpath")
    bi_bundle.add_subcommand(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bi-bundle", "--out", str(tmp_path / "d.zip"), "--warehouse", str(tmp_path / "w"),
                              "--postgres-url", ""])
    assert args.func(args) == 0
    with zipfile.ZipFile(tmp_path / "d.zip") as zf:
        assert not any("PostgreSQL" in n for n in zf.namelist())


def test_committed_duckdb_tree_imports_as_it_is():
    """bi/superset/duckdb is a Superset bundle by itself (placeholder path /srv/skillpath)."""
    meta = yaml.safe_load((SOURCE / "duckdb" / "metadata.yaml").read_text())
    assert meta["version"] == "1.0.0" and meta["type"] == "Dashboard"
    db = yaml.safe_load((SOURCE / "duckdb" / "databases" / "Skillpath_warehouse_DuckDB.yaml").read_text())
    assert db["sqlalchemy_uri"] == "duckdb:////srv/skillpath/warehouse.duckdb"
    assert not (SOURCE / "postgres" / "metadata.yaml").exists()
