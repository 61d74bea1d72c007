"""Several `serve` processes on one PostgreSQL database (API §10; §6 "Runs never overlap").

Three real servers share one database. Eight writers post 100 figures each, spread over the
three, each figure with its own Idempotency-Key, and fifteen reconciliation runs are
requested across the three while they write. In the middle, the server whose run holds the
lease is killed with SIGKILL; a writer whose request it cut off sends the same request,
same key, to another server. Afterwards:

- every acknowledged figure is stored, once, exactly as its 201 said (and every figure
  acknowledged in the end: 800 figures, no duplicates);
- no two runs overlapped: each run that ran started after the one before it finished;
- the killed server's lease expired (the test moves its expiry back by the time-to-live
  instead of waiting a minute, as test_crash does), the next run took it over, and the
  killed run is recorded as failed ("abandoned").
"""

from __future__ import annotations

import http.client
import itertools
import os
import signal
import threading
import time
from pathlib import Path

import psycopg
from conftest import figure
from pgcluster import Cluster
from realserver import Server

from service import auth, db
from service.reconcile.run import LEASE_TTL_SECONDS

WRITERS = 8
PER_WRITER = 100
RUNS = 15
CUT_OFF = (OSError, http.client.HTTPException)


def test_three_servers_one_database(postgres: Cluster, tmp_path: Path) -> None:
    url = postgres.create_database()
    connection = db.connect(url)
    editor = {"Authorization": f"Bearer {auth.create_key(connection, 'editor', 'mp')}"}
    connection.close()
    servers = [Server(url, tmp_path / f"server-{n}.log") for n in range(3)]
    killed: list[Server] = []
    acknowledged: dict[str, tuple[int, bytes]] = {}  # quote -> (id, body of the 201)
    runs: list[tuple[Server, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    half = threading.Event()

    def alive() -> list[Server]:
        return [server for server in servers if server not in killed]

    def send(first: int, method: str, path: str, body: object, key: str | None = None) -> tuple:
        """Send to server `first`, or on to the next live one while a server is cut off."""
        headers = dict(editor) | ({"Idempotency-Key": key} if key else {})
        for attempt in itertools.count():
            choices = alive()
            server = choices[(first + attempt) % len(choices)]
            try:
                return server, server.request(method, path, body, headers=headers)
            except CUT_OFF:
                if attempt > 20:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def write(writer: int) -> None:
        for number in range(PER_WRITER):
            quote = f"writer {writer} figure {number}"
            body = figure(source=f"Writer {writer}", count=100 + writer * 10 + number % 3,
                          quote=quote)
            _, answer = send(writer + number, "POST", "/api/v1/figures", body,
                             key=f"w{writer}-n{number}")
            assert answer.status == 201, (answer.status, answer.body)
            with lock:
                acknowledged[quote] = (answer.json()["id"], answer.body)
                if len(acknowledged) >= WRITERS * PER_WRITER // 2:
                    half.set()

    def request_runs() -> None:
        for number in range(RUNS):
            server, answer = send(number, "POST", "/api/v1/reconciliation/runs", {})
            assert answer.status == 202, (answer.status, answer.body)
            with lock:
                runs.append((server, answer.json()["id"]))
            time.sleep(0.15)

    def guarded(target, *args) -> None:  # noqa: ANN001
        try:
            target(*args)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
            half.set()

    watcher = psycopg.connect(url, autocommit=True)
    try:
        for server in servers:
            server.start()
        threads = [threading.Thread(target=guarded, args=(write, w), daemon=True)
                   for w in range(WRITERS)]
        threads.append(threading.Thread(target=guarded, args=(request_runs,), daemon=True))
        for thread in threads:
            thread.start()
        assert half.wait(timeout=120), "the writers did not get half their acknowledgements"
        assert not errors, errors

        # Hold every run at its first flag write (a table lock), so that whoever holds
        # the lease now holds it until killed; then kill the holder's server.
        watcher.execute("BEGIN")
        watcher.execute("LOCK TABLE flags IN EXCLUSIVE MODE")
        holder = None
        deadline = time.monotonic() + 60
        while holder is None and time.monotonic() < deadline:
            # a holder seen twice, half a second apart, is a run held at the lock (a run
            # with nothing to write may pass the lock and release the lease at once)
            seen = watcher.execute(
                "SELECT holder FROM reconciliation_lease WHERE id = 1").fetchone()[0]
            if seen is not None:
                time.sleep(0.5)
                if watcher.execute("SELECT holder FROM reconciliation_lease WHERE id = 1"
                                   ).fetchone()[0] == seen:
                    holder = seen
            time.sleep(0.01)
        assert holder is not None, "no run held the lease"
        pid = int(holder.split(":")[1])
        victim = next(server for server in servers if server.process.pid == pid)
        killed.append(victim)
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait(timeout=30)
        watcher.execute("ROLLBACK")
        still, lease_run = watcher.execute(
            "SELECT holder, run_id FROM reconciliation_lease WHERE id = 1").fetchone()
        assert still == holder and lease_run is not None  # the dead run's lease blocks
        # A minute passes for the lease row: its expiry moves back by the time-to-live.
        watcher.execute("UPDATE reconciliation_lease SET expires_at = expires_at - %s",
                        (LEASE_TTL_SECONDS + 1,))

        for thread in threads:
            thread.join(timeout=180)
        assert not errors, errors
        assert not any(thread.is_alive() for thread in threads)

        # every acknowledged figure, stored once, as its 201 said
        assert len(acknowledged) == WRITERS * PER_WRITER
        stored = watcher.execute("SELECT quote, id FROM figures").fetchall()
        assert len(stored) == WRITERS * PER_WRITER
        assert dict(stored) == {quote: ids[0] for quote, ids in acknowledged.items()}
        for quote, (figure_id, body) in list(acknowledged.items())[::40]:
            _, again = send(figure_id, "GET", f"/api/v1/figures/{figure_id}", None)
            assert again.status == 200 and again.body == body, quote

        # the runs: every run a live server accepted ends; none overlapped
        survivors = [run_id for server, run_id in runs if server not in killed]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pending = watcher.execute(
                "SELECT count(*) FROM reconciliation_runs WHERE id = ANY(%s)"
                " AND status IN ('queued', 'running')", (survivors,)).fetchone()[0]
            if not pending:
                break
            time.sleep(0.1)
        assert not pending, "runs of the live servers did not finish"
        rows = watcher.execute(
            "SELECT id, status, started_at, finished_at, error FROM reconciliation_runs"
            " WHERE started_at IS NOT NULL ORDER BY started_at, id").fetchall()
        assert len(runs) == RUNS
        for earlier, later in itertools.pairwise(rows):
            assert earlier[3] is not None and earlier[3] <= later[2], (earlier, later)
        statuses = {run_id: (status, error) for run_id, status, _, _, error in rows}
        assert statuses[lease_run][0] == "failed"
        assert statuses[lease_run][1].startswith("abandoned")
        assert all(statuses[run_id][0] == "succeeded" for run_id in survivors), statuses
        assert watcher.execute("SELECT holder FROM reconciliation_lease").fetchone() == (None,)
    finally:
        watcher.close()
        for server in servers:
            server.kill()
    print(f"\nmultiprocess: {len(acknowledged)} figures stored once over 3 servers, one "
          f"killed; {len(rows)} runs never overlapped")
