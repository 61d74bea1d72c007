"""PostgreSQL specifics (API §10, §5's schema version, the issue's bad input): the schema
created in an empty database, versions and strangers refused, unreachable servers and wrong
passwords named in one line without the password, a lost server answered with 503 and the
next request served once it is back. Everything else runs on both engines through the
parametrised fixtures in conftest.py."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from conftest import assert_problem, figure
from pgcluster import PASSWORD, Cluster
from realserver import cli, environment
from test_upgrade import schema1_in_postgres

from service import create_app, db, engines
from service.cli import main
from service.config import Settings
from service.store import utc_now

OPENING = [["seed"], ["keys", "create", "--role", "editor", "--name", "x"], ["keys", "list"],
           ["reconcile"], ["export", "figures"]]


def fetch(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.parametrize("args", OPENING)
def test_commands_create_the_schema_in_an_empty_database(postgres: Cluster,
                                                         args: list[str]) -> None:
    url = postgres.create_database()
    result = CliRunner().invoke(main, [*args, "--db", url])
    assert result.exit_code == 0, result.output
    assert fetch(url, "SELECT version FROM schema_version") == [(db.SCHEMA_VERSION,)]
    tables = {row[0] for row in fetch(
        url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables >= {"sources", "figures", "figure_versions", "disputes", "api_keys", "flags",
                      "reconciliation_runs", "reconciliation_lease", "idempotency_keys"}
    client = create_app(Settings(db_path=url, reconcile_seconds=0)).test_client()
    assert client.get("/api/v1/health").get_json()["database"] == "ok"


def test_another_schema_version_is_refused_and_left_alone(postgres: Cluster) -> None:
    url = postgres.create_database()
    assert CliRunner().invoke(main, ["seed", "--db", url]).exit_code == 0
    with psycopg.connect(url) as connection:
        connection.execute("UPDATE schema_version SET version = 99")
    result = CliRunner().invoke(main, ["seed", "--db", url])
    assert result.exit_code == 1
    assert "schema version 99" in result.stderr
    assert f"needs version {db.SCHEMA_VERSION}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert fetch(url, "SELECT version FROM schema_version") == [(99,)]
    assert fetch(url, "SELECT count(*) FROM figures") == [(7,)]


def test_a_database_of_someone_elses_tables_is_refused(postgres: Cluster) -> None:
    url = postgres.create_database()
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TABLE figures (id int PRIMARY KEY, casualties int)")
        connection.execute("INSERT INTO figures VALUES (1, 22)")
    result = CliRunner().invoke(main, ["seed", "--db", url])
    assert result.exit_code == 1
    assert "not a casualty-tracker database" in result.stderr
    assert fetch(url, "SELECT * FROM figures") == [(1, 22)]


def assert_one_line_without_password(text: str, *needles: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    for needle in needles:
        assert needle in lines[0], text
    assert PASSWORD not in text and "wrong-secret" not in text
    assert "Traceback" not in text


def test_an_unreachable_server_is_named_in_one_line(postgres: Cluster) -> None:
    url = postgres.url("ct_tests").replace(f":{postgres.port}/", ":9/")  # nothing listens
    result = CliRunner().invoke(main, ["keys", "list", "--db", url])
    assert result.exit_code == 1
    assert_one_line_without_password(result.stderr, "Cannot connect to PostgreSQL",
                                     "127.0.0.1:9", "***")


def test_a_wrong_password_is_named_without_printing_it(postgres: Cluster) -> None:
    url = postgres.url("postgres", password="wrong-secret")
    result = CliRunner().invoke(main, ["keys", "list", "--db", url])
    assert result.exit_code == 1
    assert_one_line_without_password(result.stderr, "password authentication failed")


@pytest.mark.parametrize("problem", ["unreachable", "password", "version"])
def test_serve_refuses_to_start_in_one_line(postgres: Cluster, problem: str) -> None:
    url = postgres.create_database()
    if problem == "unreachable":
        url = url.replace(f":{postgres.port}/", ":9/")
    elif problem == "password":
        url = url.replace(PASSWORD, "wrong-secret")
    else:
        assert CliRunner().invoke(main, ["keys", "list", "--db", url]).exit_code == 0
        with psycopg.connect(url) as connection:
            connection.execute("UPDATE schema_version SET version = 7")
    finished = subprocess.run([cli(), "serve", "--port", "9", "--db", url],
                              env=environment(url), capture_output=True, text=True,
                              timeout=60)
    assert finished.returncode == 1
    assert finished.stdout == ""
    needle = {"unreachable": "Cannot connect to PostgreSQL", "password": "password",
              "version": "schema version 7"}[problem]
    assert_one_line_without_password(finished.stderr, needle)


@pytest.mark.parametrize("engine", ["postgresql"])  # the pool is PostgreSQL's
def test_a_stopped_export_gives_its_connection_back(client, editor, db_path,  # noqa: ANN001
                                                    engine: str) -> None:
    batch = [figure(count=n) for n in range(3000)]
    assert client.post("/api/v1/figures/batch", json={"figures": batch},
                       headers=editor).status_code == 201
    pool, _ = engines.pool_for(db_path)
    idle = pool.get_stats()["pool_available"]
    response = client.get("/api/v1/exports/figures.csv")
    iterator = iter(response.response)
    assert next(iterator).startswith(b"id,conflict,")
    response.close()
    assert pool.get_stats()["pool_available"] >= idle
    assert client.get("/api/v1/figures?limit=1").status_code == 200


def test_a_lost_server_answers_503_and_the_next_request_works(postgres: Cluster) -> None:
    url = postgres.create_database()
    app = create_app(Settings(db_path=url, reconcile_seconds=0))
    client = app.test_client()
    key = CliRunner().invoke(main, ["keys", "create", "--role", "editor", "--name", "e",
                                    "--db", url]).stdout.strip()
    editor = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/figures", json=figure(), headers=editor).status_code == 201
    postgres.stop_server()
    try:
        started = time.monotonic()
        for path in ("/api/v1/figures", "/api/v1/health"):
            assert_problem(client.get(path), 503)
        lost = client.post("/api/v1/figures", json=figure(count=23), headers=editor)
        assert_problem(lost, 503)
        assert time.monotonic() - started < 30  # never a hang
    finally:
        postgres.start_server()
    page = client.get("/api/v1/figures").get_json()
    assert "items" in page, page
    assert [f["count"] for f in page["items"]] == [22]  # nothing half-written
    assert client.post("/api/v1/figures", json=figure(count=24), headers=editor).status_code \
        == 201


def test_a_schema_1_database_is_upgraded_by_the_same_numbered_steps(
        postgres: Cluster, tmp_path: Path) -> None:
    """The 1.0 release's database (tests/data/schema1.db), rebuilt in PostgreSQL at
    schema 1, is upgraded in place by the migration steps SQLite runs, to exactly the
    rows the upgraded SQLite file holds."""
    sqlite_copy = tmp_path / "schema1.db"
    shutil.copy(Path(__file__).parent / "data" / "schema1.db", sqlite_copy)
    url = schema1_in_postgres(postgres.create_database())
    with closing(sqlite3.connect(sqlite_copy)) as old:
        tables = [name for name, in old.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
    upgraded = {}
    started = utc_now()

    def same_moment(value: object) -> object:  # each upgrade stamps its own "now"
        return "<upgrade time>" if isinstance(value, str) and value >= started \
            and value[:2] == "20" else value

    for target in (sqlite_copy, url):
        connection = db.connect(target)  # upgrades
        try:
            upgraded[str(target)] = {table: sorted(
                (tuple(map(same_moment, row)) for row in connection.execute(
                    f"SELECT * FROM {table}").fetchall()), key=repr)
                for table in tables + ["source_merges"]}
        finally:
            connection.close()
    assert fetch(url, "SELECT version FROM schema_version") == [(db.SCHEMA_VERSION,)]
    assert upgraded[url] == upgraded[str(sqlite_copy)]
    assert upgraded[url]["source_merges"]  # the step really merged sources
