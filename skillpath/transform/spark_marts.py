"""What a Spark build hands to the gate and publication: its marts, in ``build.duckdb``.

The Spark build leaves every mart, and the learner directory's source
(``staging.stg_lms__users``, read by the PostgreSQL publication), as Parquet under
``$SKILLPATH_HOME/spark/export/<schema>.<name>/`` (the on-run-end hook in
dbt_project/macros/spark_engine.sql). :func:`load_spark_exports` writes them into
``build.duckdb`` as tables of the same schemas, each column cast to the type its dbt
contract names (the types the DuckDB build has: Spark's ``string``, ``int`` and UTC
timestamps come back as ``varchar``, ``integer`` and naive UTC ``timestamp``). From there the
Great Expectations gate, the DuckDB warehouse and PostgreSQL publish exactly as they do
after a DuckDB build.
"""

from __future__ import annotations

import json
from pathlib import Path

from skillpath.config import Settings, connect_duckdb


class SparkExportError(RuntimeError):
    """The Spark build left no (or an incomplete) export of its marts."""


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def contract_types(manifest_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(schema, relation) -> {column: data_type} of every model with an enforced contract."""
    manifest = json.loads(Path(manifest_path).read_text())
    out = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["config"].get("contract", {}).get("enforced"):
            continue
        out[(node["schema"], node["alias"])] = {c["name"]: c["data_type"] for c in node["columns"].values()
                                                if c.get("data_type")}
    return out


def load_spark_exports(s: Settings, manifest_path: Path) -> dict[str, int]:
    """Replace the marts (and the users view) of ``s.build_db`` with the Spark build's export;
    returns rows per ``schema.relation``."""
    export = s.spark_export_dir
    dirs = sorted(p for p in export.iterdir() if p.is_dir()) if export.is_dir() else []
    if not any(p.name.startswith("marts.") for p in dirs):
        raise SparkExportError(f"the Spark build left no marts in {export}")
    types = contract_types(manifest_path)
    counts: dict[str, int] = {}
    con = connect_duckdb(s.build_db, s=s)
    try:
        con.execute("set TimeZone = 'UTC'")  # Spark writes UTC instants; the marts hold naive UTC
        con.begin()
        con.execute("drop schema if exists marts cascade")
        for d in dirs:
            schema, name = d.name.split(".", 1)
            con.execute(f"create schema if not exists {_q(schema)}")
            con.execute(f"drop view if exists {_q(schema)}.{_q(name)}")
            con.execute(f"drop table if exists {_q(schema)}.{_q(name)}")
            files = sorted(str(f) for f in d.glob("*.parquet"))
            if not files:
                raise SparkExportError(f"{d} holds no Parquet file")
            source = f"read_parquet([{', '.join(_lit(f) for f in files)}])"
            columns = con.execute(f"describe select * from {source}").fetchall()
            declared = types.get((schema, name), {})
            select = ", ".join(
                f"cast({_q(col)} as {declared[col]}) as {_q(col)}" if col in declared
                else (f"cast({_q(col)} as timestamp) as {_q(col)}" if kind.startswith("TIMESTAMP WITH TIME ZONE")
                      else _q(col))
                for col, kind, *_ in columns)
            con.execute(f"create table {_q(schema)}.{_q(name)} as select {select} from {source}")
            counts[d.name] = con.execute(f"select count(*) from {_q(schema)}.{_q(name)}").fetchone()[0]
        con.commit()
        con.execute("checkpoint")
    finally:
        con.close()
    return counts
