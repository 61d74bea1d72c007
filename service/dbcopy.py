"""`casualty-tracker copy --from PATH --to URL`: move a whole database to another engine.

Part of the storage layer (it speaks SQL, like store.py and db.py). Every table is copied
row by row, unchanged (ids, versions, timestamps, token hashes), inside one write
transaction on the target, so a copy that fails half-way leaves the target as it was. The
target must be empty (a new SQLite file or an empty PostgreSQL database; its schema is
created first) and both must have this code's schema version.
"""

from __future__ import annotations

from pathlib import Path

from . import db, engines

# parents before children, so foreign keys hold at every row
TABLES = ("sources", "source_merges", "figures", "figure_versions", "disputes", "api_keys",
          "dirty_series", "dirty_figures", "reconciliation_runs", "reconciliation_lease",
          "flags", "flag_figures", "idempotency_keys")
BATCH_ROWS = 2000


class CopyError(RuntimeError):
    """The copy cannot be made (the target already holds data)."""


def copy_database(source: Path | str, target: Path | str) -> dict[str, int]:
    """Copy every row of every table from `source` to `target` (paths or postgresql://
    URLs); returns rows copied per table. Raises CopyError when the target holds data,
    db.SchemaVersionError / db.DatabaseUnavailable as db.connect does."""
    src = db.connect(source)
    try:
        dst = db.connect(target)
        try:
            return _copy(src, dst, engines.describe(target))
        finally:
            dst.close()
    finally:
        src.close()


def _copy(src: db.Database, dst: db.Database, target_name: str) -> dict[str, int]:
    copied: dict[str, int] = {}
    with db.write_transaction(dst):
        for table in TABLES:
            if table != "reconciliation_lease" and dst.execute(
                    f"SELECT count(*) FROM {table}").fetchone()[0]:
                raise CopyError(f"{target_name} already holds data (table {table}); copy "
                                "into a new file or an empty database.")
        dst.execute("DELETE FROM reconciliation_lease")  # the new schema's row: replaced
        for table in TABLES:
            cursor = src.execute(f"SELECT * FROM {table}")
            columns = ", ".join(f'"{d[0]}"' for d in cursor.description)
            marks = ", ".join("?" for _ in cursor.description)
            insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            copied[table] = 0
            while batch := cursor.fetchmany(BATCH_ROWS):
                dst.conn.executemany(insert, batch)
                copied[table] += len(batch)
            if isinstance(dst, engines.PgDatabase) and table in engines.ID_TABLES:
                dst.reset_identity(table)
    return copied
