"""A Superset asset bundle over the published warehouse, with this installation's connections.

The dashboards live as Superset YAML under ``bi/superset/``:

- ``duckdb/``: ``metadata.yaml``, the DuckDB connection (the published
  ``warehouse.duckdb``, read-only), datasets over schema ``marts``, charts and
  dashboards. Importable as it is (its connection points at ``/srv/skillpath``).
- ``postgres/``: the PostgreSQL connection (schema ``skillpath``) and the
  account-scoped datasets, charts and one dashboard over it; added when a
  PostgreSQL URL is known. Row-level security comes from PostgreSQL: the
  connection's login decides which accounts it sees.

:func:`build_bundle` copies both trees with the connection settings of this
installation (the absolute warehouse path; host, port, database and login of
the PostgreSQL connection, the password masked) and adds to every chart the
query context Superset's chart-data API runs (``GET /api/v1/chart/{id}/data``),
then writes a directory or a ``.zip`` for ``superset import-dashboards`` or
``POST /api/v1/dashboard/import/`` (docs/bi.md, "Superset").

Each PostgreSQL login gets its own connection and copies of the PostgreSQL
assets (UUIDs derived from the login), so a manager's connection and the BI
connection can live side by side in one Superset.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from skillpath.config import REPO_ROOT as REPO

SOURCE = REPO / "bi" / "superset"
PASSWORD_MASK = "XXXXXXXXXX"  # Superset's mask: the password is given at import time
DEFAULT_PG_LOGIN = "superset_bi"
BUNDLE_ROOT = "skillpath_superset"
_NS = uuid.UUID("6f1f3c1e-2b7a-4e8e-9d55-5b1f0c0a5e11")


class BundleError(RuntimeError):
    pass


def _load_tree(root: Path) -> dict[str, Any]:
    return {p.relative_to(root).as_posix(): yaml.safe_load(p.read_text())
            for p in sorted(root.rglob("*.yaml"))}


def duckdb_uri(warehouse: Path) -> str:
    """``duckdb:////abs/path/warehouse.duckdb`` (SQLAlchemy: three slashes + the absolute path)."""
    path = Path(warehouse).expanduser().resolve()
    return "duckdb:///" + quote(str(path), safe="/")


def postgres_uri(url: str, login: str) -> str:
    """The SQLAlchemy URI of ``url``'s server and database for ``login``, the password masked."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise BundleError(f"not a PostgreSQL URL: {parts.scheme}://...")
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    query = f"?{parts.query}" if parts.query else ""
    return (f"postgresql://{quote(login, safe='')}:{PASSWORD_MASK}@{host}{port}/{quote(dbname, safe='')}"
            f"{query}")


# --- query contexts: what Superset's frontend would send for each chart -------------------------------

def _filters(params: dict) -> list[dict]:
    out = []
    for f in params.get("adhoc_filters") or []:
        if f.get("expressionType") != "SIMPLE" or f.get("clause") != "WHERE":
            raise BundleError(f"only simple WHERE filters are supported in the bundle: {f}")
        out.append({"col": f["subject"], "op": f["operator"], "val": f.get("comparator")})
    return out


def _axis(params: dict) -> dict:
    col: dict[str, Any] = {"columnType": "BASE_AXIS", "sqlExpression": params["x_axis"],
                           "label": params["x_axis"], "expressionType": "SQL"}
    if params.get("time_grain_sqla"):
        col["timeGrain"] = params["time_grain_sqla"]
    return col


def query_context(params: dict) -> dict:
    """The chart-data query context of a chart's ``params`` (form data), for the viz types the bundle uses.

    Rows come back tidy (one per group, no pivot post-processing); the datasource id is
    filled in by Superset's importer.
    """
    viz = params["viz_type"]
    q: dict[str, Any] = {
        "filters": _filters(params), "extras": {"having": "", "where": ""}, "applied_time_extras": {},
        "columns": [], "metrics": [], "orderby": [], "annotation_layers": [],
        "row_limit": params.get("row_limit", 10000), "series_limit": 0, "order_desc": True,
        "url_params": {}, "custom_params": {}, "custom_form_data": {},
    }
    if viz == "big_number_total":
        q["metrics"] = [params["metric"]]
    elif viz.startswith("echarts_timeseries"):
        q["columns"] = [_axis(params), *params.get("groupby", [])]
        q["metrics"] = list(params["metrics"])
        q["orderby"] = [[params["metrics"][0], False]]
    elif viz == "sankey_v2":
        q["columns"] = [params["source"], params["target"]]
        q["metrics"] = [params["metric"]]
        q["orderby"] = [[params["metric"], False]]
    elif viz == "heatmap_v2":
        q["columns"] = [params["x_axis"], params["groupby"]]
        q["metrics"] = [params["metric"]]
        q["orderby"] = [[params["metric"], False]]
    elif viz == "pie":
        q["columns"] = list(params["groupby"])
        q["metrics"] = [params["metric"]]
        q["orderby"] = [[params["metric"], False]]
    elif viz == "table" and params.get("query_mode") == "raw":
        q["columns"] = list(params["all_columns"])
        q["metrics"] = None  # None, not []: with a metrics list Superset groups by the columns (no duplicates)
        q["orderby"] = [json.loads(o) for o in params.get("order_by_cols", [])]
    elif viz == "table":
        q["columns"] = list(params["groupby"])
        q["metrics"] = list(params["metrics"])
        q["orderby"] = [[params["metrics"][0], False]]
    else:
        raise BundleError(f"no query context for viz type {viz!r}")
    return {"datasource": {"id": 0, "type": "table"}, "force": False, "queries": [q],
            "form_data": params, "result_format": "json", "result_type": "full"}


# --- the bundle ------------------------------------------------------------------------------------------

def _remap(files: dict[str, Any], login: str) -> dict[str, Any]:
    """Copies of the PostgreSQL assets with UUIDs (and names) of their own for ``login``."""
    mapping: dict[str, str] = {}
    for config in files.values():
        old = config["uuid"]
        mapping[old] = str(uuid.uuid5(_NS, f"postgres-login:{login}:{old}"))

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value in mapping:
            return mapping[value]
        return value

    return {name: walk(config) for name, config in files.items()}


def build_bundle(warehouse: Path, postgres_url: str | None = None, postgres_login: str = DEFAULT_PG_LOGIN,
                 source: Path = SOURCE) -> dict[str, dict]:
    """The bundle's files (relative path -> YAML content) for this installation."""
    files = _load_tree(source / "duckdb")
    for config in files.values():
        if "sqlalchemy_uri" in config:
            config["sqlalchemy_uri"] = duckdb_uri(warehouse)
    if postgres_url:
        pg = _remap(_load_tree(source / "postgres"), postgres_login)
        login = _slug(postgres_login)
        for name, config in pg.items():
            kind, _, rest = name.partition("/")
            if kind == "databases":
                config["sqlalchemy_uri"] = postgres_uri(postgres_url, postgres_login)
                config["database_name"] = f"{config['database_name'][:-1]}: {postgres_login})"
                files[f"databases/Skillpath_PostgreSQL_{login}.yaml"] = config
                continue
            if kind == "dashboards":
                config["dashboard_title"] = f"{config['dashboard_title'][:-1]}: {postgres_login})"
                config["slug"] = f"{config['slug']}-{login}".replace("_", "-")
            if kind == "datasets":
                # virtual datasets named per login: Superset's SQLite metadata keeps a UNIQUE
                # (table_name) from before datasets were unique per database and schema
                if not config.get("sql"):
                    raise BundleError(f"{name}: the PostgreSQL datasets must be virtual (SQL) datasets")
                config["table_name"] = f"{config['table_name']}__{login}"
            files[f"{kind}/{login}/{rest}"] = config
    for name, config in files.items():
        if name.startswith("charts/"):
            config["query_context"] = json.dumps(query_context(config["params"]), sort_keys=True)
    return files


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_") or "x"


def database_files(files: dict[str, dict]) -> dict[str, str]:
    """Bundle file name -> connection name, for passing passwords at import time."""
    return {name: config["database_name"] for name, config in files.items() if name.startswith("databases/")}


def write_bundle(files: dict[str, dict], out: Path) -> Path:
    """A ``.zip`` (everything under one top folder, as Superset exports it) or a directory."""
    out = Path(out)
    rendered = {name: yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120)
                for name, config in files.items()}
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in sorted(rendered.items()):
                zf.writestr(f"{BUNDLE_ROOT}/{name}", text)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, out)
        return out
    if out.exists():
        if not (out / "metadata.yaml").exists() and any(out.iterdir()):
            raise BundleError(f"{out} exists and is not a bundle directory: refusing to overwrite it")
        shutil.rmtree(out)
    for name, text in rendered.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return out


DESCRIPTION = "Write the Superset bundle (bi/superset) with this installation's connections (docs/bi.md)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path,
                        help="a .zip file, or a directory (replaced if it holds a bundle)")
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="the published DuckDB file (default: $SKILLPATH_HOME/warehouse.duckdb)")
    parser.add_argument("--postgres-url", default=None,
                        help="server and database of the PostgreSQL publication (default: "
                             "$SKILLPATH_POSTGRES_URL; its user and password are not used; '' leaves it out)")
    parser.add_argument("--postgres-login", default=DEFAULT_PG_LOGIN,
                        help="the login Superset connects with: a member of skillpath_bi (all accounts) "
                             "or of one skillpath_user_<id> role (that account only); default %(default)s")


def add_subcommand(subparsers: Any) -> None:
    """``skillpath bi-bundle``: ``bi_bundle.add_subcommand(sub)`` in skillpath/cli/__init__.py."""
    p = subparsers.add_parser("bi-bundle", help="write the Superset bundle (dashboards as code)",
                              description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.warehouse is None:
        from skillpath.config import settings

        warehouse = settings().warehouse_db
    else:
        warehouse = args.warehouse
    postgres_url = settings().postgres_url if args.postgres_url is None else args.postgres_url
    try:
        files = build_bundle(warehouse, postgres_url or None, args.postgres_login)
        out = write_bundle(files, args.out)
    except BundleError as exc:
        print(f"bi-bundle: {exc}", file=sys.stderr)
        return 2
    charts = sum(n.startswith("charts/") for n in files)
    dashboards = sum(n.startswith("dashboards/") for n in files)
    print(f"Superset bundle: {out} ({dashboards} dashboards, {charts} charts)")
    for name, db in database_files(files).items():
        print(f"  connection {db!r}: {files[name]['sqlalchemy_uri']} ({name})")
    if not Path(warehouse).exists():
        print(f"  note: {Path(warehouse).resolve()} does not exist yet (run the pipeline first)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skillpath bi-bundle", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

