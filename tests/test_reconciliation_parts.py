"""Reconciliation 1.1 through the real app and engine (issue 10, API §6).

The contradictions real casualty reporting has (one test each, from the issue), dirty
marking that follows parts along place, category and group and period counts along their
cumulative toll, last_seen_run exactly as a full run leaves it, incremental == full on
random data with every dimension, the report without `conflict`, point values, the
figures export's open_flags kept exact, bad input refused at the door, and a run that
survives every edge of stored data.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import assert_problem, figure
from flask.testing import FlaskClient
from test_reconciliation import copied, correct, retract

from service import db as service_db
from service import store
from service.cli import main
from service.reconcile import run as run_engine

API = "/api/v1"
FIGURES = f"{API}/figures"
FLAGS = f"{API}/flags"
REPORT = f"{API}/reconciliation/report"
CONFLICT = "gaza-2024"
MOH, UN, OCHA = "Ministry of Health", "UN OCHA", "Monitor Group"
FLAG_FIELDS = ("id", "rule", "severity", "conflict", "figure_ids", "explanation", "status",
               "note", "first_seen_run", "last_seen_run")


def body(source: str, count: int, day: str, **fields: Any) -> dict[str, Any]:
    defaults = {"conflict": CONFLICT, "category": "killed", "side": None}
    return figure(**{**defaults, "source": source, "count": count, "reported_on": day,
                     **fields})


def post_batch(client: FlaskClient, editor: dict[str, str], bodies: list[dict]) -> list[int]:
    response = client.post(f"{FIGURES}/batch", json={"figures": bodies}, headers=editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["ids"]


def reconcile(database: sqlite_utils.Database, full: bool = False) -> dict:
    finished = run_engine.execute(database, store.create_run(database, "test", full)["id"],
                                  full=full)
    assert (finished["status"], finished["error"]) == ("succeeded", None), finished
    return finished


def all_flags(database: sqlite_utils.Database) -> list[dict]:
    """Every flag as the API shows it (last_seen_run included), by id."""
    return store.list_flags(database, {}, after_id=0, limit=1_000_000)


def open_flags(database: sqlite_utils.Database) -> set[tuple[str, tuple[int, ...]]]:
    return {(flag["rule"], tuple(flag["figure_ids"])) for flag in all_flags(database)
            if flag["status"] == "open"}


def only(database: sqlite_utils.Database, rule: str) -> dict:
    (flag,) = [flag for flag in all_flags(database)
               if flag["rule"] == rule and flag["status"] != "obsolete"]
    return flag


def full_run_would_leave(database: sqlite_utils.Database, tmp_path: Path) -> list[dict]:
    """The flags a full run leaves on a copy of the database taken now."""
    with copied(database, tmp_path / f"copy-{random.random()}.db") as copy:  # either engine
        reconcile(copy, full=True)
        return all_flags(copy)


def incremental_equals_full(database: sqlite_utils.Database, tmp_path: Path) -> list[dict]:
    """Run incrementally and check that a full run from the same state leaves the very
    same flags, every field (last_seen_run included); return them."""
    expected = full_run_would_leave(database, tmp_path)
    reconcile(database)
    got = all_flags(database)
    assert [{k: f[k] for k in FLAG_FIELDS} for f in got] == \
        [{k: f[k] for k in FLAG_FIELDS} for f in expected]
    return got


# --- the contradictions of the issue, one each ----------------------------------------------

def test_a_count_since_the_ceasefire_cannot_fall(client: FlaskClient, editor: dict[str, str],
                                                 database: sqlite_utils.Database) -> None:
    since = {"period_start": "2025-01-19"}
    a, b = post_batch(client, editor, [body(MOH, 1259, "2025-02-01", **since),
                                       body(MOH, 1100, "2025-02-04", **since)])
    reconcile(database)
    flag = only(database, "decrease")
    assert (flag["figure_ids"], flag["severity"]) == ([a, b], "medium")  # 159 / 1,100
    assert flag["explanation"] == (
        "Ministry of Health reported 1,259 deaths from 2025-01-19 to 2025-02-01, but 1,100 "
        "from 2025-01-19 to 2025-02-04 — a count since 2025-01-19 cannot fall.")


def test_civilians_of_an_incident_cannot_exceed_its_dead(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    strike = {"incident": "Market strike", "location": "Deir al-Balah"}
    whole, part = post_batch(client, editor, [
        body(UN, 5, "2025-03-02", **strike),
        body(MOH, 31, "2025-03-02", category="civilian", **strike)])
    reconcile(database)
    flag = only(database, "part_exceeds_whole")
    assert (flag["figure_ids"], flag["severity"]) == ([whole, part], "high")
    assert flag["explanation"] == (
        "Ministry of Health reported 31 civilian deaths in Deir al-Balah (incident: Market "
        "strike) as of 2025-03-02, but UN OCHA reported 5 deaths in Deir al-Balah (incident: "
        "Market strike) as of 2025-03-02 — a part cannot exceed its whole.")


def test_regions_of_one_source_cannot_add_up_to_more_than_its_country(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    day = "2025-03-10"
    whole, north, south, town = post_batch(client, editor, [
        body(MOH, 1696, day, location_code="PS"),
        body(MOH, 900, day, location="North Gaza", location_code="PS-NG"),
        body(MOH, 804, day, location="South Gaza", location_code="ps-sg"),
        # inside North Gaza: not summed (its region already is)
        body(MOH, 800, day, location="Jabalia", location_code="PS-NG1")])
    reconcile(database)
    flag = only(database, "parts_exceed_whole")
    assert (flag["figure_ids"], flag["severity"]) == ([whole, north, south], "low")
    assert "1,704" in flag["explanation"] and "1,696" in flag["explanation"]
    assert flag["explanation"].startswith(
        "Ministry of Health reported 900 deaths in North Gaza (PS-NG) and 804 deaths in South "
        "Gaza (ps-sg) as of 2025-03-10, together at least 1,704, but 1,696 deaths in place PS")
    assert town not in flag["figure_ids"]
    # parts_exceed_whole contests the series it lists (API §6 grade).
    report = client.get(f"{REPORT}?conflict={CONFLICT}").get_json()
    grades = {series["location"]: series["grade"] for series in report["series"]}
    assert grades == {None: "contested", "North Gaza": "contested",
                      "South Gaza": "contested", "Jabalia": "single_source"}


def test_a_day_cannot_count_more_than_the_toll_rose(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    before, after, day = post_batch(client, editor, [
        body(MOH, 44_000, "2025-03-17"),
        body(MOH, 44_100, "2025-03-18"),
        body(MOH, 786, "2025-03-18", period_start="2025-03-18")])
    reconcile(database)
    flag = only(database, "period_exceeds_toll")
    assert (flag["figure_ids"], flag["severity"]) == ([before, after, day], "high")
    assert flag["explanation"] == (
        "Ministry of Health reported 786 deaths on 2025-03-18, but its own cumulative toll "
        "rose from 44,000 as of 2025-03-17 to 44,100 as of 2025-03-18, leaving room for at "
        "most 100 — a period cannot count more than the toll rose.")


def test_more_than_350_is_a_best_of_351(client: FlaskClient, editor: dict[str, str]) -> None:
    post_batch(client, editor, [body(MOH, 350, "2025-03-01", qualifier="more_than"),
                                body(UN, 20, "2025-03-01", qualifier="fewer_than",
                                     category="military")])
    report = client.get(f"{REPORT}?conflict={CONFLICT}").get_json()
    by_category = {series["category"]: series for series in report["series"]}
    assert (by_category["killed"]["low"], by_category["killed"]["best"]) == (351, 351)
    assert by_category["killed"]["independent_best"] == 351
    assert (by_category["military"]["high"], by_category["military"]["best"]) == (19, 19)


def test_a_run_that_changed_nothing_still_moves_last_seen_run(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    a, b, c, d = post_batch(client, editor, [body(MOH, 100, "2025-03-01"),
                                             body(UN, 50, "2025-03-01"),
                                             body(MOH, 10, "2025-03-02", location="Rafah"),
                                             body(UN, 5, "2025-03-03", location="Rafah")])
    first = reconcile(database)["id"]
    assert {flag["last_seen_run"] for flag in all_flags(database)} == {first}
    second = reconcile(database)
    assert second["series_checked"] == 0
    assert {flag["last_seen_run"] for flag in all_flags(database)} == {second["id"]}
    assert {flag["first_seen_run"] for flag in all_flags(database)} == {first}
    # A flag that stops holding keeps the last run after which it held.
    retract(client, editor, b)
    flags = incremental_equals_full(database, tmp_path)
    (closed,) = [flag for flag in flags if flag["status"] == "obsolete"]
    assert (closed["rule"], closed["last_seen_run"]) == ("disagreement", second["id"])
    assert {f["last_seen_run"] for f in flags if f["status"] != "obsolete"} == \
        {second["id"] + 1}
    assert all(flag["status"] != "obsolete" for flag in flags if c in flag["figure_ids"]
               or d in flag["figure_ids"] or a in flag["figure_ids"] and b not in
               flag["figure_ids"])


# --- dirty marking follows the new dimensions --------------------------------------------

def test_a_corrected_killed_figure_rechecks_its_civilian_and_military_parts(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    whole, civilian, military = post_batch(client, editor, [
        body(UN, 100, "2025-03-01"), body(MOH, 60, "2025-03-01", category="civilian"),
        body(MOH, 30, "2025-03-01", category="military")])
    reconcile(database)
    assert open_flags(database) == set()
    correct(client, editor, whole, count=50)  # only the killed series is dirty
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == {("part_exceeds_whole", (whole, civilian))}
    correct(client, editor, whole, count=500)
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == set()
    assert military


def test_a_new_part_rechecks_its_wholes_sum_and_pair(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    (whole,) = post_batch(client, editor, [body(MOH, 100, "2025-03-01")])
    (children,) = post_batch(client, editor, [body(MOH, 60, "2025-03-01", group="children")])
    reconcile(database)
    assert open_flags(database) == set()
    (women,) = post_batch(client, editor, [body(MOH, 50, "2025-03-01", group="women")])
    incremental_equals_full(database, tmp_path)  # only the women's series is dirty
    assert open_flags(database) == {("parts_exceed_whole", (whole, children, women))}
    retract(client, editor, children)  # a part gone: the whole's flag closes
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == set()


def test_a_changed_toll_rechecks_its_period_counts(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    before, after, day = post_batch(client, editor, [
        body(MOH, 1000, "2025-03-17"), body(MOH, 1500, "2025-03-18"),
        body(MOH, 300, "2025-03-18", period_start="2025-03-18")])
    reconcile(database)
    assert open_flags(database) == set()
    correct(client, editor, after, count=1100)  # only the cumulative series is dirty
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == {("period_exceeds_toll", (before, after, day))}
    (lower,) = post_batch(client, editor, [body(MOH, 1050, "2025-03-19")])
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == {("period_exceeds_toll", (before, day, lower)),
                                    ("decrease", (after, lower))}


def test_a_whole_with_a_code_rechecks_the_places_inside_it(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    region, inner = post_batch(client, editor, [
        body(UN, 80, "2025-03-01", location="Gaza Governorate", location_code="PS-GZ"),
        body(MOH, 60, "2025-03-01", location="Shati camp", location_code="PS-GZ3")])
    reconcile(database)
    assert open_flags(database) == set()
    correct(client, editor, region, count=40)
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == {("part_exceeds_whole", (region, inner))}
    correct(client, editor, inner, location_code="PS-KY1")  # no longer inside
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == set()


def test_a_moved_figure_closes_the_flags_of_its_old_family(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    whole, part = post_batch(client, editor, [body(UN, 5, "2025-03-01"),
                                              body(MOH, 31, "2025-03-01", category="civilian")])
    reconcile(database)
    assert open_flags(database) == {("part_exceeds_whole", (whole, part))}
    correct(client, editor, part, category="injured")
    incremental_equals_full(database, tmp_path)
    assert open_flags(database) == set()


# --- incremental == full on random data with every dimension -------------------------------

def random_body(rng: random.Random) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "category": rng.choice(["killed", "killed", "civilian", "military"]),
        "side": rng.choice([None, "North", " NORTH "]),
        "qualifier": rng.choice(["exact", "exact", "about", "at_least", "at_most",
                                 "more_than", "fewer_than"]),
    }
    place = rng.choice([None, None, ("North Gaza", "PS-NG"), ("South Gaza", "PS-SG"),
                        ("Jabalia", "ps-ng1"), (None, "PS"), ("Rafah", None)])
    if place:
        fields["location"], fields["location_code"] = place
    if rng.random() < 0.3:
        fields["group"] = rng.choice(["children", "women", "men", "elderly"])
    day = rng.randint(3, 5)
    if rng.random() < 0.25:
        fields["period_start"] = f"2025-03-0{rng.randint(2, day)}"
    return body(rng.choice([MOH, MOH, UN, OCHA]), rng.randint(0, 60), f"2025-03-0{day}",
                **fields)


def random_change(client: FlaskClient, editor: dict[str, str], rng: random.Random,
                  active: list[int]) -> None:
    action = rng.choices(["add", "parts", "correct", "retract", "dispute", "judge"],
                         weights=[6, 1, 4, 1, 1, 1])[0]
    if action == "parts":  # a whole and two disjoint parts, from one source on one day
        dimension = rng.choice([
            [{"category": "civilian"}, {"category": "military"}],
            [{"group": "children"}, {"group": "women"}],
            [{"location": "North Gaza", "location_code": "PS-NG"},
             {"location": "South Gaza", "location_code": "PS-SG"}]])
        day, source = f"2025-03-0{rng.randint(3, 5)}", rng.choice([MOH, UN])
        active += post_batch(client, editor, [
            body(source, rng.randint(10, 60), day, location_code="PS"),
            *(body(source, rng.randint(5, 35), day, **part) for part in dimension)])
    elif action == "add" or len(active) < 5:
        active += post_batch(client, editor, [random_body(rng)
                                              for _ in range(rng.randint(1, 3))])
    elif action == "correct":
        target = rng.choice(active)
        current = client.get(f"{FIGURES}/{target}").get_json()
        changes: dict[str, Any] = {"count": rng.randint(0, 60)}
        other = random_body(rng)
        for name in ("category", "location", "location_code", "group", "source"):
            if rng.random() < 0.2 and name in other:
                changes[name] = other[name]
        if rng.random() < 0.15 and current["period_start"] is None:
            changes["period_start"] = "2025-03-02"
        correct(client, editor, target, **changes)
    elif action == "retract":
        target = rng.choice(active)
        retract(client, editor, target)
        active.remove(target)
    elif action == "dispute":
        target = rng.choice(active)
        owner = client.get(f"{FIGURES}/{target}").get_json()["source"]
        client.post(f"{FIGURES}/{target}/disputes", headers=editor, json={
            "source": rng.choice([s for s in (MOH, UN, OCHA) if s != owner]),
            "reported_on": "2025-03-09"})
    else:
        candidates = [f for f in client.get(f"{FLAGS}?status=open&limit=1000").get_json()[
            "items"]]
        if candidates:
            client.patch(f"{FLAGS}/{rng.choice(candidates)['id']}", headers=editor,
                         json={"status": rng.choice(["acknowledged", "resolved"])})


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_incremental_runs_equal_full_runs_with_every_dimension(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    active: list[int] = []
    rules: set[str] = set()
    statuses: set[str] = set()
    for step in range(40):
        for _ in range(rng.randint(1, 3)):
            random_change(client, editor, rng, active)
        if step % 4 == 3:
            flags = incremental_equals_full(database, tmp_path)
        else:
            reconcile(database)
            flags = all_flags(database)
        rules |= {flag["rule"] for flag in flags}
        statuses |= {flag["status"] for flag in flags}
    incremental_equals_full(database, tmp_path)
    assert {"disagreement", "part_exceeds_whole", "parts_exceed_whole"} <= rules, rules
    assert {"open", "obsolete"} <= statuses, statuses


# --- the figures export's open_flags --------------------------------------------------------

def test_open_flags_in_the_export_follow_runs_and_people(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    a, b, c = post_batch(client, editor, [body(MOH, 100, "2025-03-01"),
                                          body(UN, 50, "2025-03-01"),
                                          body(OCHA, 40, "2025-03-01")])

    def exported() -> dict[int, int]:
        text = client.get(f"{API}/exports/figures.csv?status=all").get_data(as_text=True)
        return {int(row["id"]): int(row["open_flags"]) for row in csv.DictReader(io.StringIO(text))}

    def counted() -> dict[int, int]:
        return {figure_id: sum(1 for flag in all_flags(database) if flag["status"] == "open"
                               and figure_id in flag["figure_ids"]) for figure_id in (a, b, c)}

    assert exported() == {a: 0, b: 0, c: 0}
    reconcile(database)
    assert exported() == counted() == {a: 2, b: 2, c: 2}  # 100, 50, 40: three pairs
    flag = next(f for f in all_flags(database) if f["figure_ids"] == [a, b])
    response = client.patch(f"{FLAGS}/{flag['id']}", json={"status": "acknowledged"},
                            headers=editor)
    assert response.status_code == 200
    assert exported() == counted() == {a: 1, b: 1, c: 2}
    retract(client, editor, c)
    reconcile(database)
    assert exported() == counted() == {a: 0, b: 0, c: 0}
    correct(client, editor, b, count=10)  # the acknowledged flag's figures stay; still judged
    reconcile(database)
    assert exported() == counted()


def undo_schema_4(db: sqlite_utils.Database) -> None:
    """Take back what the 0004 step adds, so a database made now has schema 3's shape."""
    db.execute("DROP TABLE dirty_figures")
    for table, column in (("dirty_series", "additions_only"), ("flags", "worst_higher"),
                          ("flags", "worst_lower")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def test_schema_2_databases_get_open_flags_counted(tmp_path: Path) -> None:
    """The 0003 step fills figures.open_flags from the flags already there."""
    from service.migrations import steps

    path = tmp_path / "v2.db"
    db = service_db.connect(path)
    base = {"conflict": CONFLICT, "category": "killed", "side": None, "location": None,
            "location_code": None, "group": None, "incident": None, "count_high": None,
            "qualifier": "exact", "unit": "people", "reported_on": "2025-03-01",
            "as_of": "2025-03-01", "period_start": None, "via": None, "quote": None,
            "url": None, "notes": None}
    a, b = store.insert_figures(db, [{**base, "source": MOH, "count": 10},
                                     {**base, "source": UN, "count": 20}])
    reconcile(db)
    for name in ("flags_open_status",):
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE figures SET open_flags = 0")
    db.execute("ALTER TABLE figures DROP COLUMN open_flags")
    undo_schema_4(db)
    db.execute("PRAGMA user_version = 2")
    db.conn.commit()
    db.close()
    upgraded = service_db.connect(path)
    try:
        assert upgraded.execute("PRAGMA user_version").fetchone()[0] == steps()[-1].version
        assert dict(upgraded.execute("SELECT id, open_flags FROM figures").fetchall()) == \
            {a: 1, b: 1}
        triggers = {row[0] for row in upgraded.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {"flags_open_status"}
    finally:
        upgraded.close()


# --- the report without `conflict` ---------------------------------------------------------

def test_the_report_without_conflict_covers_every_conflict(
        client: FlaskClient, editor: dict[str, str], runner: CliRunner, db_path: Path) -> None:
    post_batch(client, editor, [body(MOH, 100, "2025-03-01"),
                                body(UN, 7, "2025-03-01", conflict="sudan-2023",
                                     location="El Fasher", group="children")])
    report = client.get(REPORT).get_json()
    assert report["conflict"] is None
    assert [(s["conflict"], s["group"]) for s in report["series"]] == [
        (CONFLICT, None), ("sudan-2023", "children")]
    one = client.get(f"{REPORT}?conflict=sudan-2023").get_json()
    assert one["conflict"] == "sudan-2023" and len(one["series"]) == 1
    response = client.get(f"{API}/exports/report.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["conflict"] for row in rows] == [CONFLICT, "sudan-2023"]
    assert "report-all-" in response.headers["Content-Disposition"]
    result = runner.invoke(main, ["export", "report", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert [row["conflict"] for row in csv.DictReader(io.StringIO(result.stdout))] == \
        [CONFLICT, "sudan-2023"]


def test_report_names_are_spelled_as_in_the_oldest_figure(
        client: FlaskClient, editor: dict[str, str]) -> None:
    post_batch(client, editor, [body(MOH, 10, "2025-03-01", side="North", location="Rafah"),
                                body(UN, 12, "2025-03-02", side=" NORTH", location="RAFAH")])
    (series,) = client.get(f"{REPORT}?conflict={CONFLICT}").get_json()["series"]
    assert (series["side"], series["location"], series["figure_count"]) == \
        ("North", "Rafah", 2)


# --- bad input and every edge a run can meet -----------------------------------------------

@pytest.mark.parametrize(("fields", "field"), [
    ({"category": "damage", "unit": "buildings", "group": "children"}, "group"),
    ({"period_start": "2025-03-05"}, "period_start"),
])
def test_parts_and_periods_that_make_no_sense_are_refused(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        fields: dict[str, Any], field: str) -> None:
    response = client.post(FIGURES, json=body(MOH, 5, "2025-03-04", **fields), headers=editor)
    assert_problem(response, 422, field)
    assert store.count_figures(database) == 0


def test_a_run_survives_every_edge_of_stored_data(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path) -> None:
    """Unbounded highs, zero counts, lone figures, empty and odd codes, periods starting
    after as_of (written before validation existed): a run reports, never fails."""
    ids = post_batch(client, editor, [
        body(MOH, 0, "2025-03-01"), body(UN, 0, "2025-03-01", qualifier="fewer_than"),
        body(MOH, 5, "2025-03-01", qualifier="at_least"),
        body(MOH, 0, "2025-03-01", category="civilian", qualifier="more_than"),
        body(MOH, 0, "2025-03-01", category="military"),
        body(MOH, 3, "2025-03-01", location="Rafah", location_code="PS-RF"),
        body(MOH, 9, "2025-03-01", location="Khan Younis", location_code="PS-KY"),
        body(OCHA, 1, "2025-03-01", group="children", qualifier="at_most"),
        body(OCHA, 1_000_000_000, "2025-03-02", incident="alone"),
        body(MOH, 2, "2025-03-02", period_start="2025-03-01"),
    ])
    database.execute("UPDATE figures SET location_code = '' WHERE id = ?", (ids[5],))
    database.execute("UPDATE figures SET period_start = '2025-03-09' WHERE id = ?",
                     (ids[9],))
    database.conn.commit()
    finished = reconcile(database, full=True)
    assert finished["figures_checked"] == len(ids)
    incremental_equals_full(database, tmp_path)
    assert client.get(REPORT).status_code == 200
