"""SKILLPATH_ENGINE and the Spark settings (skillpath/config.py): the dbt target they pick and
what the profile (dbt_project/profiles.yml) receives."""

from __future__ import annotations

import pytest

from skillpath.config import ConfigError, settings
from skillpath.ingest.parquet_raw import wanted


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("SKILLPATH_ENGINE", "SKILLPATH_SPARK_METHOD", "SKILLPATH_SPARK_MASTER", "SKILLPATH_SPARK_WAREHOUSE",
                 "SKILLPATH_SPARK_RAW_LOCATION", "SKILLPATH_SPARK_SHUFFLE_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKILLPATH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SKILLPATH_PSEUDONYM_KEY", "k")
    monkeypatch.setenv("SKILLPATH_THREADS", "2")
    return monkeypatch


def test_duckdb_is_the_default(env):
    s = settings()
    assert s.engine == "duckdb" and s.dbt_target == "duckdb"
    assert s.dbt_env()["SKILLPATH_DBT_TARGET"] == "duckdb"
    assert not any(k.startswith("SKILLPATH_SPARK_") for k in s.dbt_env())


def test_spark_local_session(env, tmp_path):
    env.setenv("SKILLPATH_ENGINE", "Spark")
    s = settings()
    assert s.engine == "spark" and s.dbt_target == "spark"
    e = s.dbt_env()
    assert e["SKILLPATH_SPARK_MASTER"] == "local[2]"
    assert e["SKILLPATH_SPARK_SHUFFLE_PARTITIONS"] == "4"
    assert e["SKILLPATH_SPARK_BIND_ADDRESS"] == "127.0.0.1"
    assert e["SKILLPATH_SPARK_WAREHOUSE"] == str(tmp_path / "home" / "spark" / "warehouse")
    assert e["SKILLPATH_SPARK_RAW_LOCATION"] == str(tmp_path / "home" / "raw")


def test_spark_cluster(env):
    env.setenv("SKILLPATH_ENGINE", "spark")
    env.setenv("SKILLPATH_SPARK_METHOD", "thrift")
    env.setenv("SKILLPATH_SPARK_WAREHOUSE", "s3a://bucket/skillpath/warehouse")
    s = settings()
    assert s.dbt_target == "spark_thrift"
    assert s.dbt_env()["SKILLPATH_SPARK_WAREHOUSE"] == "s3a://bucket/skillpath/warehouse"


@pytest.mark.parametrize(("name", "value"), [("SKILLPATH_ENGINE", "postgres"), ("SKILLPATH_SPARK_METHOD", "odbc"),
                                             ("SKILLPATH_SPARK_SHUFFLE_PARTITIONS", "0")])
def test_invalid_values(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        settings()


def test_the_parquet_copy_is_kept_on_spark_and_where_one_exists(env):
    s = settings()
    assert not wanted(s)  # a DuckDB-only home pays nothing for it
    (s.home / "raw").mkdir(parents=True)
    assert wanted(s)  # written before (a switch back from Spark): kept equal to the lake
    (s.home / "raw").rmdir()
    env.setenv("SKILLPATH_ENGINE", "spark")
    assert wanted(settings())
