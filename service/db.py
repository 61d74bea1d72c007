"""Opening the database: schema from schema.sql, WAL, foreign keys, and the write transaction.

Every write goes through `write_transaction`, which starts with BEGIN IMMEDIATE: a deferred
transaction that later upgrades to a write gets SQLITE_BUSY at once, whatever the busy
timeout, and that is how "database is locked" escapes to users under concurrent load.

A `postgresql://` URL opens PostgreSQL instead (API §10): service/engines.py translates what
differs, so the store and this module speak one dialect.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils
from flask import current_app, g

from . import engines, migrations

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 4
"""The schema this code works with: schema.sql's user_version and the last migration's."""
BUSY_TIMEOUT_MS = 30_000


class SchemaVersionError(RuntimeError):
    """The database was made by another version of the service (or is not ours)."""


class DatabaseUnavailable(RuntimeError):
    """The database server cannot be reached or refuses us (bad URL, wrong password)."""


Database = sqlite_utils.Database | engines.PgDatabase


def connect(path: Path | str) -> Database:
    """Open (creating from schema.sql if new) the database at `path`, ready for use.

    `path` is a SQLite file path or a `postgresql://` URL. PostgreSQL's schema is created
    or checked once per process and URL, then connections come from the URL's pool.
    Raises SchemaVersionError for a database of another version, DatabaseUnavailable for a
    PostgreSQL server that cannot be reached or refuses the credentials.
    """
    if engines.is_url(path):
        return _connect_postgres(str(path))
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


_prepared: set[str] = set()
_prepared_lock = threading.Lock()


def _connect_postgres(url: str) -> engines.PgDatabase:
    """A pooled connection, its schema version checked: the one query doubles as the
    pool's liveness check, so a connection the server dropped (a restart) is replaced."""
    with _prepared_lock:
        if url not in _prepared:
            prepare_postgres(url)
            _prepared.add(url)
    for _attempt in range(3):
        try:
            database = engines.borrow(url)
        except engines.UNAVAILABLE_ERRORS as error:
            raise DatabaseUnavailable(
                f"Cannot connect to PostgreSQL at {engines.redact(url)}: "
                f"{engines.one_line(error, url) or type(error).__name__}") from None
        try:
            version = _postgres_version(database)
        except engines.psycopg.OperationalError:
            database.close()  # broken: the pool discards it; try a fresh one
            continue
        except BaseException:
            database.close()
            raise
        if version != SCHEMA_VERSION:
            database.close()
            raise SchemaVersionError(_version_message(engines.redact(url), version))
        return database
    raise DatabaseUnavailable(f"Cannot connect to PostgreSQL at {engines.redact(url)}: "
                              "the server keeps closing connections")


def _postgres_version(database: engines.PgDatabase) -> int:
    row = database.execute("SELECT max(version) FROM schema_version").fetchone()
    return row[0] if row and row[0] is not None else 0


def _version_message(where: str, version: int) -> str:
    """Why a PostgreSQL database is refused; a newer one is named as SQLite's file is."""
    if version > SCHEMA_VERSION:
        return (f"{where} has schema version {version}, newer than this casualty-tracker, "
                f"which needs version {SCHEMA_VERSION}: it was made by a later release. "
                "Upgrade casualty-tracker to open it; the database was left unchanged.")
    return (f"{where} has schema version {version}, but this casualty-tracker needs version "
            f"{SCHEMA_VERSION}. Point CASUALTY_TRACKER_DB at a casualty-tracker database "
            "made by this version, or at an empty database to start afresh.")


def prepare_postgres(url: str) -> None:
    """Create the schema in an empty PostgreSQL database, or check an existing one's version.

    Racing processes create it once: the check and the creation run under an advisory lock.
    """
    try:
        database = engines.direct(url)
    except engines.psycopg.Error as error:
        raise DatabaseUnavailable(
            f"Cannot connect to PostgreSQL at {engines.redact(url)}: "
            f"{engines.one_line(error, url)}") from None
    try:
        with write_transaction(database):
            database.execute("SELECT pg_advisory_xact_lock(?)", (engines.SCHEMA_LOCK,))
            tables = database.execute(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = current_schema()").fetchone()[0]
            if tables == 0:
                raw = database.connection
                for statement in engines.POSTGRES_PREAMBLE:
                    raw.execute(statement)
                for statement in _statements(SCHEMA_PATH.read_text(encoding="utf-8")):
                    raw.execute(engines.postgres_ddl(statement).encode())
            elif _has_version_table(database):
                version = _postgres_version(database)
                if 1 <= version < SCHEMA_VERSION:  # the same numbered steps as SQLite's
                    migrations.upgrade(database, version)
        _check_postgres_version(database, url)
    finally:
        database.close()


def _has_version_table(database: engines.PgDatabase) -> bool:
    return bool(database.execute(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = 'schema_version'",
    ).fetchone()[0])


def _check_postgres_version(database: engines.PgDatabase, url: str) -> None:
    where = engines.redact(url)
    if not _has_version_table(database):
        raise SchemaVersionError(
            f"{where} holds tables but no casualty-tracker schema version: it is not a "
            "casualty-tracker database. Point CASUALTY_TRACKER_DB at an empty database or "
            "one made by casualty-tracker.")
    version = _postgres_version(database)
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(_version_message(where, version))


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
