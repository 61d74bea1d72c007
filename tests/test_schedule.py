"""The reconciliation schedule (API §1, §8): the real APScheduler, in-process and in a server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from service import db as service_db
from service import engines, store
from service.reconcile.schedule import start_scheduler
from service.schemas import FigureIn, complete_figure

CLI = str(Path(sys.executable).parent / "casualty-tracker")


def contradicting_pair(db_path: Path | str) -> None:
    database = service_db.connect(db_path)
    try:
        store.insert_figures(database, [complete_figure(FigureIn().load(
            {"conflict": "schedule-2024", "source": source, "category": "military",
             "count": count, "reported_on": "2024-03-01"}))
            for source, count in (("A", 10), ("B", 99))])
    finally:
        database.close()


def runs(db_path: Path | str) -> list[tuple]:
    connection = service_db.connect(db_path)
    try:
        return connection.execute(
            'SELECT trigger, status, "full", series_checked, flags_opened, error'
            " FROM reconciliation_runs ORDER BY id").fetchall()
    finally:
        connection.close()


def wait_for(condition, seconds: float, interval: float = 0.05):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()


def test_the_schedule_runs_reconciliation(db_path: Path) -> None:
    contradicting_pair(db_path)
    threads = set(threading.enumerate())
    scheduler = start_scheduler(db_path, 1)
    assert scheduler is not None
    try:
        assert scheduler.running
        started = time.monotonic()
        done = wait_for(lambda: [row for row in runs(db_path) if row[1] == "succeeded"], 5)
        assert time.monotonic() - started >= 0.5  # the first run waits one interval
        assert done[0] == ("schedule", "succeeded", 0, 1, 1, None)
        # It keeps running every second: a second run, with nothing left to check.
        more = wait_for(lambda: len([row for row in runs(db_path)
                                     if row[1] == "succeeded"]) >= 2, 5)
        assert more
        assert runs(db_path)[1] == ("schedule", "succeeded", 0, 0, 0, None)
    finally:
        scheduler.shutdown(wait=True)
    assert not scheduler.running
    assert set(threading.enumerate()) <= threads  # no scheduler thread outlives it
    count = len(runs(db_path))
    time.sleep(1.3)
    assert len(runs(db_path)) == count  # shut down: no more runs


@pytest.mark.parametrize("seconds", [0, -5])
def test_no_schedule_when_turned_off(db_path: Path, seconds: int) -> None:
    service_db.connect(db_path).close()
    assert start_scheduler(db_path, seconds) is None


# --- in a real server --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


@contextmanager
def server(db_path: Path | str, reconcile_seconds: str, log: Path) -> Iterator[str]:
    env = {**os.environ, "CASUALTY_TRACKER_RECONCILE_SECONDS": reconcile_seconds}
    env.pop("CASUALTY_TRACKER_DB", None)
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db_path)],
            env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 20
        while health(url) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_a_server_runs_the_schedule_and_health_says_so(
        tmp_path: Path, db_path: Path | str, engine: str,
        request: pytest.FixtureRequest) -> None:
    """On each engine: a PostgreSQL-backed server's schedule takes the lease there too."""
    scheduled = db_path
    unscheduled = tmp_path / "unscheduled.db" if engine == "sqlite" \
        else request.getfixturevalue("pg_cluster").create_database()
    if engine == "postgresql":
        request.addfinalizer(lambda: engines.close_pool(str(unscheduled)))
    contradicting_pair(scheduled)
    contradicting_pair(unscheduled)
    with server(scheduled, "1", tmp_path / "scheduled.log") as on, \
            server(unscheduled, "0", tmp_path / "unscheduled.log") as off:
        assert health(on)["scheduler"] == "running"
        assert health(off) == {"status": "ok", "database": "ok", "scheduler": "off",
                               "last_run": None}
        state = wait_for(lambda: (health(on) or {}).get("last_run") and
                         health(on)["last_run"]["status"] == "succeeded" and health(on), 6)
        assert state, health(on)
        assert state["scheduler"] == "running"
        last_run = state["last_run"]
        assert (last_run["trigger"], last_run["full"], last_run["error"]) == \
            ("schedule", False, None)
        assert runs(scheduled)[0] == ("schedule", "succeeded", 0, 1, 1, None)
        with urllib.request.urlopen(f"{on}/flags?rule=disagreement", timeout=5) as response:
            assert len(json.loads(response.read())["items"]) == 1
        # Meanwhile the server without a schedule has run nothing.
        assert health(off)["last_run"] is None
    assert runs(unscheduled) == []
