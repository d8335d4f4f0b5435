"""Dagster's consolidated SQLite event log with one engine per process (dagster.yaml names it).

``ConsolidatedSqliteEventLogStorage`` creates a new SQLAlchemy engine, and with it a new
SQLite connection, for every statement batch it runs: storing one event took about four
of them (3,772 engines for the 886 events of a run on an empty landing zone, ~2 s;
docs/benchmarks.md). This subclass keeps one engine per process whose pool hands the
same few connections out again. The file, its schema, WAL mode and the busy timeout are
Dagster's own, so a home can switch between the two classes either way.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property

from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """One SQLite event log file for all runs, written through one pooled engine per process."""

    @cached_property
    def _engine(self):
        # SQLAlchemy pools file databases (QueuePool; connections usable from any thread)
        return create_engine(self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @contextmanager
    def _connect(self):
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if "_engine" in self.__dict__:
            self.__dict__.pop("_engine").dispose()
        super().dispose()
