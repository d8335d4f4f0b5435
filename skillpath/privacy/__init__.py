"""Personal data: erasure of one person everywhere, and retention of raw records (docs/privacy.md)."""

#: a file in the home: raw rows were deleted (erasure, retention), so the next dbt build is a
#: --full-refresh (incremental models would keep the rows otherwise); removed after that build
REBUILD_MARKER = ".rebuild_required"
