"""Publication of the marts: the atomic DuckDB warehouse, PostgreSQL for BI, CSV exports.

Entry points (docs/publishing.md describes each):

- :func:`skillpath.publish.duckdb_publish.publish_duckdb`, ``rollback``, ``list_versions``
- :func:`skillpath.publish.postgres.publish_postgres`
- :func:`skillpath.publish.exports.export_mart`, ``export_nightly``

Modules are imported lazily by callers so that importing this package costs nothing.
"""
