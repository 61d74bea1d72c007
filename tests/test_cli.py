"""The `casualty-tracker` command (§1): keys, seed, a database made on first use, the schema
version check and CASUALTY_TRACKER_DB."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import figure
from realserver import cli, environment

from service import create_app, db
from service.cli import main
from service.config import Settings
from service.db import SCHEMA_VERSION

TABLES = {"sources", "figures", "figure_versions", "disputes", "api_keys"}


def app_client(db_path: Path):  # noqa: ANN201 - a FlaskClient
    return create_app(Settings(db_path=db_path, reconcile_seconds=0)).test_client()


def counts(db_path: Path | str) -> dict[str, int]:
    """Rows per table, read without the version check (a raw connection on SQLite)."""
    conn = sqlite3.connect(db_path) if isinstance(db_path, Path) else db.connect(db_path)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("sources", "figures", "figure_versions", "disputes")}
    finally:
        conn.close()


def schema_of(db_path: Path) -> tuple[int, set[str]]:
    conn = sqlite3.connect(db_path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    return version, tables


@pytest.mark.parametrize("role", ["reader", "editor", "admin"])
def test_keys_create_prints_only_the_token(runner: CliRunner, tmp_path: Path,
                                           role: str) -> None:
    db_path = tmp_path / "ct.db"
    result = runner.invoke(main, ["keys", "create", "--role", role, "--name", "x",
                                  "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n")
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]
    assert token == token.strip() and " " not in token and len(token) >= 32

    client = app_client(db_path)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/figures", headers=headers).status_code == 200
    write = client.post("/api/v1/figures", json=figure(), headers=headers)
    assert write.status_code == (403 if role == "reader" else 201)


def test_each_token_is_new(runner: CliRunner, db_path: Path) -> None:
    args = ["keys", "create", "--role", "editor", "--name", "x", "--db", str(db_path)]
    first, second = (runner.invoke(main, args).stdout for _ in range(2))
    assert first != second


@pytest.mark.parametrize("args", [
    ["--role", "superuser", "--name", "x"],
    ["--role", "Editor", "--name", "x"],
    ["--name", "x"],
    ["--role", "editor"],
])
def test_keys_create_refuses_bad_arguments(runner: CliRunner, db_path: Path,
                                           args: list[str]) -> None:
    result = runner.invoke(main, ["keys", "create", *args, "--db", str(db_path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--role" in result.output or "--name" in result.output


def test_seed_twice_adds_nothing(runner: CliRunner, db_path: Path) -> None:
    first = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert first.exit_code == 0, first.output
    after_first = counts(db_path)
    # A new figure is its own version 1: no history row is copied until it changes.
    assert after_first == {"sources": 5, "figures": 7, "figure_versions": 0, "disputes": 1}

    second = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert second.exit_code == 0, second.output
    assert counts(db_path) == after_first
    page = app_client(db_path).get("/api/v1/figures?status=all").get_json()
    assert len(page["items"]) == 7


def test_seed_if_empty_leaves_a_used_database_alone(runner: CliRunner, db_path: Path) -> None:
    client = app_client(db_path)
    token = runner.invoke(main, ["keys", "create", "--role", "editor", "--name", "x",
                                 "--db", str(db_path)]).stdout.strip()
    client.post("/api/v1/figures", json=figure(), headers={"Authorization": f"Bearer {token}"})
    result = runner.invoke(main, ["seed", "--if-empty", "--db", str(db_path)])
    assert result.exit_code == 0
    assert counts(db_path)["figures"] == 1


OPENING_COMMANDS = [
    ["seed"],
    ["keys", "create", "--role", "reader", "--name", "n"],
    ["keys", "list"],
    pytest.param(["reconcile"], marks=pytest.mark.skipif(
        "reconcile" not in main.commands, reason="`reconcile` is not implemented yet")),
    pytest.param(["export", "figures"], marks=pytest.mark.skipif(
        "export" not in main.commands, reason="`export` is not implemented yet")),
]


@pytest.mark.parametrize("args", OPENING_COMMANDS)
def test_commands_create_the_database(runner: CliRunner, tmp_path: Path,
                                      args: list[str]) -> None:
    db_path = tmp_path / "new" / "dir" / "ct.db"
    assert not db_path.exists()
    result = runner.invoke(main, [*args, "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    version, tables = schema_of(db_path)
    assert version == SCHEMA_VERSION  # 3 since issue 10 (figures.open_flags)
    assert tables >= TABLES
    # and the app accepts the file as its own
    assert app_client(db_path).get("/api/v1/health").get_json()["database"] == "ok"


def other_version(db_path: Path, *, with_tables: bool) -> None:
    conn = sqlite3.connect(db_path)
    if with_tables:
        conn.execute("CREATE TABLE figures (id INTEGER PRIMARY KEY, casualties INTEGER)")
        conn.execute("INSERT INTO figures VALUES (1, 22)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()


@pytest.mark.sqlite_only("PRAGMA user_version: tests/test_postgres.py has PostgreSQL's")
@pytest.mark.parametrize("args", [["seed"], ["keys", "create", "--role", "editor",
                                             "--name", "x"], ["keys", "list"]])
def test_another_schema_version_is_refused(runner: CliRunner, db_path: Path,
                                           args: list[str]) -> None:
    other_version(db_path, with_tables=True)
    before = db_path.read_bytes()
    result = runner.invoke(main, [*args, "--db", str(db_path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "schema version 99" in result.stderr
    assert f"needs version {SCHEMA_VERSION}" in result.stderr
    assert "Traceback" not in result.output
    assert schema_of(db_path) == (99, {"figures"})
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT * FROM figures").fetchall() == [(1, 22)]
    assert len(db_path.read_bytes()) == len(before)


@pytest.mark.sqlite_only("PRAGMA user_version: tests/test_postgres.py has PostgreSQL's")
def test_a_real_database_of_another_version_is_refused(runner: CliRunner,
                                                      db_path: Path) -> None:
    assert runner.invoke(main, ["seed", "--db", str(db_path)]).exit_code == 0
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    result = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert result.exit_code == 1
    assert "schema version 99" in result.stderr
    assert counts(db_path)["figures"] == 7


@pytest.mark.sqlite_only("a file: tests/test_postgres.py has PostgreSQL's")
def test_an_empty_file_of_another_version_is_refused(runner: CliRunner,
                                                     db_path: Path) -> None:
    other_version(db_path, with_tables=False)
    result = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert result.exit_code == 1
    assert "schema version 99" in result.stderr


@pytest.mark.sqlite_only("a file: tests/test_postgres.py has PostgreSQL's")
def test_not_a_database_is_refused(runner: CliRunner, db_path: Path) -> None:
    db_path.write_text("figures,count\nwar,22\n" * 100)
    result = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert result.exit_code == 1
    assert str(db_path) in result.stderr
    assert "Traceback" not in result.output


def test_environment_variable_names_the_database(tmp_path: Path) -> None:
    db_path = tmp_path / "from-env.db"
    runner = CliRunner(env={"CASUALTY_TRACKER_DB": str(db_path)})
    created = runner.invoke(main, ["keys", "create", "--role", "editor", "--name", "env"])
    assert created.exit_code == 0, created.output
    assert db_path.exists()
    token = created.stdout.strip()
    client = app_client(db_path)
    assert client.post("/api/v1/figures", json=figure(),
                       headers={"Authorization": f"Bearer {token}"}).status_code == 201
    seeded = runner.invoke(main, ["seed"])
    assert seeded.exit_code == 0, seeded.output
    assert counts(db_path)["figures"] == 8
    assert not Path("data/casualty-tracker.db").resolve().is_relative_to(tmp_path)


def test_db_option_wins_over_the_environment(tmp_path: Path) -> None:
    from_env, from_option = tmp_path / "env.db", tmp_path / "option.db"
    runner = CliRunner(env={"CASUALTY_TRACKER_DB": str(from_env)})
    result = runner.invoke(main, ["seed", "--db", str(from_option)])
    assert result.exit_code == 0, result.output
    assert counts(from_option)["figures"] == 7
    assert not from_env.exists()


def test_bad_setting_in_the_environment_is_a_clear_error(tmp_path: Path) -> None:
    runner = CliRunner(env={"CASUALTY_TRACKER_PUBLIC_READ": "maybe"})
    result = runner.invoke(main, ["seed", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert "CASUALTY_TRACKER_PUBLIC_READ" in result.stderr


def test_serve_on_a_busy_port_says_so_in_one_line(db_path: Path | str) -> None:
    # A port already taken (another server, or ./scripts/run started twice): one line
    # naming the address and what to do, before anything claims to be serving.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run([cli(), "serve", "--port", str(port), "--db", str(db_path)],
                                  env=environment(db_path), capture_output=True, text=True,
                                  timeout=60)
    assert finished.returncode == 1
    assert finished.stdout == ""
    lines = finished.stderr.strip().splitlines()
    assert lines == [f"Error: Cannot listen on 127.0.0.1:{port}: Address already in use."
                     " Set PORT (or --port) to a free port, or HOST to an address of this"
                     " machine."], finished.stderr
