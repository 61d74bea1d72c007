"""Concurrency against a real server (waitress, 8 worker threads) on 127.0.0.1.

8 writer threads post 100 figures each while 2 readers page through GET /figures and stream
GET /exports/figures.csv and reconciliation runs are started: every write is stored exactly
once, ids are unique, nothing answers 5xx and no "database is locked" escapes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import figure
from flask.testing import FlaskClient
from realserver import Answer, Server, running_server

from service import auth, db, store

WRITERS = 8
PER_WRITER = 100
READERS = 2
RUNS = 3
TIME_LIMIT = 60.0
CONFLICT = "concurrency-test"


def writer_figure(writer: int, number: int) -> dict[str, Any]:
    """Distinct figures; pairs of writers share series so reconciliation finds flags."""
    return figure(conflict=CONFLICT, source=f"Source {writer}", side=f"Side {writer % 4}",
                  count=writer * 1000 + number, location=f"Town {number % 10}",
                  reported_on=f"2020-10-{1 + number % 28:02d}")


class Recorder:
    """Every answer the threads got, and whatever they raised."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: list[tuple[str, Answer]] = []
        self.errors: list[BaseException] = []

    def keep(self, label: str, answer: Answer) -> Answer:
        with self.lock:
            self.answers.append((label, answer))
        return answer

    def thread(self, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except BaseException as error:  # noqa: BLE001 - reported by the test
                with self.lock:
                    self.errors.append(error)
        return threading.Thread(target=guarded, daemon=True)


def all_figures_via_api(server: Server) -> list[dict[str, Any]]:
    items, path = [], "/api/v1/figures?status=all&limit=1000"
    for _ in range(100):  # bounded: 800 figures are one page, at most a few
        page = server.request("GET", path)
        assert page.status == 200, page.body
        body = page.json()
        items.extend(body["items"])
        if body["next_cursor"] is None:
            return items
        path = f"/api/v1/figures?status=all&limit=1000&cursor={body['next_cursor']}"
    raise AssertionError("pagination did not end")


def test_eight_writers_two_readers_and_reconciliation(db_path: Path | str,
                                                      tmp_path: Path) -> None:
    connection = db.connect(db_path)
    editor = {"Authorization": f"Bearer {auth.create_key(connection, 'editor', 'load')}"}
    connection.close()
    recorder = Recorder()
    created: dict[tuple[int, int], dict[str, Any]] = {}
    writes_done = threading.Event()
    progress = threading.Semaphore(0)
    run_ids: list[int] = []
    started = time.monotonic()

    with running_server(db_path, tmp_path / "server.log") as server:
        def write(writer: int) -> None:
            for number in range(PER_WRITER):
                answer = recorder.keep("POST /figures", server.request(
                    "POST", "/api/v1/figures", writer_figure(writer, number), headers=editor))
                if answer.status == 201:
                    with recorder.lock:
                        created[(writer, number)] = answer.json()
                progress.release()

        def read(reader: int) -> None:
            rounds = 0
            while not writes_done.is_set() and time.monotonic() - started < TIME_LIMIT:
                if (rounds + reader) % 2 == 0:
                    answer = recorder.keep("GET /figures", server.request(
                        "GET", "/api/v1/figures?status=all&limit=1000"))
                else:
                    answer = recorder.keep("GET /exports/figures.csv", server.request(
                        "GET", f"/api/v1/exports/figures.csv?conflict={CONFLICT}"))
                rounds += 1
                assert answer.status == 200, answer.body

        def reconcile() -> None:
            for n in range(RUNS):  # start runs at about 1/4, 2/4, 3/4 of the writes
                for _ in range(WRITERS * PER_WRITER // (RUNS + 1)):
                    assert progress.acquire(timeout=TIME_LIMIT), f"writes stalled before run {n}"
                answer = recorder.keep("POST /reconciliation/runs", server.request(
                    "POST", "/api/v1/reconciliation/runs", headers=editor))
                assert answer.status == 202, answer.body
                run_ids.append(answer.json()["id"])

        threads = ([recorder.thread(lambda w=w: write(w)) for w in range(WRITERS)]
                   + [recorder.thread(reconcile)])
        readers = [recorder.thread(lambda r=r: read(r)) for r in range(READERS)]
        for thread in threads + readers:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.1, TIME_LIMIT - (time.monotonic() - started)))
        writes_done.set()
        for thread in readers:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads + readers), "threads hung"
        assert not recorder.errors, recorder.errors

        # every run started during the writes finishes, and succeeds
        assert len(run_ids) == RUNS
        runs: dict[int, dict] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(runs) < RUNS:
            for run_id in run_ids:
                run = server.request("GET", f"/api/v1/reconciliation/runs/{run_id}").json()
                if run["status"] in ("succeeded", "failed"):
                    runs[run_id] = run
            time.sleep(0.1)
        assert {run["status"] for run in runs.values()} == {"succeeded"}, runs
        assert sum(run["figures_checked"] for run in runs.values()) > 0
        stored_via_api = all_figures_via_api(server)

    elapsed = time.monotonic() - started
    statuses = [answer.status for _, answer in recorder.answers]
    assert max(statuses) < 500, [(label, a.status, a.body[:200]) for label, a in
                                 recorder.answers if a.status >= 500][:5]
    assert not [label for label, answer in recorder.answers
                if b"locked" in answer.body.lower()]
    posts = [answer for label, answer in recorder.answers if label == "POST /figures"]
    assert len(posts) == WRITERS * PER_WRITER
    assert {answer.status for answer in posts} == {201}
    assert len(created) == WRITERS * PER_WRITER
    ids = [body["id"] for body in created.values()]
    assert len(set(ids)) == WRITERS * PER_WRITER
    reads = [label for label, _ in recorder.answers if label.startswith("GET")]
    assert len(reads) >= READERS  # the readers really ran alongside

    # via the API: exactly the acknowledged figures, each as its 201 answer said
    assert len(stored_via_api) == WRITERS * PER_WRITER
    assert sorted(item["id"] for item in stored_via_api) == sorted(ids)
    by_id = {body["id"]: body for body in created.values()}
    assert all(item == by_id[item["id"]] for item in stored_via_api)
    for (writer, number), body in created.items():
        expected = writer_figure(writer, number)
        assert (body["source"], body["count"]) == (expected["source"], expected["count"])

    # via the database: 800 rows, 800 first versions, nothing else
    connection = db.connect(db_path)
    try:
        assert connection.execute("SELECT count(*), count(DISTINCT id) FROM figures"
                                  ).fetchone() == (800, 800)
        # each is its own version 1: nothing copied to the history until it changes
        assert connection.execute("SELECT count(*) FROM figure_versions").fetchone() == (0,)
        assert all(store.figure_history(connection, figure_id)[0]["version"] == 1
                   for figure_id in ids)
        assert sorted(row[0] for row in connection.execute("SELECT id FROM figures")) \
            == sorted(ids)
    finally:
        connection.close()
    assert elapsed < TIME_LIMIT
    print(f"\nconcurrency: {len(posts)} writes, {len(reads)} reads, {RUNS} runs "
          f"in {elapsed:.1f} s")


def test_a_read_does_not_wait_for_a_write_transaction(client: FlaskClient,
                                                      db_path: Path) -> None:
    assert client.get("/api/v1/figures").status_code == 200
    writer = db.connect(db_path)
    answers: list[int] = []
    reader = threading.Thread(target=lambda: answers.append(
        client.get("/api/v1/figures").status_code), daemon=True)
    try:
        writer.conn.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
        reader.start()
        reader.join(timeout=2)
        blocked = reader.is_alive()
    finally:
        writer.conn.execute("ROLLBACK")
        writer.close()
        reader.join(timeout=30)
    assert not blocked, "the read waited for the write transaction to end"
    assert answers == [200]
