"""Opening the database: schema from schema.sql, WAL, foreign keys, and the write transaction.

Every write goes through `write_transaction`, which starts with BEGIN IMMEDIATE: a deferred
transaction that later upgrades to a write gets SQLITE_BUSY at once, whatever the busy
timeout, and that is how "database is locked" escapes to users under concurrent load.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils
from flask import current_app, g

from . import migrations

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 3
"""The schema this code works with: schema.sql's user_version and the last migration's."""
BUSY_TIMEOUT_MS = 30_000


class SchemaVersionError(RuntimeError):
    """The database was made by another version of the service (or is not ours)."""


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating from schema.sql if new) the database at `path`, ready for use."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = sqlite_utils.Database(conn, execute_plugins=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        _create_schema_if_empty(db)
        db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        _check_version(db, path)
        _upgrade_if_older(db, path)
    except BaseException:
        conn.close()
        raise
    return db


def _create_schema_if_empty(db: sqlite_utils.Database) -> None:
    """Apply schema.sql to an empty, unversioned database; racing processes create it once.

    A file that has no tables but carries another user_version is left alone, so the
    version check refuses it instead of this function silently re-stamping it. An existing
    database is recognised with plain reads: every request opens a connection, and taking
    the write lock here would make every read wait for any write in progress.
    """
    if not _is_blank(db):  # the usual case, answered without taking the write lock
        return
    with write_transaction(db):
        if _is_blank(db):
            for statement in _statements(SCHEMA_PATH.read_text(encoding="utf-8")):
                db.conn.execute(statement)


def _is_blank(db: sqlite_utils.Database) -> bool:
    """No tables and no schema version: a new file (or an empty one) to create."""
    return (db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            and db.execute("PRAGMA user_version").fetchone()[0] == 0)


def _statements(script: str) -> Iterator[str]:
    """Split schema.sql into statements (no semicolons inside literals; a trigger's body
    ends with its END;, which sqlite3.complete_statement recognises)."""
    buffer: list[str] = []
    for line in script.splitlines():
        if line.lstrip().startswith("--"):
            continue
        buffer.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(buffer).strip()
            if sqlite3.complete_statement(statement):
                buffer = []
                yield statement
    if "".join(buffer).strip():
        raise ValueError("schema.sql ends with an unterminated statement")


def _check_version(db: sqlite_utils.Database, path: Path) -> None:
    """Refuse, untouched, a database newer than the code or not made by casualty-tracker.

    An older casualty-tracker database (version 1 up to SCHEMA_VERSION - 1) passes: it is
    upgraded next.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {version}, newer than this casualty-tracker, which "
            f"needs version {SCHEMA_VERSION}: it was made by a later release. Upgrade "
            "casualty-tracker to open it; the file was left unchanged."
        )
    if version < 1:
        raise SchemaVersionError(
            f"{path} has schema version {version}, but this casualty-tracker needs version "
            f"{SCHEMA_VERSION}. Point CASUALTY_TRACKER_DB at a casualty-tracker database "
            "made by this version, or at a new file to start afresh."
        )


def _upgrade_if_older(db: sqlite_utils.Database, path: Path) -> None:
    """Bring a database made by an earlier release up to SCHEMA_VERSION, in place.

    Every migration step runs inside one BEGIN IMMEDIATE transaction: the upgrade happens
    whole or not at all, and a second process starting at the same moment waits, then
    finds the work done. Checked with a plain read first, so an up-to-date database (every
    request) never takes the write lock here.
    """
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    with write_transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            migrations.upgrade(db.conn, version)
    _check_version(db, path)


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception: all or nothing."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def get_db() -> sqlite_utils.Database:
    """The request's connection, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = connect(current_app.config["SETTINGS"].db_path)
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()
