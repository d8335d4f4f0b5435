"""A consent withdrawal reaches the published copies kept for rollback (docs/privacy.md, "Consent").

Each publication writes a new warehouse version holding only the recipients whose
detailed_tracking consent holds now; the older versions kept for ``skillpath rollback``
(``SKILLPATH_KEEP_VERSIONS``) were written when other recipients' consent held. After each
publication, :func:`withdraw_from_kept_versions` removes from every older kept version the
rows of each recipient whose consent no longer holds (the recipient-level marts) and blanks
their credential columns in the learner progress, then rewrites the file (so freed pages keep
no bytes of them). A version with nothing to remove is left untouched: a night without a
withdrawal costs one query per kept version.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from skillpath.config import Settings, connect_duckdb

#: published marts with one row per recipient-level fact (docs/privacy.md "What needs consent")
RECIPIENT_LEVEL_MARTS = ("fct_credential_awards", "fct_credential_events", "fct_credential_transitions",
                         "mart_recipient_credentials", "mart_invalid_credentials")
#: published mart -> its credential columns shown only with consent (macro credential_detail_holds)
CREDENTIAL_DETAIL = {"mart_learner_course_progress": ("is_certified", "certified_at", "credentials_held",
                                                      "rank_certified")}


def not_consenting(build_db: Path) -> list[str]:
    """Recipients (learner_id) whose detailed_tracking consent does not hold in this build."""
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        return [r[0] for r in con.execute(
            "select learner_id from intermediate.int_credentials__recipient_consent "
            "where not has_detailed_tracking and learner_id is not null").fetchall()]
    except duckdb.CatalogException:  # a build without the consent model: nobody's consent changed
        return []
    finally:
        con.close()


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = 'w' "
                                      "and schema_name = 'marts'").fetchall()}


def _targets(tables: set[str]) -> list[tuple[str, str, str | None]]:
    """(mart, condition on its rows, columns to blank or None to delete) of attached ``w``."""
    gone = "learner_id in (select learner_id from _gone)"
    out = [(m, gone, None) for m in RECIPIENT_LEVEL_MARTS if m in tables]
    out += [(m, f"{gone} and ({' or '.join(f'{c} is not null' for c in cols)})",
             ", ".join(f"{c} = null" for c in cols)) for m, cols in CREDENTIAL_DETAIL.items() if m in tables]
    return out


def _withdraw(con: duckdb.DuckDBPyConnection, targets: list[tuple[str, str, str | None]]) -> dict[str, int]:
    """Rows removed (recipient-level marts) or blanked (learner progress) per mart of attached ``w``."""
    done = {}
    for mart, where, blank in targets:
        sql = f"delete from w.marts.{mart}" if blank is None else f"update w.marts.{mart} set {blank}"
        n = con.execute(f"{sql} where {where}").fetchone()[0]
        if n:
            done[mart] = n
            if blank is None:
                con.execute("update w.meta.row_counts set row_count = row_count - ? "
                            "where table_schema = 'marts' and table_name = ?", [n, mart])
    return done


def withdraw_from_kept_versions(home: Path, build_db: Path, s: Settings | None = None) -> dict[str, dict[str, int]]:
    """Every kept version but the current one without the detail of recipients whose consent no
    longer holds; returns the rows removed or blanked per version and mart (versions changed only)."""
    from skillpath.privacy.erasure import compact
    from skillpath.publish import duckdb_publish as pub

    home = Path(home).resolve()
    gone = not_consenting(build_db)
    out: dict[str, dict[str, int]] = {}
    if not gone:
        return out
    with pub._publish_lock(home):
        for v in pub.list_versions(home):
            if v.is_current:
                continue  # written by this publication: it already holds only consenting recipients
            con = connect_duckdb(s=s)
            try:
                con.execute("create temp table _gone as select unnest(?::varchar[]) as learner_id", [gone])
                con.execute(f"attach '{v.path}' as w (read_only)")
                targets = _targets(_tables(con))
                hits = sum(con.execute(f"select count(*) from w.marts.{mart} where {where}").fetchone()[0]
                           for mart, where, _ in targets)
                con.execute("detach w")
                if not hits:
                    continue  # a version untouched stays byte for byte as published
                os.chmod(v.path, 0o644)
                con.execute(f"attach '{v.path}' as w")
                out[v.version_id] = _withdraw(con, targets)
                con.execute("checkpoint w")
            finally:
                con.close()
            compact(v.path, pub.DEFAULT_STORAGE_VERSION, s)
            os.chmod(v.path, 0o444)
    return out
