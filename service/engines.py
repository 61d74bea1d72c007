"""What differs between the engines: SQLite (the default) and PostgreSQL (API §10).

The store writes each query once, in SQLite's dialect, against the small part of
sqlite-utils it uses: `db.execute(sql, params)` (a cursor: fetchone, fetchall, rowcount,
lastrowid, iteration), `db.query(sql, params)` (dicts), `db.conn.execute` /
`db.conn.executemany`, and BEGIN IMMEDIATE / COMMIT / ROLLBACK for the write transaction.
`PgDatabase` offers the same on a pooled psycopg 3 connection and translates, in this one
place, what PostgreSQL spells differently:

- `?` placeholders become `%s` (and a literal `%` becomes `%%`);
- BEGIN IMMEDIATE becomes BEGIN ISOLATION LEVEL READ COMMITTED (whatever the server's
  default) plus `pg_advisory_xact_lock(WRITE_LOCK)`: writers are
  serialised exactly as SQLite serialises them, so the store's read-then-write logic stays
  correct at READ COMMITTED, where PostgreSQL raises no serialization failure, and since
  every writer takes this one lock first, writers cannot deadlock each other;
- a plain BEGIN (a read snapshot) becomes a REPEATABLE READ, READ ONLY transaction: one
  snapshot for several reads, as SQLite's deferred read transaction gives;
- `lastrowid` comes from `RETURNING id`;
- the schema: schema.sql's DDL translated (identity keys, BIGINT, DOUBLE PRECISION, byte
  order "C" collation so text sorts as in SQLite, no WITHOUT ROWID) and the schema version
  in a `schema_version` table instead of `PRAGMA user_version`.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.errors
import psycopg_pool
from psycopg.rows import dict_row

WRITE_LOCK = 0x4354_5752  # "CTWR": the advisory lock every PostgreSQL write transaction takes
SCHEMA_LOCK = 0x4354_5343  # "CTSC": creating or upgrading the schema
POOL_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5

# Errors that mean "the database cannot be used right now" (not "your request is wrong").
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError,
                                                   psycopg_pool.PoolTimeout)
# Errors after which the engine asks for the transaction to be run again (it rolled it
# back): serialization failures (40001) and deadlocks (40P01). service/retry.py acts on them.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (psycopg.errors.SerializationFailure,
                                                 psycopg.errors.DeadlockDetected)
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error,
                                                psycopg_pool.PoolTimeout)


def is_url(target: object) -> bool:
    """True for a `postgresql://` (or `postgres://`) URL, False for a SQLite path."""
    return str(target).startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL with its password replaced by ***, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


def describe(target: object) -> str:
    """How to name a database in messages and logs: a path, or a URL without password."""
    return redact(str(target)) if is_url(target) else str(target)


def one_line(error: BaseException, url: str | None = None) -> str:
    """A driver error as one line, with the password (if any) removed."""
    text = " ".join(str(error).split())
    if url:
        password = urlsplit(url).password
        if password:
            text = text.replace(password, "***")
    return text


# --- SQL translation ---------------------------------------------------------------------

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"])*\"|\?|%")
_INDEXED_BY = re.compile(r"\s+(?:INDEXED\s+BY\s+\w+|NOT\s+INDEXED)\b", re.IGNORECASE)  # hints
_TEMP = re.compile(r"\btemp\.(?=\w)", re.IGNORECASE)  # temp tables are found unqualified
_OR_IGNORE = re.compile(r"^(\s*INSERT)\s+OR\s+IGNORE\b(.*?);?\s*$", re.IGNORECASE | re.DOTALL)
_NOCASE = re.compile(r"\bCOLLATE NOCASE\b", re.IGNORECASE)
_DDL = re.compile(r"^\s*(CREATE|ALTER|DROP)\s", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
# tables whose `id` is an identity column, so an INSERT can return it as lastrowid
ID_TABLES = frozenset({"sources", "figures", "disputes", "api_keys", "reconciliation_runs",
                       "flags"})


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, bool]:
    """(PostgreSQL text of a SQLite-dialect statement, whether it returns the new id)."""

    def token(match: re.Match[str]) -> str:
        # psycopg reads % everywhere (literals too); a ? inside a literal is not a parameter
        text = match.group(0)
        return {"?": "%s", "%": "%%"}.get(text) or text.replace("%", "%%")

    sql = _NOCASE.sub('COLLATE "nocase"', _TEMP.sub("", _INDEXED_BY.sub("", sql)))
    ignore = _OR_IGNORE.match(sql)
    if ignore:  # SQLite's INSERT OR IGNORE: PostgreSQL's ON CONFLICT DO NOTHING
        sql = ignore.group(1) + ignore.group(2) + " ON CONFLICT DO NOTHING"
    text = _TOKENS.sub(token, sql)
    insert = _INSERT.match(sql)
    returning = bool(insert and insert.group(1).lower() in ID_TABLES
                     and "returning" not in sql.lower())
    if returning:
        text = text.rstrip().rstrip(";") + " RETURNING id"
    return text, returning


COPY_MIN_ROWS = 50
ANALYZE_MIN_ROWS = 1000
_PLAIN_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)\s*\(([^()]*)\)\s*VALUES\s*\(([^()]*)\)\s*$",
                           re.IGNORECASE | re.DOTALL)
_LITERAL = re.compile(r"^(?:'((?:[^']|'')*)'|(-?\d+)|(NULL))$", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def copy_plan(sql: str) -> tuple[str, tuple] | None:
    """For `INSERT INTO t (cols) VALUES (...)` whose values are `?` or plain literals: the
    COPY statement (the `?` columns first, in parameter order, then the literal ones) and
    the literals' values, so a COPY row is a parameter row followed by them; None for
    anything else."""
    match = _PLAIN_INSERT.match(sql)
    if match is None:
        return None
    table, columns, values = match.groups()
    items = [item.strip() for item in values.split(",")]
    names = [column.strip() for column in columns.split(",")]
    if len(items) != len(names) or any("'" in item and item.count("'") % 2 for item in items):
        return None
    parameters: list[str] = []
    constants: list[tuple[str, Any]] = []
    for name, item in zip(names, items, strict=True):
        if item == "?":
            parameters.append(name)
            continue
        literal = _LITERAL.match(item)
        if literal is None:
            return None
        text, number, _null = literal.groups()
        constants.append((name, text.replace("''", "'") if text is not None
                          else int(number) if number is not None else None))
    order = ", ".join([*parameters, *(name for name, _ in constants)])
    return f"COPY {table} ({order}) FROM STDIN", tuple(value for _, value in constants)


_DDL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bTEXT COLLATE NOCASE\b"), 'TEXT COLLATE "nocase"'),
    (re.compile(r"\bTEXT\b(?! COLLATE)"), 'TEXT COLLATE "C"'),
    (re.compile(r"\)\s*WITHOUT ROWID"), ")"),
)
_USER_VERSION = re.compile(r"^\s*PRAGMA\s+user_version\s*=\s*(\d+)\s*;?\s*$", re.IGNORECASE)

POSTGRES_PREAMBLE = (
    "CREATE TABLE schema_version (version BIGINT NOT NULL)",
    "INSERT INTO schema_version VALUES (0)",
    # ASCII case-insensitive comparison, for columns SQLite declares COLLATE NOCASE
    "CREATE COLLATION IF NOT EXISTS nocase"
    " (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
)


_TRIGGER = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(.*?)\s+ON\s+(\w+)"
    r"(?:\s+FOR\s+EACH\s+ROW)?(?:\s+WHEN\s+(.*?))?\s+BEGIN\s+(.*?)\s*END\s*;?\s*$",
    re.IGNORECASE | re.DOTALL)


def _postgres_trigger(match: re.Match[str]) -> str:
    """A SQLite row trigger as a PL/pgSQL function and a PostgreSQL trigger calling it."""
    name, event, table, when, body = match.groups()
    condition = f" WHEN ({when})" if when else ""
    return (f"CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN\n"
            f"{body.strip()}\nRETURN NULL; END $fn$;\n"
            f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW{condition}"
            f" EXECUTE FUNCTION {name}_fn()")


def postgres_ddl(statement: str) -> str:
    """One schema.sql (or migration) statement in PostgreSQL's dialect.

    `PRAGMA user_version = N` becomes an update of the schema_version table's one row; a
    SQLite trigger (`CREATE TRIGGER ... BEGIN ...; END`) a PL/pgSQL function and trigger.
    """
    version = _USER_VERSION.match(statement)
    if version:
        return f"UPDATE schema_version SET version = {int(version[1])}"
    trigger = _TRIGGER.match(statement)
    if trigger:
        return _postgres_trigger(trigger)
    for pattern, replacement in _DDL_RULES:
        statement = pattern.sub(replacement, statement)
    return statement


# --- PostgreSQL connections ----------------------------------------------------------------

class PgCursor:
    """The part of sqlite3.Cursor the store uses, over a psycopg cursor's results."""

    def __init__(self, cursor: psycopg.Cursor[Any], returning: bool) -> None:
        self._cursor = cursor
        self.lastrowid: int | None = None
        if returning:
            row = cursor.fetchone()
            self.lastrowid = row[0] if row else None
        self.rowcount = cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchmany(self, size: int) -> list[Any]:
        return self._cursor.fetchmany(size) if self._cursor.description else []

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgDatabase:
    """A PostgreSQL connection borrowed from the URL's pool, shaped like the part of
    sqlite_utils.Database the store uses; `close()` gives it back to the pool.

    `conn` is the object itself, so `db.conn.execute(...)` and `db.conn.executemany(...)`
    work as they do on SQLite.
    """

    engine = "postgresql"

    def __init__(self, url: str, pool: psycopg_pool.ConnectionPool,
                 connection: psycopg.Connection[Any]) -> None:
        self.url = url
        self._pool = pool
        self._connection: psycopg.Connection[Any] | None = connection
        self._trace: Callable[[str], None] | None = None
        self.conn = self

    def set_trace_callback(self, trace: Callable[[str], None] | None) -> None:
        """Call `trace(sql)` before each statement, as sqlite3.Connection offers."""
        self._trace = trace

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The psycopg connection itself (for COPY, in the copy command and the bench)."""
        if self._connection is None:
            raise RuntimeError("this database connection is closed")
        return self._connection

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        """Run one statement written in SQLite's dialect; see the module docstring."""
        if self._trace is not None:
            self._trace(sql)
        keyword = sql.strip().upper()
        connection = self.connection
        if keyword == "BEGIN IMMEDIATE":
            # one round trip: other writers wait for every one taken under the lock.
            # READ COMMITTED whatever the server's default_transaction_isolation: at
            # REPEATABLE READ or SERIALIZABLE the snapshot would be taken by the lock's own
            # SELECT, before the wait, and every writer that waited would read stale rows
            # and fail with a serialization failure (tests/test_postgres_retry.py)
            connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED;"
                               f" SELECT pg_advisory_xact_lock({WRITE_LOCK:d})")
            return PgCursor(connection.cursor(), False)
        if keyword in ("BEGIN", "BEGIN DEFERRED"):
            connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return PgCursor(connection.cursor(), False)
        cursor = connection.cursor()
        if _USER_VERSION.match(sql) or _DDL.match(sql):  # schema changes (migration steps)
            cursor.execute(postgres_ddl(sql).encode())
            return PgCursor(cursor, False)
        text, returning = translate(sql)
        cursor.execute(text, list(params or ()))  # type: ignore[arg-type]
        return PgCursor(cursor, returning)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Many rows: a plain INSERT ... VALUES of many rows goes in by COPY (PostgreSQL's
        bulk path, several times faster than one INSERT per row; the same constraints are
        checked), anything else by executemany."""
        if self._trace is not None:
            self._trace(sql)
        rows = list(rows)
        if not rows:
            return
        plan = copy_plan(sql) if len(rows) >= COPY_MIN_ROWS else None
        with self.connection.cursor() as cursor:
            if plan is None:
                cursor.executemany(translate(sql)[0], rows)  # type: ignore[arg-type]
                return
            statement, constants = plan
            with cursor.copy(statement) as copy:  # type: ignore[arg-type]
                for row in rows:
                    copy.write_row((*row, *constants) if constants else row)
            self._keep_statistics(cursor, statement.split()[1], len(rows))

    def _keep_statistics(self, cursor: psycopg.Cursor[Any], table: str, added: int) -> None:
        """ANALYZE a table that just grew by over a tenth: autovacuum gets there only
        later, and until it does the planner, thinking the table small, reads a keyset
        page (`WHERE id > ? ORDER BY id LIMIT n`) by sorting the whole rest of the table."""
        if added < ANALYZE_MIN_ROWS:
            return
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        row = cursor.fetchone()
        if row is None or added > 0.1 * max(row[0], 0):
            cursor.execute(f"ANALYZE {table}")

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict]:
        """Rows as dicts, like sqlite_utils.Database.query."""
        if self._trace is not None:
            self._trace(sql)
        text, _ = translate(sql)
        with self.connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(text, list(params or ()))  # type: ignore[arg-type]
            return iter(cursor.fetchall())

    def commit(self) -> None:
        """As sqlite3.Connection.commit: end an open transaction, if any."""
        if self.connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.connection.execute("COMMIT")

    def rollback(self) -> None:
        """As sqlite3.Connection.rollback: undo an open transaction, if any."""
        if self.connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.connection.execute("ROLLBACK")

    def reset_identity(self, table: str) -> None:
        """After rows were inserted with their ids: the next generated id follows them."""
        self.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                     f" coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}")

    def close(self) -> None:
        """Give the connection back (rolled back if a transaction was left open)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                connection.rollback()
        except psycopg.Error:
            pass  # a broken connection: the pool discards it
        self._pool.putconn(connection)


_pools: dict[str, psycopg_pool.ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool_for(url: str, max_size: int = 16) -> tuple[psycopg_pool.ConnectionPool, bool]:
    """This process's pool for `url` (created on first use), and whether it is new."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is not None:
            return pool, False
        pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=max_size, open=True, timeout=POOL_TIMEOUT_SECONDS,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            name="casualty-tracker")
        _pools[url] = pool
        return pool, True


def borrow(url: str) -> PgDatabase:
    """A connection from the URL's pool; PoolTimeout when the server cannot be reached."""
    pool, _ = pool_for(url)
    try:
        return PgDatabase(url, pool, pool.getconn())
    except psycopg_pool.PoolTimeout:
        # The server is gone, or the pool's reconnection attempts are backing off: start
        # afresh, so the first request after the server is back connects at once.
        with _pools_lock:
            if _pools.get(url) is pool:
                del _pools[url]
        threading.Thread(target=pool.close, daemon=True).start()
        raise


def direct(url: str) -> PgDatabase:
    """A connection of its own (not pooled), for start-up checks and one-off commands."""
    connection = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    return PgDatabase(url, _OwnPool(), connection)


class _OwnPool:
    """Stands in for a pool for a direct connection: putconn closes it."""

    def putconn(self, connection: psycopg.Connection[Any]) -> None:
        connection.close()


def close_pool(url: str) -> None:
    """Close and forget this process's pool for `url`, if it has one (before the database
    behind it is dropped: an open pool would keep its connections for ever)."""
    with _pools_lock:
        pool = _pools.pop(url, None)
    if pool is not None:
        pool.close(timeout=1.0)


def close_pools() -> None:
    """Close every pool of this process (tests, and a clean shutdown)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close(timeout=1.0)
