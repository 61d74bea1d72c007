"""Shared fixtures: a real database per test, the real app, real tokens.

Every test that touches the database runs twice, on SQLite and on PostgreSQL: the `engine`
fixture is parametrised and `db_path` (a SQLite file, or a `postgresql://` URL of a database
emptied for the test) follows it, so a test needs nothing of its own to run on both. The
PostgreSQL cluster is a throwaway one started once per session (tests/pgcluster.py).
Where no PostgreSQL server can be started, one line says so and SQLite runs alone; in CI
(CI=true) that is an error instead. CASUALTY_TRACKER_TEST_ENGINES=sqlite (or postgresql)
runs one engine only. A test that checks something only one engine has (SQLite files, WAL)
is marked `sqlite_only`. Module-scoped set-ups (a real server shared by a module's tests)
use `module_engine` and `module_db_path` the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pgcluster
import pytest
import sqlite_utils
from browser import find_chromium, launch
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright

from service import auth, create_app, db, engines
from service.config import Settings

ENGINES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): checks what only SQLite has")
    wanted = {e.strip() for e in os.environ.get("CASUALTY_TRACKER_TEST_ENGINES",
                                                ",".join(ENGINES)).split(",") if e.strip()}
    reason = None if "postgresql" in wanted else "CASUALTY_TRACKER_TEST_ENGINES leaves it out"
    if reason is None and (reason := pgcluster.unavailable_reason()) is not None \
            and os.environ.get("CI", "").lower() == "true":
        raise pytest.UsageError(f"CI needs PostgreSQL for the tests, but: {reason}")
    config.stash[_NO_POSTGRES] = reason
    config.stash[_NO_SQLITE] = "sqlite" not in wanted


_NO_POSTGRES = pytest.StashKey[str | None]()
_NO_SQLITE = pytest.StashKey[bool]()


def pytest_report_header(config: pytest.Config) -> str:
    reason = config.stash[_NO_POSTGRES]
    if reason is None:
        return "database engines: SQLite and PostgreSQL (a throwaway cluster)"
    return f"PostgreSQL tests skipped ({reason}): running on SQLite alone"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the PostgreSQL variant where no server can run or a test is sqlite_only."""
    no_postgres, no_sqlite = config.stash[_NO_POSTGRES], config.stash[_NO_SQLITE]
    keep, drop = [], []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        engine = params.get("engine") or params.get("module_engine")
        unwanted = (engine == "sqlite" and no_sqlite) or (engine == "postgresql" and (
            no_postgres or item.get_closest_marker("sqlite_only")))
        if unwanted:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster]:
    """One throwaway PostgreSQL cluster for the session, removed afterwards."""
    cluster = pgcluster.Cluster()
    try:
        cluster.start()
    except Exception as error:
        cluster.stop()
        pytest.fail(f"could not start a PostgreSQL cluster: {error}", pytrace=False)
    yield cluster
    engines.close_pools()
    cluster.stop()


@pytest.fixture(scope="session")
def pg_shared_url(pg_cluster: pgcluster.Cluster) -> str:
    return pg_cluster.create_database("ct_tests")


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> pgcluster.Cluster:
    """The session's cluster, for PostgreSQL-only tests (skipped where it cannot run)."""
    reason = request.config.stash[_NO_POSTGRES]
    if reason is not None:
        pytest.skip(f"PostgreSQL: {reason}")
    return request.getfixturevalue("pg_cluster")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_path(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """The test's database: a new SQLite file, or a PostgreSQL database emptied for it."""
    if engine == "sqlite":
        return tmp_path / "casualty-tracker.db"
    url = request.getfixturevalue("pg_shared_url")
    pgcluster.reset(url)
    return url


@pytest.fixture(scope="module", params=ENGINES)
def module_engine(request: pytest.FixtureRequest) -> str:
    """`engine` for a module's shared fixtures (a real server, a seeded site): a module
    runs once per engine, its tests grouped by engine, each engine's set-up made once."""
    return request.param


@pytest.fixture(scope="module")
def module_db_path(module_engine: str, tmp_path_factory: pytest.TempPathFactory,
                   request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """A database for the module on `module_engine`: a new SQLite file, or a new
    PostgreSQL database of its own (the per-test `db_path` database is emptied by every
    test, so it cannot serve a module)."""
    if module_engine == "sqlite":
        yield tmp_path_factory.mktemp("module-db") / "casualty-tracker.db"
        return
    url = request.getfixturevalue("pg_cluster").create_database()
    yield url
    engines.close_pool(url)


@pytest.fixture
def blank_db(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """A database that does not exist yet: a new file path, or a new empty PostgreSQL
    database (for tests of schema creation)."""
    if engine == "sqlite":
        return tmp_path / "blank.db"
    return request.getfixturevalue("pg_cluster").create_database()


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(db_path=db_path, reconcile_seconds=0)


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def database(app: Flask, db_path: Path) -> Iterator[sqlite_utils.Database]:
    """A second connection to the app's database, for checking what was stored."""
    connection = db.connect(db_path)
    yield connection
    connection.close()


@pytest.fixture
def token(database: sqlite_utils.Database) -> Callable[[str], str]:
    """token("editor") -> a fresh bearer token with that role."""
    return lambda role: auth.create_key(database, role, f"test {role}")


@pytest.fixture
def editor(token: Callable[[str], str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token('editor')}"}


@pytest.fixture
def reader(token: Callable[[str], str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token('reader')}"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def figure(**overrides: Any) -> dict[str, Any]:
    """A valid figure body; override any field."""
    body: dict[str, Any] = {
        "conflict": "nagorno-karabakh-2020",
        "source": "Azerbaijani officials",
        "category": "civilian",
        "side": "Azerbaijan",
        "count": 22,
        "reported_on": "2020-10-04",
    }
    body.update(overrides)
    return body


def table_names(database: Any) -> list[str]:
    """The database's tables, on either engine (schema_version is PostgreSQL's own)."""
    if isinstance(database, engines.PgDatabase):
        sql = ("SELECT table_name FROM information_schema.tables WHERE table_schema ="
               " current_schema() AND table_name != 'schema_version' ORDER BY table_name")
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    return [row[0] for row in database.execute(sql)]


def stored_state(database: sqlite_utils.Database) -> dict[str, list]:
    """Everything a failed request must leave untouched, table by table."""
    tables = ("sources", "figures", "figure_versions", "disputes", "dirty_series")
    return {t: database.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in tables}


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and an error on `field`)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str) and body[key], key
    if field is not None:
        assert field in body["errors"], body
        assert all(isinstance(m, str) and m for m in body["errors"][field]), body
    return body


# --- a real Chromium, for the browser test files --------------------------------------

@pytest.fixture(scope="module")
def chromium() -> str:
    """The installed Chromium; skipped with one line when there is none, failed under CI
    (CI=true), so CI can never pass without running the browser tests."""
    found = find_chromium()
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI must run the browser tests, but no Chromium is installed "
                        "(apt-get install chromium)", pytrace=False)
        pytest.skip("no Chromium found: browser tests skipped (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """A headless Chromium for the module (see launch)."""
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        yield browser
        browser.close()
