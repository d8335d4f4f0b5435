"""Settings read from ``SKILLPATH_*`` environment variables.

Nothing here touches the network or the disk at import time; call
:func:`settings` (cheap) whenever a value is needed so that tests can change
the environment between calls.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_PSEUDONYM_KEY = "skillpath-demo-key-not-for-production"


class ConfigError(RuntimeError):
    """A setting is missing or invalid."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_dir: Path
    lrs_url: str | None
    lrs_username: str | None
    lrs_password: str | None
    lrs_page_limit: int
    lrs_overlap_seconds: int
    lrs_lookback_days: float
    lrs_full_rescan_days: int
    lrs_full_rescan: bool
    pseudonym_key: str | None
    demo: bool
    threads: int
    memory_limit: str
    keep_versions: int
    postgres_url: str | None
    alert_webhook: str | None
    as_of_date: dt.date | None
    expectations_dir: Path
    default_account: str | None = None
    freshness_days: int | None = None
    max_row_drop: float | None = None
    max_future_hours: float = 24.0
    schedule_cron: str = "0 2 * * *"
    schedule_timezone: str = "UTC"
    log_level: str = "INFO"
    #: whether a credential recipient without a detailed_tracking consent event is tracked in
    #: detail: "required" (opt-in, the default) or "assumed" (a deployment that collects no
    #: consent); docs/privacy.md "Consent"
    consent_default: str = "required"
    #: raw records older than this many days are dropped on each run (None: kept for ever)
    retention_days: int | None = None
    #: the engine dbt builds with: "duckdb" (embedded, the default) or "spark" (docs/scale_out.md)
    engine: str = "duckdb"
    #: Spark: "session" (a Spark session in the dbt process) or "thrift" (a cluster's Thrift server)
    spark_method: str = "session"
    #: Spark session: the master (None: local[threads])
    spark_master: str | None = None
    spark_driver_memory: str = "1g"
    spark_shuffle_partitions: int | None = None
    #: Spark: where its tables live (None: home/spark/warehouse; a cluster: object storage)
    spark_warehouse: str | None = None
    #: Spark: where it reads the raw layer's Parquet copy (None: home/raw)
    spark_raw_location: str | None = None
    spark_host: str = "localhost"
    spark_port: int = 10000
    spark_user: str = "skillpath"
    spark_bind_address: str = "127.0.0.1"

    def with_home(self, home: Path, landing_dir: Path | None = None) -> Settings:
        """These settings for another home (and landing zone, default ``home/landing``)."""
        return replace(self, home=home, landing_dir=landing_dir or home / "landing")

    # Files under SKILLPATH_HOME -------------------------------------------------
    @property
    def raw_db(self) -> Path:
        """Append-only raw layer (one DuckDB file, schema ``raw``)."""
        return self.home / "lake.duckdb"

    @property
    def build_db(self) -> Path:
        """dbt's working warehouse (all layers); never read by BI tools."""
        return self.home / "build.duckdb"

    @property
    def warehouse_db(self) -> Path:
        """The published warehouse BI tools read (marts only)."""
        return self.home / "warehouse.duckdb"

    @property
    def raw_parquet_dir(self) -> Path:
        """The raw layer's Parquet copy (``raw/<table>/*.parquet``), what Spark reads."""
        return self.home / "raw"

    @property
    def spark_dir(self) -> Path:
        """The local Spark session's warehouse, metastore and exported marts."""
        return self.home / "spark"

    @property
    def spark_export_dir(self) -> Path:
        """Where a Spark build leaves the relations publication reads, as Parquet
        (macros/spark_engine.sql; skillpath/transform/spark_marts.py loads them into build.duckdb)."""
        return self.spark_dir / "export"

    @property
    def dbt_target(self) -> str:
        """The output of dbt_project/profiles.yml the build uses."""
        if self.engine == "spark":
            return "spark_thrift" if self.spark_method == "thrift" else "spark"
        return "duckdb"

    @property
    def versions_dir(self) -> Path:
        return self.home / "versions"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    def require_pseudonym_key(self) -> str:
        if self.pseudonym_key:
            return self.pseudonym_key
        if self.demo:
            return DEMO_PSEUDONYM_KEY
        raise ConfigError(
            "SKILLPATH_PSEUDONYM_KEY is not set. Learner identities are pseudonymised "
            "with a keyed hash; set a long random secret (and keep it: changing it "
            "changes every learner id), or set SKILLPATH_DEMO=1 for a demo run."
        )

    def dbt_env(self) -> dict[str, str]:
        """Environment for a dbt subprocess (absolute paths, key resolved)."""
        env = {
            "SKILLPATH_HOME": str(self.home),
            "SKILLPATH_THREADS": str(self.threads),
            "SKILLPATH_MEMORY_LIMIT": self.memory_limit,
            "SKILLPATH_PSEUDONYM_KEY": self.require_pseudonym_key(),
        }
        if self.as_of_date:
            env["SKILLPATH_AS_OF_DATE"] = self.as_of_date.isoformat()
        # read by macros/learning_xapi.sql; always passed, so an unset value clears a stale one
        env["SKILLPATH_DEFAULT_ACCOUNT"] = self.default_account or ""
        env["SKILLPATH_CONSENT_DEFAULT"] = self.consent_default  # macros/consent.sql
        env.update(self.engine_env())
        return env

    def engine_env(self) -> dict[str, str]:
        """The profile's variables for the engine (dbt_project/profiles.yml)."""
        env = {"SKILLPATH_DBT_TARGET": self.dbt_target}
        if self.engine != "spark":
            return env
        spark = self.spark_dir
        env.update(
            SKILLPATH_SPARK_MASTER=self.spark_master or f"local[{self.threads}]",
            SKILLPATH_SPARK_DRIVER_MEMORY=self.spark_driver_memory,
            SKILLPATH_SPARK_SHUFFLE_PARTITIONS=str(self.spark_shuffle_partitions or 2 * self.threads),
            SKILLPATH_SPARK_WAREHOUSE=self.spark_warehouse or str(spark / "warehouse"),
            SKILLPATH_SPARK_METASTORE=str(spark / "metastore_db"),
            SKILLPATH_SPARK_RAW_LOCATION=self.spark_raw_location or str(self.raw_parquet_dir),
            SKILLPATH_SPARK_EXPORT=str(self.spark_export_dir),
            SKILLPATH_SPARK_BIND_ADDRESS=self.spark_bind_address,
            SKILLPATH_SPARK_HOST=self.spark_host,
            SKILLPATH_SPARK_PORT=str(self.spark_port),
            SKILLPATH_SPARK_USER=self.spark_user,
        )
        return env


def settings() -> Settings:
    home = Path(_env("SKILLPATH_HOME", "./.skillpath")).expanduser().resolve()
    landing = Path(_env("SKILLPATH_LANDING_DIR", str(home / "landing"))).expanduser().resolve()
    return Settings(
        home=home,
        landing_dir=landing,
        lrs_url=_env("SKILLPATH_LRS_URL"),
        lrs_username=_env("SKILLPATH_LRS_USERNAME"),
        lrs_password=_env("SKILLPATH_LRS_PASSWORD"),
        lrs_page_limit=int(_env("SKILLPATH_LRS_PAGE_LIMIT", "500")),
        lrs_overlap_seconds=int(_env("SKILLPATH_LRS_OVERLAP_SECONDS", "300")),
        lrs_lookback_days=_non_negative("SKILLPATH_LRS_LOOKBACK_DAYS", float(_env("SKILLPATH_LRS_LOOKBACK_DAYS", "3"))),
        lrs_full_rescan_days=_non_negative("SKILLPATH_LRS_FULL_RESCAN_DAYS",
                                           int(_env("SKILLPATH_LRS_FULL_RESCAN_DAYS", "7"))),
        lrs_full_rescan=_env("SKILLPATH_LRS_FULL_RESCAN", "0") in ("1", "true", "yes"),
        pseudonym_key=_env("SKILLPATH_PSEUDONYM_KEY"),
        demo=_env("SKILLPATH_DEMO", "0") in ("1", "true", "yes"),
        threads=int(_env("SKILLPATH_THREADS", str(min(os.cpu_count() or 2, 4)))),
        memory_limit=_env("SKILLPATH_MEMORY_LIMIT", "3GB"),
        keep_versions=int(_env("SKILLPATH_KEEP_VERSIONS", "3")),
        postgres_url=_env("SKILLPATH_POSTGRES_URL"),
        alert_webhook=_env("SKILLPATH_ALERT_WEBHOOK"),
        as_of_date=_date(_env("SKILLPATH_AS_OF_DATE")),
        expectations_dir=Path(_env("SKILLPATH_EXPECTATIONS_DIR", str(REPO_ROOT / "expectations"))).resolve(),
        default_account=_env("SKILLPATH_DEFAULT_ACCOUNT"),
        freshness_days=_number("SKILLPATH_FRESHNESS_DAYS", int, 0, None),
        max_row_drop=_number("SKILLPATH_MAX_ROW_DROP", float, 0, 1),
        max_future_hours=_default(_number("SKILLPATH_MAX_FUTURE_HOURS", float, 0, None), 24.0),
        schedule_cron=_env("SKILLPATH_SCHEDULE_CRON", "0 2 * * *"),
        schedule_timezone=_env("SKILLPATH_SCHEDULE_TIMEZONE", "UTC"),
        log_level=_env("SKILLPATH_LOG_LEVEL", "INFO"),
        consent_default=_choice("SKILLPATH_CONSENT_DEFAULT", CONSENT_DEFAULTS),
        retention_days=_number("SKILLPATH_RETENTION_DAYS", int, 1, None),
        engine=_choice("SKILLPATH_ENGINE", ENGINES),
        spark_method=_choice("SKILLPATH_SPARK_METHOD", SPARK_METHODS),
        spark_master=_env("SKILLPATH_SPARK_MASTER"),
        spark_driver_memory=_env("SKILLPATH_SPARK_DRIVER_MEMORY", "1g"),
        spark_shuffle_partitions=_number("SKILLPATH_SPARK_SHUFFLE_PARTITIONS", int, 1, None),
        spark_warehouse=_env("SKILLPATH_SPARK_WAREHOUSE"),
        spark_raw_location=_env("SKILLPATH_SPARK_RAW_LOCATION"),
        spark_host=_env("SKILLPATH_SPARK_HOST", "localhost"),
        spark_port=int(_env("SKILLPATH_SPARK_PORT", "10000")),
        spark_user=_env("SKILLPATH_SPARK_USER", "skillpath"),
        spark_bind_address=_env("SKILLPATH_SPARK_BIND_ADDRESS", "127.0.0.1"),
    )


#: values of SKILLPATH_CONSENT_DEFAULT, the default first
CONSENT_DEFAULTS = ("required", "assumed")
#: values of SKILLPATH_ENGINE and SKILLPATH_SPARK_METHOD, the default first
ENGINES = ("duckdb", "spark")
SPARK_METHODS = ("session", "thrift")


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """An optional setting with a fixed set of values (case-insensitive); the first when unset."""
    value = (_env(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _default(value, default):
    return default if value is None else value


def _non_negative(name: str, value):
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value!r}")
    return value


def _number(name: str, kind: type, low: float, high: float | None):
    """An optional numeric setting (None when unset), checked against its range."""
    value = _env(name)
    if value is None:
        return None
    try:
        number = kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a{'n integer' if kind is int else ' number'}, got {value!r}") from exc
    if number < low or (high is not None and number > high):
        raise ConfigError(f"{name} must be {'from ' + str(low) + ' to ' + str(high) if high is not None else '>= ' + str(low)}"
                          f", got {value!r}")
    return number


def _date(value: str | None) -> dt.date | None:
    """``SKILLPATH_AS_OF_DATE`` (YYYY-MM-DD): the run's reference date for statuses and freshness."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"SKILLPATH_AS_OF_DATE must be YYYY-MM-DD, got {value!r}") from exc


def connect_duckdb(path: Path | str | None = None, *, read_only: bool = False,
                   s: Settings | None = None):
    """A DuckDB connection held to the threads and memory limit of ``s`` (:func:`limit_duckdb`).

    ``path`` None: an in-memory database (publication attaches files to it).
    """
    import duckdb

    con = duckdb.connect(str(path) if path is not None else ":memory:", read_only=read_only)
    try:
        limit_duckdb(con, s)
    except BaseException:
        con.close()
        raise
    return con


def limit_duckdb(con, s: Settings | None = None) -> None:
    """Hold a DuckDB connection to the threads and memory limit of ``s`` (default: the
    environment's SKILLPATH_THREADS and SKILLPATH_MEMORY_LIMIT).

    DuckDB's own default is 80 % of the machine's memory, and it keeps the blocks it
    has read in its buffer pool up to that (measurements in docs/benchmarks.md).
    """
    s = s or settings()
    con.execute(f"set threads = {int(s.threads)}")
    con.execute("set memory_limit = ?", [s.memory_limit])
