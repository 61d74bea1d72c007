"""`casualty-tracker copy --from PATH --to URL`: move a whole database to another engine.

Part of the storage layer (it speaks SQL, like store.py and db.py). Every table is copied
row by row, unchanged (ids, versions, timestamps, token hashes), inside one write
transaction on the target, so a copy that fails half-way leaves the target as it was, and
from one read snapshot of the source. Rows are read and written a batch at a time
(BATCH_ROWS), so a table of any size is copied in bounded memory in either direction. The
target must be empty (a new SQLite file or an empty PostgreSQL database; its schema is
created first) and both must have this code's schema version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import db, engines

# parents before children, so foreign keys hold at every row
TABLES = ("sources", "source_merges", "figures", "figure_versions", "disputes", "api_keys",
          "dirty_series", "dirty_figures", "reconciliation_runs", "reconciliation_lease",
          "flags", "flag_figures", "idempotency_keys", "web_secret")
REPLACED = ("reconciliation_lease", "web_secret")
"""Tables a new database may already have a row in (the lease's row; the pages' signing
key, made when a server first starts): the target's rows go and the source's are copied,
so the lease and signed-in page sessions carry over."""
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
    with _snapshot(src), db.write_transaction(dst):
        for table in TABLES:
            if table not in REPLACED and dst.execute(
                    f"SELECT count(*) FROM {table}").fetchone()[0]:
                raise CopyError(f"{target_name} already holds data (table {table}); copy "
                                "into a new file or an empty database.")
        for table in REPLACED:
            dst.execute(f"DELETE FROM {table}")
        for table in TABLES:
            copied[table] = 0
            with _reading(src, table) as (columns, fetch):
                names = ", ".join(f'"{column}"' for column in columns)
                marks = ", ".join("?" for _ in columns)
                insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"
                while batch := fetch(BATCH_ROWS):
                    dst.conn.executemany(insert, batch)
                    copied[table] += len(batch)
            if isinstance(dst, engines.PgDatabase) and table in engines.ID_TABLES:
                dst.reset_identity(table)
    return copied


@contextmanager
def _snapshot(src: db.Database) -> Iterator[None]:
    """One read transaction on the source for the whole copy: every table is read from the
    same snapshot (a copy of a database still being written stays consistent), and
    PostgreSQL's server-side cursors need a transaction to live in."""
    src.execute("BEGIN")  # PostgreSQL: REPEATABLE READ, READ ONLY (engines.py)
    try:
        yield
    finally:
        src.conn.rollback()  # it only read


Fetch = Callable[[int], Sequence[Sequence[Any]]]


@contextmanager
def _reading(src: db.Database, table: str) -> Iterator[tuple[list[str], Fetch]]:
    """(column names, fetchmany) over every row of `table`, read a batch at a time so a
    table of any size is copied in bounded memory: SQLite's cursor steps through the file
    as rows are fetched; on PostgreSQL a plain cursor would receive the whole result at
    once, so a server-side (named) cursor hands the rows over a batch at a time."""
    sql = f"SELECT * FROM {table}"
    if isinstance(src, engines.PgDatabase):
        with src.connection.cursor(name=f"copy_{table}") as cursor:
            cursor.itersize = BATCH_ROWS
            cursor.execute(sql)
            yield [column.name for column in cursor.description or ()], cursor.fetchmany
        return
    cursor = src.execute(sql)
    try:
        yield [column[0] for column in cursor.description], cursor.fetchmany
    finally:
        cursor.close()
