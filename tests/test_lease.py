"""Runs never overlap (API §6), however many processes serve one database: the lease.

Three real `casualty-tracker serve` processes on one SQLite file are asked for runs at the
same moment; the runs table then shows one run at a time. A lease left by a dead holder is
taken over; a live one makes a run give up, saying why.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from service import store
from service.db import write_transaction
from service.reconcile import run as run_engine

CLI = str(Path(sys.executable).parent / "casualty-tracker")
SERVERS = 3
ROUNDS = 3
FIGURES = 5_000


# --- real server processes ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(url: str, method: str = "GET", payload: Any = None,
            token: str | None = None) -> tuple[int, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    call = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


@contextmanager
def start_servers(count: int, db_file: Path, logs: Path,
                  reconcile_seconds: str = "0") -> Iterator[list[str]]:
    """Start `count` servers on one database; yield their base URLs; kill them after."""
    env = {**os.environ, "CASUALTY_TRACKER_RECONCILE_SECONDS": reconcile_seconds}
    env.pop("CASUALTY_TRACKER_DB", None)
    processes: list[subprocess.Popen] = []
    try:
        urls = []
        for index in range(count):
            port = free_port()
            with open(logs / f"server-{index}.log", "wb") as log:
                processes.append(subprocess.Popen(
                    [CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--db",
                     str(db_file)], env=env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True))
            urls.append(f"http://127.0.0.1:{port}/api/v1")
        for index, (process, url) in enumerate(zip(processes, urls, strict=True)):
            wait_until_healthy(process, url, logs / f"server-{index}.log")
        yield urls
    finally:
        for process in processes:
            stop(process)


def wait_until_healthy(process: subprocess.Popen, url: str, log: Path,
                       seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}: {log.read_text()}")
        try:
            if request(f"{url}/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server at {url} not healthy after {seconds} s: {log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Kill the server's whole process group and reap it."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def cli(*args: str) -> str:
    env = {key: value for key, value in os.environ.items() if key != "CASUALTY_TRACKER_DB"}
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def many_figures(count: int) -> list[dict]:
    """`count` figures over count / 10 families, three sources, contradicting often."""
    rng = random.Random(11)
    categories = ["military", "civilian", "injured", "missing", "killed"]
    return [{"conflict": "lease-2024", "source": f"Source {index % 3}",
             "category": categories[index % 5], "side": f"Side {(index // 5) % (count // 50)}",
             "location": rng.choice([None, "Town"]), "count": rng.randint(50, 150),
             "reported_on": f"2024-03-{rng.randint(1, 28):02d}"} for index in range(count)]


def runs_table(db_file: Path) -> list[tuple]:
    connection = sqlite3.connect(db_file)
    try:
        return connection.execute(
            "SELECT id, status, created_at, started_at, finished_at, flags_opened, error"
            " FROM reconciliation_runs ORDER BY id").fetchall()
    finally:
        connection.close()


# --- across processes --------------------------------------------------------------------

def test_runs_never_overlap_across_processes(tmp_path: Path) -> None:
    db_file = tmp_path / "shared.db"
    token = cli("keys", "create", "--role", "editor", "--name", "lease test", "--db",
                str(db_file)).strip()
    with start_servers(SERVERS, db_file, tmp_path) as urls:
        status, created = request(f"{urls[0]}/figures/batch", "POST",
                                  {"figures": many_figures(FIGURES)}, token)
        assert status == 201, created
        assert len(created["ids"]) == FIGURES

        run_ids: list[int] = []
        failures: list[Any] = []
        lock = threading.Lock()

        def fire(url: str, barrier: threading.Barrier) -> None:
            barrier.wait()
            status, queued = request(f"{url}/reconciliation/runs", "POST", {"full": True},
                                     token)
            with lock:
                if status == 202 and queued["status"] in ("queued", "running"):
                    run_ids.append(queued["id"])
                else:
                    failures.append((status, queued))

        for _ in range(ROUNDS):
            barrier = threading.Barrier(SERVERS)
            threads = [threading.Thread(target=fire, args=(url, barrier)) for url in urls]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        assert len(set(run_ids)) == SERVERS * ROUNDS

        deadline = time.monotonic() + 30
        pending = set(run_ids)
        while pending and time.monotonic() < deadline:
            for run_id in sorted(pending):
                status, current = request(f"{urls[run_id % SERVERS]}/reconciliation/runs/"
                                          f"{run_id}")
                assert status == 200, current
                if current["status"] in ("succeeded", "failed"):
                    pending.discard(run_id)
            time.sleep(0.1)
        assert not pending, f"runs still unfinished: {pending}"

    runs = runs_table(db_file)
    assert sorted(row[0] for row in runs) == sorted(run_ids)
    assert [(row[1], row[6]) for row in runs] == [("succeeded", None)] * len(runs)
    by_start = sorted(runs, key=lambda row: row[3])
    for earlier, later in zip(by_start, by_start[1:], strict=False):
        assert earlier[4] <= later[3], f"runs {earlier[0]} and {later[0]} overlap"
    # The test proves something only if runs took time and some had to wait for another.
    assert all(row[3] < row[4] for row in runs), runs
    assert any(later[2] < earlier[4] for earlier, later in zip(by_start, by_start[1:],
                                                                strict=False)), runs
    connection = sqlite3.connect(db_file)
    try:
        (flag_count,) = connection.execute("SELECT count(*) FROM flags").fetchone()
        (holder,) = connection.execute(
            "SELECT holder FROM reconciliation_lease WHERE id = 1").fetchone()
    finally:
        connection.close()
    assert flag_count > 0
    assert sum(row[5] for row in runs) == flag_count  # every flag opened exactly once
    assert holder is None


# --- a dead holder, a live holder --------------------------------------------------------

def hold_lease(database: sqlite_utils.Database, holder: str, run_id: int,
               expires_at: float) -> None:
    with write_transaction(database):
        database.execute("UPDATE reconciliation_runs SET status = 'running', started_at = ?"
                         " WHERE id = ?", (store.utc_now(), run_id))
        database.execute("UPDATE reconciliation_lease SET holder = ?, run_id = ?,"
                         " expires_at = ? WHERE id = 1", (holder, run_id, expires_at))


def lease(database: sqlite_utils.Database) -> tuple:
    return database.execute(
        "SELECT holder, run_id, expires_at FROM reconciliation_lease WHERE id = 1").fetchone()


def two_contradicting_figures(database: sqlite_utils.Database) -> None:
    from service.schemas import FigureIn, complete_figure

    store.insert_figures(database, [complete_figure(FigureIn().load(
        {"conflict": "lease-2024", "source": source, "category": "military", "count": count,
         "reported_on": "2024-03-01"})) for source, count in (("A", 10), ("B", 99))])


def test_an_expired_lease_of_a_dead_holder_is_taken_over(
        database: sqlite_utils.Database) -> None:
    two_contradicting_figures(database)
    abandoned = store.create_run(database, "api", False)
    hold_lease(database, "gone-host:4242:deadbeef0000", abandoned["id"], time.time() - 1)
    queued = store.create_run(database, "test", False)
    started = time.monotonic()
    finished = run_engine.execute(database, queued["id"], full=False, wait_seconds=5)
    assert time.monotonic() - started < 2
    assert (finished["status"], finished["error"], finished["flags_opened"]) == \
        ("succeeded", None, 1)
    dead = store.get_run(database, abandoned["id"])
    assert dead["status"] == "failed"
    assert dead["error"] == "abandoned: the process running it stopped and its lease expired"
    assert dead["finished_at"] is not None
    assert dead["finished_at"] <= finished["started_at"]
    assert lease(database) == (None, None, 0)


def test_a_live_lease_held_elsewhere_makes_a_run_fail(
        database: sqlite_utils.Database) -> None:
    two_contradicting_figures(database)
    other = store.create_run(database, "api", False)
    expires_at = time.time() + 60
    hold_lease(database, "other-host:1:0123456789ab", other["id"], expires_at)
    queued = store.create_run(database, "test", False)
    started = time.monotonic()
    finished = run_engine.execute(database, queued["id"], full=False, wait_seconds=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.5
    assert finished["status"] == "failed"
    assert finished["error"] == "another run held the lease for over 0.5 s"
    assert finished["started_at"] is None and finished["finished_at"] is not None
    assert (finished["series_checked"], finished["flags_opened"]) == (0, 0)
    # The holder's lease and run are untouched, and nothing was written.
    assert lease(database) == ("other-host:1:0123456789ab", other["id"], expires_at)
    assert store.get_run(database, other["id"])["status"] == "running"
    assert database.execute("SELECT count(*) FROM flags").fetchone()[0] == 0
    assert database.execute("SELECT count(*) FROM dirty_series").fetchone()[0] == 1

    # Once the holder lets go, the next run does the work that was left.
    with write_transaction(database):
        database.execute("UPDATE reconciliation_lease SET holder = NULL, run_id = NULL,"
                         " expires_at = 0 WHERE id = 1")
        database.execute("UPDATE reconciliation_runs SET status = 'succeeded',"
                         " finished_at = ? WHERE id = ?", (store.utc_now(), other["id"]))
    again = run_engine.execute(database, store.create_run(database, "test", False)["id"],
                               full=False, wait_seconds=0.5)
    assert (again["status"], again["series_checked"], again["flags_opened"]) == \
        ("succeeded", 1, 1)


def test_a_run_that_lost_its_lease_writes_nothing(database: sqlite_utils.Database) -> None:
    """A holder whose lease was taken over mid-run stops before writing a flag."""
    two_contradicting_figures(database)
    queued = store.create_run(database, "test", False)
    holder = run_engine.new_holder()
    assert store.take_lease(database, holder, queued["id"], time.time() - 120, 60)
    # Its lease expired 60 s ago; another process took it.
    assert store.take_lease(database, "thief:1:000000000000", 99, time.time(), 60)
    with pytest.raises(store.LeaseLost):
        store.save_findings(database, queued["id"], holder, 60, [])
    assert database.execute("SELECT count(*) FROM flags").fetchone()[0] == 0
    store.release_lease(database, holder)  # releasing someone else's lease does nothing
    assert lease(database)[0] == "thief:1:000000000000"


def test_a_lease_that_expired_but_was_not_taken_is_still_held(
        database: sqlite_utils.Database) -> None:
    """A batch that outlasts the lease ttl does not lose a lease nobody else took."""
    two_contradicting_figures(database)
    queued = store.create_run(database, "test", False)
    holder = run_engine.new_holder()
    assert store.take_lease(database, holder, queued["id"], time.time() - 120, 60)
    before = time.time()
    assert store.save_findings(database, queued["id"], holder, 60, []) == 0
    assert lease(database)[0] == holder
    assert lease(database)[2] >= before + 60


def test_a_run_longer_than_the_lease_ttl_succeeds(database: sqlite_utils.Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every renewal finds the lease expired (a ttl of a microsecond); nobody takes it over,
    so the run (three batches of series) still succeeds."""
    from service.schemas import FigureIn, complete_figure

    monkeypatch.setattr(run_engine, "FIGURES_PER_BATCH", 100)
    families = 2 * 50 + 25  # two figures a family: three batches
    store.insert_figures(database, [complete_figure(FigureIn().load(
        {"conflict": "lease-2024", "source": source, "category": "military",
         "side": f"Side {index}", "count": count, "reported_on": "2024-03-01"}))
        for index in range(families) for source, count in (("A", 10), ("B", 99))])
    monkeypatch.setattr(run_engine, "LEASE_TTL_SECONDS", 1e-6)
    finished = run_engine.execute(database, store.create_run(database, "test", True)["id"],
                                  full=True, wait_seconds=1)
    assert (finished["status"], finished["error"]) == ("succeeded", None)
    assert (finished["series_checked"], finished["flags_opened"]) == (families, families)
    assert lease(database) == (None, None, 0)
