"""Shared fixtures: a real SQLite file per test, the real app, real tokens."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from browser import find_chromium, launch
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright

from service import auth, create_app, db
from service.config import Settings


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "casualty-tracker.db"


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
