"""Incremental runs at figure granularity (issue 10): a series that only gained figures
since the last run has them merged into its flags (rules.evaluate_additions) instead of
being re-checked whole, and after the run every flag field is still exactly what a full
run leaves, including the stored worst pair that the next merge starts from. Any other
change falls back to the whole-series check. Both engines."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from flask.testing import FlaskClient
from test_reconciliation import copied, correct, retract
from test_reconciliation_parts import (
    MOH,
    OCHA,
    UN,
    all_flags,
    body,
    post_batch,
    random_body,
    random_change,
    reconcile,
    undo_schema_4,
)

from service import db as service_db
from service import store
from service.reconcile import run as run_engine

FLAG_COLUMNS = ("id, rule, flag_key, series_key, conflict, severity, figure_ids, explanation,"
                " status, note, first_seen_run, worst_higher, worst_lower")


def stored_flags(database: sqlite_utils.Database) -> list[tuple]:
    """Every flag as stored (worst pair and owner included) with last_seen_run as the API
    shows it: the whole state the next run starts from."""
    rows = database.execute(f"SELECT {FLAG_COLUMNS} FROM flags ORDER BY id").fetchall()
    seen = {flag["id"]: flag["last_seen_run"] for flag in all_flags(database)}
    return [(*row, seen[row[0]]) for row in rows]


def additions_only(database: sqlite_utils.Database) -> int:
    """How many series the next run may merge new figures into."""
    return database.execute(
        "SELECT count(*) FROM dirty_series WHERE additions_only = 1").fetchone()[0]


def incremental_equals_full(database: sqlite_utils.Database, tmp_path: Path) -> list[tuple]:
    """Run incrementally; a full run on a copy taken before must leave the same flags,
    every stored column; return them."""
    with copied(database, tmp_path / f"copy-{random.random()}.db") as copy:
        reconcile(copy, full=True)
        expected = stored_flags(copy)
    reconcile(database)
    got = stored_flags(database)
    assert got == expected
    return got


def tied_body(rng: random.Random) -> dict[str, Any]:
    """Figures crowding a few series with few distinct numbers: many unions and ties."""
    fields: dict[str, Any] = {"category": rng.choice(["killed", "civilian"]),
                              "qualifier": rng.choice(["exact", "exact", "about", "at_most"])}
    if rng.random() < 0.3:
        fields["location"], fields["location_code"] = rng.choice(
            [("North Gaza", "PS-NG"), ("South Gaza", "PS-SG")])
    if rng.random() < 0.2:
        fields["period_start"] = "2025-03-03"
    return body(rng.choice([MOH, UN, OCHA]), rng.choice([10, 10, 20, 20, 30, 45]),
                f"2025-03-0{rng.randint(3, 5)}", **fields)


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_many_additions_between_runs_leave_what_a_full_run_leaves(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    active: list[int] = []
    merged_series = 0
    rules: set[str] = set()
    for step in range(24):
        for _ in range(rng.randint(1, 4)):  # a day of news: several batches of figures
            make = tied_body if rng.random() < 0.5 else random_body
            active += post_batch(client, editor,
                                 [make(rng) for _ in range(rng.randint(1, 6))])
        if rng.random() < 0.35:  # now and then a correction, retraction, dispute or judgement
            random_change(client, editor, rng, active)
        merged_series += additions_only(database)
        if step % 3 == 2:
            flags = incremental_equals_full(database, tmp_path)
        else:
            reconcile(database)
            flags = stored_flags(database)
        rules |= {flag[1] for flag in flags}
    incremental_equals_full(database, tmp_path)
    assert merged_series >= 40, merged_series
    assert {"disagreement", "decrease", "duplicate", "part_exceeds_whole",
            "parts_exceed_whole", "period_exceeds_toll"} <= rules, rules
    worst = [flag for flag in stored_flags(database) if flag[1] in ("disagreement", "decrease")]
    assert worst and all(flag[11] is not None and flag[12] is not None for flag in worst)


def test_a_correction_after_additions_rechecks_the_series_whole(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    low, high = post_batch(client, editor, [body(MOH, 10, "2025-03-03"),
                                            body(UN, 30, "2025-03-03")])
    reconcile(database)
    later = post_batch(client, editor, [body(OCHA, 10, "2025-03-04")])[0]
    assert additions_only(database) == 1
    correct(client, editor, high, count=10)  # no contradiction is left anywhere
    assert additions_only(database) == 0
    flags = incremental_equals_full(database, tmp_path)
    assert {(flag[1], flag[8]) for flag in flags} == {("disagreement", "obsolete")}
    # Additions after a correction, before a run, keep the series marked for a whole check.
    post_batch(client, editor, [body(UN, 50, "2025-03-05")])
    correct(client, editor, later, count=60)
    post_batch(client, editor, [body(MOH, 70, "2025-03-06")])
    assert additions_only(database) == 0
    incremental_equals_full(database, tmp_path)
    retract(client, editor, low)
    post_batch(client, editor, [body(OCHA, 5, "2025-03-06")])
    incremental_equals_full(database, tmp_path)


def test_additions_alone_can_close_a_sum_of_parts_and_a_period_flag(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    day = "2025-03-05"
    post_batch(client, editor, [
        body(MOH, 50, day, location_code="PS"),
        body(MOH, 30, day, category="civilian", location_code="PS"),
        body(MOH, 30, day, category="military", location_code="PS"),
        body(MOH, 100, day), body(MOH, 50, "2025-03-02"),
        body(MOH, 60, day, period_start="2025-03-03")])
    before = {flag[1]: flag for flag in incremental_equals_full(database, tmp_path)}
    assert before["parts_exceed_whole"][8] == before["period_exceeds_toll"][8] == "open"
    # A smaller civilian count the same day: the sum is 10 + 30 <= 50. A higher toll
    # before the period: H < L, which only `decrease` reports.
    post_batch(client, editor, [
        body(MOH, 10, day, category="civilian", location_code="PS"),
        body(MOH, 120, "2025-03-02")])
    assert additions_only(database) == 2
    after = {flag[1]: flag for flag in incremental_equals_full(database, tmp_path)}
    assert after["parts_exceed_whole"][8] == after["period_exceeds_toll"][8] == "obsolete"
    assert after["decrease"][8] == "open"


def test_a_flag_without_a_worst_pair_is_never_merged_into(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    """Flags written before schema 4 have no worst pair; the 0004 step marks their series
    for a whole re-check. Should one be met anyway, the run fails saying so rather than
    write a flag it cannot know to be exact, and the series stays dirty."""
    post_batch(client, editor, [body(MOH, 10, "2025-03-03"), body(UN, 30, "2025-03-03")])
    reconcile(database)
    database.execute("UPDATE flags SET worst_higher = NULL, worst_lower = NULL")
    database.conn.commit()
    post_batch(client, editor, [body(OCHA, 45, "2025-03-03"), body(MOH, 9, "2025-03-04")])
    failed = run_engine.execute(database, store.create_run(database, "test", False)["id"],
                                full=False)
    assert failed["status"] == "failed" and "no worst pair" in failed["error"]
    assert additions_only(database) == 1


def test_a_series_that_gains_many_figures_is_rechecked_whole(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    post_batch(client, editor, [body(MOH, 10, "2025-03-02"), body(UN, 12, "2025-03-02")])
    reconcile(database)
    rng = random.Random(5)
    count = run_engine.MERGE_PAIRS // 2 + 1  # new × series > MERGE_PAIRS, new > series / 4
    post_batch(client, editor, [body(rng.choice([MOH, UN, OCHA]), rng.randint(5, 40),
                                     f"2025-03-0{rng.randint(2, 6)}") for _ in range(count)])
    flags = incremental_equals_full(database, tmp_path)
    assert {flag[1] for flag in flags} >= {"disagreement", "decrease", "duplicate"}


def test_a_schema_3_database_is_upgraded_and_merged_into_exactly(tmp_path: Path) -> None:
    """The 0004 step: marks made before it count as whole changes, flags have no worst
    pair, and the runs after it still leave what a full run leaves."""
    path = tmp_path / "v3.db"
    database = service_db.connect(path)
    base = {field: None for field in store.FIGURE_INPUT_FIELDS} | {
        "conflict": "gaza-2024", "source": MOH, "category": "killed", "count": 10,
        "qualifier": "exact", "unit": "people", "reported_on": "2025-03-03",
        "as_of": "2025-03-03"}
    store.insert_figures(database, [base, {**base, "source": UN, "count": 30},
                                    {**base, "category": "civilian", "count": 1}])
    reconcile(database)  # nothing is dirty any more
    undo_schema_4(database)
    database.execute("PRAGMA user_version = 3")
    database.conn.commit()
    database.close()
    upgraded = service_db.connect(path)
    try:
        assert upgraded.execute("PRAGMA user_version").fetchone()[0] == service_db.SCHEMA_VERSION
        # The series owning the disagreement is marked for a whole re-check, no other.
        owner = upgraded.execute("SELECT series_key FROM flags").fetchone()[0]
        assert upgraded.execute("SELECT series_key, additions_only FROM dirty_series"
                                ).fetchall() == [(owner, 0)]
        assert upgraded.execute("SELECT count(*) FROM dirty_figures").fetchone()[0] == 0
        assert {row[0] for row in upgraded.execute("SELECT worst_higher FROM flags")} == {None}
        store.insert_figures(upgraded, [{**base, "source": OCHA, "count": 40}])
        assert additions_only(upgraded) == 0
        flags = incremental_equals_full(upgraded, tmp_path)
        assert all(flag[11] is not None for flag in flags)
        store.insert_figures(upgraded, [{**base, "source": UN, "count": 5,
                                         "reported_on": "2025-03-04", "as_of": "2025-03-04"}])
        assert additions_only(upgraded) == 1
        incremental_equals_full(upgraded, tmp_path)
    finally:
        upgraded.close()
