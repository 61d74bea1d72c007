"""Issue 12: a serialization failure (40001) or deadlock (40P01) never escapes as a 5xx.

Against the real server: a test-only PL/pgSQL trigger, created by the test in a database of
its own, raises the error the first N times a table is written (counted by a sequence, which
a rolled-back transaction does not undo). The request, the CLI command or the run's batch is
run again (service/retry.py) and succeeds with exactly what one clean try stores; a trigger
that always fails gives 503 problem+json with Retry-After and nothing stored. The error is
raised at the statement, or at COMMIT (a deferred constraint trigger) as a SERIALIZABLE
transaction meets it. And with the server defaulting to SERIALIZABLE, concurrent writers of
our own meet no serialization failure at all: write transactions are READ COMMITTED.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from conftest import assert_problem, figure
from pgcluster import Cluster
from test_pages import csrf_from, sign_in

from service import auth, create_app, db, engines, retry, store
from service.cli import main
from service.config import Settings
from service.reconcile import run
from service.schemas import complete_figure

CODES = {"serialization_failure": "40001", "deadlock_detected": "40P01"}
ALWAYS = 1_000_000


@pytest.fixture
def url(postgres: Cluster) -> Iterator[str]:
    """A database of the test's own (its triggers must not outlive it), schema created."""
    address = postgres.create_database()
    db.connect(address).close()
    yield address
    engines.close_pool(address)


def fail_writes(url: str, table: str, code: str, times: int, after: int = 0,
                event: str = "INSERT", at_commit: bool = False) -> None:
    """From now on, `event` (INSERT or UPDATE) statements on `table` number after+1 ...
    after+times (counted from this call) raise SQLSTATE `code`; every other statement goes
    through. `at_commit`: rows are counted instead, and the error comes at COMMIT (a
    deferred constraint trigger), where a serializable transaction meets it."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SEQUENCE test_{table}_writes")
        connection.execute(
            f"CREATE FUNCTION test_fail_{table}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" DECLARE n bigint := nextval('test_{table}_writes'); BEGIN"
            f" IF n > {after} AND n <= {after + times} THEN"
            f"   RAISE EXCEPTION 'test: write % refused, try again', n USING ERRCODE = '{code}';"
            " END IF; RETURN NULL; END $$")
        connection.execute(
            f"CREATE CONSTRAINT TRIGGER test_fail_{table} AFTER {event} ON {table}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            f" EXECUTE FUNCTION test_fail_{table}()" if at_commit else
            f"CREATE TRIGGER test_fail_{table} BEFORE {event} ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION test_fail_{table}()")


def stop_failing(url: str, table: str) -> None:
    """Remove what fail_writes created."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP TRIGGER test_fail_{table} ON {table}")
        connection.execute(f"DROP FUNCTION test_fail_{table}()")
        connection.execute(f"DROP SEQUENCE test_{table}_writes")


def writes_tried(url: str, table: str) -> int:
    """How many statements on `table` the trigger saw (failed or not)."""
    with psycopg.connect(url) as connection:
        return connection.execute(
            f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
            f" FROM test_{table}_writes").fetchone()[0]


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def editor_of(url: str) -> dict[str, str]:
    database = db.connect(url)
    try:
        return {"Authorization": f"Bearer {auth.create_key(database, 'editor', 'retry')}"}
    finally:
        database.close()


@pytest.mark.parametrize("code", CODES.values(), ids=CODES.keys())
def test_a_post_the_engine_refuses_twice_is_retried_and_stored_once(url: str,
                                                                    code: str) -> None:
    client = create_app(Settings(db_path=url, reconcile_seconds=0)).test_client()
    headers = {**editor_of(url), "Idempotency-Key": "retry-1"}
    fail_writes(url, "figures", code, times=2)
    first = client.post("/api/v1/figures", json=figure(), headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert writes_tried(url, "figures") == 3  # two refused tries, then the one that stored
    assert count(url, "figures") == 1
    assert count(url, "dirty_series") == 1
    # the key kept its meaning: the same request again replays the first answer
    again = client.post("/api/v1/figures", json=figure(), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert count(url, "figures") == 1
    assert client.get(first.headers["Location"]).get_json() == first.get_json()


def test_a_post_whose_commit_the_engine_refuses_once_is_retried_and_stored_once(
        url: str) -> None:
    client = create_app(Settings(db_path=url, reconcile_seconds=0)).test_client()
    headers = {**editor_of(url), "Idempotency-Key": "retry-commit"}
    fail_writes(url, "figures", CODES["serialization_failure"], times=1, at_commit=True)
    first = client.post("/api/v1/figures/batch", json={"figures": [
        figure(count=n) for n in range(3)]}, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert writes_tried(url, "figures") == 4  # COMMIT refused at the first row, then 3 rows
    assert count(url, "figures") == 3
    again = client.post("/api/v1/figures/batch", json={"figures": [
        figure(count=n) for n in range(3)]}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count(url, "figures") == 3


@pytest.mark.parametrize("code", CODES.values(), ids=CODES.keys())
def test_a_post_the_engine_always_refuses_is_a_503_and_stores_nothing(url: str,
                                                                      code: str) -> None:
    client = create_app(Settings(db_path=url, reconcile_seconds=0)).test_client()
    headers = {**editor_of(url), "Idempotency-Key": "retry-2"}
    fail_writes(url, "figures", code, times=ALWAYS)
    for path, body in (("/api/v1/figures", figure()),
                       ("/api/v1/figures/batch", {"figures": [figure(count=n)
                                                              for n in range(60)]})):
        answer = client.post(path, json=body, headers=headers)
        problem = assert_problem(answer, 503)
        assert problem["type"] == "urn:casualty-tracker:problem:database-conflict"
        assert "nothing was changed" in problem["detail"]
        assert answer.headers["Retry-After"] == "1"
    assert writes_tried(url, "figures") == 2 * retry.ATTEMPTS  # bounded: tried, then gave up
    for table in ("figures", "figure_versions", "sources", "dirty_series", "idempotency_keys"):
        assert count(url, table) == 0, table
    # the service itself is fine: reads work, and writes once the engine accepts them
    assert client.get("/api/v1/figures").get_json() == {"items": [], "next_cursor": None}
    stop_failing(url, "figures")
    assert client.post("/api/v1/figures", json=figure(), headers={
        **headers, "Idempotency-Key": "retry-3"}).status_code == 201


def test_an_import_the_engine_refuses_is_retried_over_http_and_the_cli(url: str,
                                                                       tmp_path: Path) -> None:
    client = create_app(Settings(db_path=url, reconcile_seconds=0)).test_client()
    headers = {**editor_of(url), "Content-Type": "text/csv"}
    rows = "".join(f"retry-import,Source {n % 7},killed,{n},2020-10-04\r\n" for n in range(200))
    text = f"conflict,source,category,count,reported_on\r\n{rows}"
    fail_writes(url, "figures", CODES["serialization_failure"], times=1)
    answer = client.post("/api/v1/imports", data=text.encode(), headers=headers)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert len(answer.get_json()["ids"]) == 200
    assert count(url, "figures") == 200

    csv_file = tmp_path / "more.csv"
    csv_file.write_text(text.replace("retry-import", "retry-cli"), encoding="utf-8")
    stop_failing(url, "figures")
    fail_writes(url, "figures", CODES["serialization_failure"], times=1)
    result = CliRunner().invoke(main, ["import", str(csv_file), "--db", url])
    assert result.exit_code == 0, result.output
    assert "Imported 200 figures" in result.stdout
    assert count(url, "figures") == 400
    assert writes_tried(url, "figures") == 2  # one refused, one stored

    stop_failing(url, "figures")
    fail_writes(url, "figures", CODES["deadlock_detected"], times=ALWAYS)
    result = CliRunner().invoke(main, ["import", str(csv_file), "--db", url])
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]  # after the progress bar's "Reading"
    assert last.startswith("Error: The database could not complete the command"), last
    assert "even when retried; nothing was changed" in last
    assert "Traceback" not in result.output
    assert count(url, "figures") == 400


def families(database: db.Database, conflict: str, number: int) -> None:
    """`number` families of 6 figures that disagree and whose parts exceed the whole, so a
    full run writes many flags."""
    store.insert_figures(database, [complete_figure(figure(
        conflict=conflict, side=f"Side {family}", source=f"Source {n % 3}",
        count=100 + 50 * n, location=None if n == 0 else f"Town {n % 2}"))
        for family in range(number) for n in range(6)])


def run_counts(run_record: dict) -> dict[str, int]:
    """What a run counted: a retried run must count as its clean twin did."""
    return {key: run_record[key] for key in ("series_checked", "figures_checked",
                                             "flags_opened", "flags_closed")}


def full_run(url: str, full: bool = True) -> tuple[dict, list[tuple]]:
    """A run (full unless told) on `url`: its record, and every flag after it."""
    database = db.connect(url)
    try:
        queued = store.create_run(database, "cli", full)
        finished = run.execute(database, queued["id"], full=full)
        flags = database.execute(
            "SELECT id, rule, flag_key, series_key, severity, figure_ids, explanation, status,"
            " first_seen_run, last_seen_run FROM flags ORDER BY id").fetchall()
        return finished, flags
    finally:
        database.close()


@pytest.mark.parametrize("at_commit", [False, True], ids=["statement", "commit"])
def test_a_run_whose_flag_write_fails_once_succeeds_with_the_same_flags(
        postgres: Cluster, url: str, monkeypatch: pytest.MonkeyPatch, at_commit: bool) -> None:
    clean = postgres.create_database()
    try:
        for address in (url, clean):
            database = db.connect(address)
            try:
                families(database, "retry-run", 40)
            finally:
                database.close()
        # several batches, so the refused write is one batch in the middle of the run
        monkeypatch.setattr(run, "FIGURES_PER_BATCH", 60)
        expected_run, expected_flags = full_run(clean)
        assert expected_run["status"] == "succeeded"
        assert len(expected_flags) > 40
        # refused once: the second INSERT, or (at COMMIT) the batch holding the middle row
        after = len(expected_flags) // 2 if at_commit else 1
        fail_writes(url, "flags", CODES["serialization_failure"], times=1, after=after,
                    at_commit=at_commit)
        finished, flags = full_run(url)
        assert finished["status"] == "succeeded", finished["error"]
        assert writes_tried(url, "flags") > after + 2  # the refused batch was not the last
        assert flags == expected_flags
        assert run_counts(finished) == run_counts(expected_run)
        assert count(url, "flag_figures") == count(clean, "flag_figures")
        assert count(url, "dirty_series") == 0
    finally:
        engines.close_pool(clean)


def test_an_incremental_run_whose_write_fails_once_leaves_what_a_clean_one_leaves(
        postgres: Cluster, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures added after a full run, checked incrementally (merged into their series'
    flags): a batch refused once is done again from the run's state before it."""
    clean = postgres.create_database()
    monkeypatch.setattr(run, "FIGURES_PER_BATCH", 60)
    try:
        for address in (url, clean):
            database = db.connect(address)
            try:
                families(database, "retry-run", 40)
                assert full_run(address)[0]["status"] == "succeeded"
                store.insert_figures(database, [complete_figure(figure(
                    conflict="retry-run", side=f"Side {family}", source="Source 9",
                    count=1000 + family)) for family in range(0, 40, 3)])
            finally:
                database.close()
        expected_run, expected_flags = full_run(clean, full=False)
        assert expected_run["status"] == "succeeded"
        fail_writes(url, "flag_figures", CODES["serialization_failure"], times=1, after=1)
        finished, flags = full_run(url, full=False)
        assert finished["status"] == "succeeded", finished["error"]
        assert writes_tried(url, "flag_figures") > 3  # refused once, not in the last batch
        assert flags == expected_flags
        assert run_counts(finished) == run_counts(expected_run)
        assert count(url, "flag_figures") == count(clean, "flag_figures")
        assert count(url, "dirty_series") == count(url, "dirty_figures") == 0
    finally:
        engines.close_pool(clean)


def test_a_run_whose_flag_write_always_fails_is_recorded_failed(url: str) -> None:
    database = db.connect(url)
    try:
        families(database, "retry-run", 3)
    finally:
        database.close()
    fail_writes(url, "flags", CODES["deadlock_detected"], times=ALWAYS)
    finished, flags = full_run(url)
    assert finished["status"] == "failed"
    assert "DeadlockDetected" in finished["error"]
    assert flags == []
    assert writes_tried(url, "flags") == retry.ATTEMPTS
    with psycopg.connect(url) as connection:  # the lease was given back
        assert connection.execute(
            "SELECT holder FROM reconciliation_lease").fetchone() == (None,)


def test_a_page_form_the_engine_refuses_once_is_retried(url: str) -> None:
    """The pages share the request's retry: an editor's triage form whose flag update
    the engine refuses once is stored once, with one confirmation."""
    app = create_app(Settings(db_path=url, reconcile_seconds=0))
    client = app.test_client()
    editor = editor_of(url)
    for source, count in (("Source A", 10), ("Source B", 50)):
        assert client.post("/api/v1/figures", json=figure(source=source, count=count),
                           headers=editor).status_code == 201
    assert full_run(url)[0]["status"] == "succeeded"
    (flag,) = client.get("/api/v1/flags?status=open&rule=disagreement").get_json()["items"]
    sign_in(client, editor["Authorization"].removeprefix("Bearer "))
    fail_writes(url, "flags", CODES["serialization_failure"], times=1, event="UPDATE")
    page = client.get("/flags").get_data(as_text=True)
    done = client.post(f"/flags/{flag['id']}", data={
        "status": "acknowledged", "note": "Both checked.", "csrf_token": csrf_from(page),
        "next": "/flags"})
    assert done.status_code == 302 and done.location == "/flags"
    assert writes_tried(url, "flags") == 2
    stored = client.get(f"/api/v1/flags/{flag['id']}").get_json()
    assert (stored["status"], stored["note"]) == ("acknowledged", "Both checked.")
    assert client.get("/flags").get_data(as_text=True).count(
        f"Flag {flag['id']} is acknowledged.") == 1


def test_a_serializable_server_default_causes_no_retry_of_our_own_writes(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    """`default_transaction_isolation = serializable` on the server: our write transactions
    still run at READ COMMITTED (engines.py), where the advisory lock that serialises them
    is enough, so concurrent posts, corrections of one figure and a run meet no
    serialization failure at all (none retried, none refused)."""
    with psycopg.connect(url, autocommit=True) as connection:
        name = connection.execute("SELECT current_database()").fetchone()[0]
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_isolation'
                           " = 'serializable'")
    engines.close_pool(url)  # new connections take the new default
    app = create_app(Settings(db_path=url, reconcile_seconds=0))
    editor = editor_of(url)
    shared = app.test_client().post("/api/v1/figures", json=figure(count=1), headers=editor)
    assert shared.status_code == 201
    shared_id = shared.get_json()["id"]
    writers, per_writer = 6, 15
    answers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        client = app.test_client()
        for number in range(per_writer):
            posted = client.post("/api/v1/figures", headers=editor, json=figure(
                source=f"Writer {writer}", count=100 * writer + number))
            corrected = client.patch(f"/api/v1/figures/{shared_id}", headers=editor,
                                     json={"notes": f"writer {writer}, correction {number}"})
            with lock:
                answers.extend((posted.status_code, corrected.status_code))

    def reconcile() -> None:
        for _ in range(3):
            assert full_run(url)[0]["status"] == "succeeded"

    def guarded(target, *args) -> None:  # noqa: ANN001
        try:
            target(*args)
        except BaseException as error:  # noqa: BLE001 - reported below
            with lock:
                errors.append(error)

    caplog.set_level(logging.INFO, logger="service.retry")
    threads = [threading.Thread(target=guarded, args=(write, w)) for w in range(writers)]
    threads.append(threading.Thread(target=guarded, args=(reconcile,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(set(answers)) == [200, 201]
    assert len(answers) == 2 * writers * per_writer
    assert count(url, "figures") == 1 + writers * per_writer
    with psycopg.connect(url) as connection:
        assert connection.execute("SHOW default_transaction_isolation").fetchone() == (
            "serializable",)
        assert connection.execute("SELECT version FROM figures WHERE id = %s",
                                  (shared_id,)).fetchone() == (1 + writers * per_writer,)
    assert [record.getMessage() for record in caplog.records] == []
