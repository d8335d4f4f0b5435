"""Publication of the marts: the atomic DuckDB warehouse, PostgreSQL for BI, CSV exports.

Entry points (docs/publishing.md describes each):

- :func:`orchestration.publish.duckdb_publish.publish_duckdb`, ``rollback``, ``list_versions``
- :func:`orchestration.publish.postgres.publish_postgres`
- :func:`orchestration.publish.exports.export_mart`, ``export_nightly``

Modules are imported lazily by callers so that importing this package costs nothing.
"""
