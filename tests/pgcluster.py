"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl on a private port and socket
directory under a temporary directory, removed afterwards.

The Debian/Ubuntu server packages (`apt-get install postgresql`) are used; the server
refuses to run as root, so when the tests run as root the cluster belongs to the `postgres`
user and its commands run through `runuser`. Durability is switched off (fsync,
synchronous_commit, full_page_writes): the cluster lives for one test session.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from service.db import SCHEMA_PATH, _statements

USER = "ct"
PASSWORD = "ct-test-secret"


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: $CASUALTY_TRACKER_PG_BIN, PATH, or the newest Debian
    /usr/lib/postgresql/N/bin."""
    if os.environ.get("CASUALTY_TRACKER_PG_BIN"):
        return Path(os.environ["CASUALTY_TRACKER_PG_BIN"])
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name))
    return Path(versions[-1]).parent if versions else None


def unavailable_reason() -> str | None:
    """Why no cluster can be started here, or None when one can be tried."""
    binaries = bin_dir()
    if binaries is None or not (binaries / "pg_ctl").exists():
        return "no PostgreSQL server binaries (initdb, pg_ctl) found"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server"
        if not shutil.which("runuser"):
            return "running as root and runuser is missing"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One running cluster; `url(name)` for a database in it."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # fsync and friends on (for benchmarks); off for tests
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="ct-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._databases = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True,
                       cwd=self.root)

    def start(self) -> Cluster:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER,
                  f"--pwfile={password_file}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the (initialised) server; also after stop_server."""
        fast = ("" if self.durable else
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.root / "log"), "-o",
                    f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1{fast}"
                    " -c max_connections=300 -c shared_buffers=128MB")

    def stop_server(self) -> None:
        """Stop the server (as an outage would), keeping its data."""
        self.pg_ctl("stop", "-m", "fast", "-w")

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on this cluster (start, stop, restart...)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), *args)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        if name is None:
            self._databases += 1
            name = f"ct_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.root, ignore_errors=True)


def reset(url: str) -> None:
    """Empty every table of a casualty-tracker database (ids start again at 1), as a new
    database would be, keeping the schema: much faster than a new database per test, and
    DELETE is much faster than TRUNCATE on tables this small."""
    with psycopg.connect(url, autocommit=True) as connection:
        script = _reset_scripts.get(url) or _reset_script(connection)
        if script is None:
            return
        _reset_scripts[url] = script
        connection.execute("SET lock_timeout = '5s'")
        try:
            connection.execute(script)
        except psycopg.errors.LockNotAvailable:
            # a connection left behind by an earlier test (a run thread, a killed server's
            # session) holds a lock: end it, then empty the tables
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid != pg_backend_pid()")
            connection.execute(script)


_reset_scripts: dict[str, str] = {}


def _reset_script(connection: psycopg.Connection) -> str | None:
    tables = [row[0] for row in connection.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tablename != 'schema_version'")]
    if not tables:
        return None  # no schema yet: the first connect creates it
    sequences = [row[0] for row in connection.execute(
        "SELECT pg_get_serial_sequence(table_name, column_name) FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'")]
    rows = [statement for statement in _statements(SCHEMA_PATH.read_text(encoding="utf-8"))
            if statement.lstrip().upper().startswith("INSERT")]  # rows a new schema holds
    return ";\n".join([
        "BEGIN", "SET LOCAL session_replication_role = replica",  # no FK checks while emptying
        *(f"DELETE FROM {table}" for table in tables),
        *(f"SELECT setval('{sequence}', 1, false)" for sequence in sequences),
        *(row.rstrip(";") for row in rows), "COMMIT"])
