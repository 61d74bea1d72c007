"""Reconciliation end to end (API §6): figures posted over the API, the real run engine,
flags and their lifecycle, the report, incremental runs, runs over HTTP, health, the CLI.

The pure rules have their own tests (test_rules*.py); here every flag is the one a real run
stores from figures a client posted.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import assert_problem, figure
from flask import Flask
from flask.testing import FlaskClient

from service import db as service_db
from service import engines, store
from service.cli import main
from service.dbcopy import copy_database
from service.reconcile import run as run_engine

API = "/api/v1"
FIGURES = f"{API}/figures"
FLAGS = f"{API}/flags"
RUNS = f"{API}/reconciliation/runs"
REPORT = f"{API}/reconciliation/report"
CONFLICT = "testland-2024"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
FLAG_FIELDS = {"id", "rule", "severity", "conflict", "figure_ids", "explanation", "status",
               "note", "first_seen_run", "last_seen_run"}
ALPHA, BETA, GAMMA, DELTA = "Alpha Ministry", "Beta Command", "Gamma Monitor", "Delta Watch"


# --- helpers -----------------------------------------------------------------------------

def body(source: str, count: int, day: str, **fields: Any) -> dict[str, Any]:
    """A figure of CONFLICT given by `source` on `day` (as_of = reported_on unless set)."""
    return figure(conflict=CONFLICT, source=source, count=count, reported_on=day, **fields)


def post_batch(client: FlaskClient, editor: dict[str, str], bodies: list[dict]) -> list[int]:
    response = client.post(f"{FIGURES}/batch", json={"figures": bodies}, headers=editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    ids = response.get_json()["ids"]
    assert len(ids) == len(bodies)
    return ids


def post(client: FlaskClient, editor: dict[str, str], source: str, count: int, day: str,
         **fields: Any) -> int:
    response = client.post(FIGURES, json=body(source, count, day, **fields), headers=editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def correct(client: FlaskClient, editor: dict[str, str], figure_id: int, **changes: Any) -> None:
    response = client.patch(f"{FIGURES}/{figure_id}", json=changes, headers=editor)
    assert response.status_code == 200, response.get_data(as_text=True)


def retract(client: FlaskClient, editor: dict[str, str], figure_id: int) -> None:
    response = client.post(f"{FIGURES}/{figure_id}/retract", json={"reason": "withdrawn"},
                           headers=editor)
    assert response.status_code == 200, response.get_data(as_text=True)


def dispute(client: FlaskClient, editor: dict[str, str], figure_id: int, source: str,
            day: str) -> None:
    response = client.post(f"{FIGURES}/{figure_id}/disputes",
                           json={"source": source, "reported_on": day}, headers=editor)
    assert response.status_code == 201, response.get_data(as_text=True)


def reconcile(database: sqlite_utils.Database, full: bool = False) -> dict:
    """One run, synchronously, through the real engine; it must succeed."""
    queued = store.create_run(database, "test", full)
    finished = run_engine.execute(database, queued["id"], full=full)
    assert finished["status"] == "succeeded", finished
    assert finished["error"] is None
    return finished


def flags(client: FlaskClient, query: str = "") -> list[dict]:
    """Every flag matching the query, following next_cursor."""
    items: list[dict] = []
    cursor = None
    for _ in range(1000):
        page_query = query + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"{FLAGS}?{page_query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def only_flag(client: FlaskClient, query: str) -> dict:
    found = flags(client, query)
    assert len(found) == 1, found
    return found[0]


def patch_flag(client: FlaskClient, editor: dict[str, str], flag_id: int,
               **changes: Any) -> dict:
    response = client.patch(f"{FLAGS}/{flag_id}", json=changes, headers=editor)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def source_id(client: FlaskClient, name: str) -> int:
    response = client.get(f"{API}/sources?name={name}")
    assert response.status_code == 200
    (item,) = response.get_json()["items"]
    return item["id"]


def affiliate(client: FlaskClient, editor: dict[str, str], name: str,
              affiliation: str | None) -> None:
    response = client.patch(f"{API}/sources/{source_id(client, name)}",
                            json={"affiliation": affiliation}, headers=editor)
    assert response.status_code == 200, response.get_data(as_text=True)


def assert_sentence(explanation: str, *parts: str) -> None:
    """One plain sentence that names every part (sources, numbers, dates)."""
    assert "\n" not in explanation
    assert explanation[0].isupper() and explanation.endswith("."), explanation
    assert ". " not in explanation[:-1], explanation
    for part in parts:
        assert part in explanation, (part, explanation)


def flags_table(database: sqlite_utils.Database) -> list[tuple]:
    return database.execute(
        "SELECT rule, flag_key, status, figure_ids, severity, explanation FROM flags"
        " ORDER BY rule, flag_key").fetchall()


def summary(flag_list: list[dict]) -> set[tuple[str, tuple[int, ...]]]:
    return {(flag["rule"], tuple(flag["figure_ids"])) for flag in flag_list}


# --- every rule raises exactly its flag --------------------------------------------------

def scenario(client: FlaskClient, editor: dict[str, str]) -> dict[str, int]:
    """One series (or family) per rule; every other pair in them agrees."""
    names_and_bodies = [
        # disagreement, same day twice: one flag for the series and pair of sources
        ("a1", body(ALPHA, 100, "2024-03-01", category="military", side="North")),
        ("b1", body(BETA, 300, "2024-03-01", category="military", side="North")),
        ("a1b", body(ALPHA, 110, "2024-03-02", category="military", side="North")),
        ("b1b", body(BETA, 350, "2024-03-02", category="military", side="North")),
        # disagreement across time in a cumulative series; the later 600 agrees with both
        ("a2", body(ALPHA, 500, "2024-03-01", category="military", side="South")),
        ("b2", body(BETA, 400, "2024-03-05", category="military", side="South")),
        ("b2b", body(BETA, 600, "2024-03-10", category="military", side="South")),
        # decrease by one source; the later rise contradicts nothing
        ("c1", body(GAMMA, 1000, "2024-03-01", category="civilian", side="North")),
        ("c2", body(GAMMA, 900, "2024-03-10", category="civilian", side="North")),
        ("c3", body(GAMMA, 1100, "2024-03-20", category="civilian", side="North")),
        # duplicates: same numbers (low), different (medium), far apart (high)
        ("d1", body(ALPHA, 50, "2024-03-02", category="injured", side="North")),
        ("d2", body(ALPHA, 50, "2024-03-02", category="injured", side="North")),
        ("d3", body(ALPHA, 50, "2024-03-03", category="injured", side="North")),
        ("d4", body(ALPHA, 60, "2024-03-03", category="injured", side="North",
                    qualifier="about")),
        ("d5", body(ALPHA, 70, "2024-03-04", category="injured", side="North")),
        ("d6", body(ALPHA, 200, "2024-03-04", category="injured", side="North")),
        # part exceeds whole; a later part does not (the whole may have risen since)
        ("w1", body(ALPHA, 100, "2024-03-05", category="killed", side="East")),
        ("p1", body(BETA, 120, "2024-03-05", category="killed", side="East",
                    location="Harbor Town")),
        ("p2", body(GAMMA, 150, "2024-03-09", category="killed", side="East",
                    location="Hill Village")),
        # disputed (twice: still one flag)
        ("m1", body(ALPHA, 40, "2024-03-01", category="missing", side="North")),
    ]
    ids = post_batch(client, editor, [item for _, item in names_and_bodies])
    named = dict(zip([name for name, _ in names_and_bodies], ids, strict=True))
    dispute(client, editor, named["m1"], BETA, "2024-03-06")
    dispute(client, editor, named["m1"], GAMMA, "2024-03-07")
    return named


def test_every_rule_raises_exactly_its_flag(client: FlaskClient, editor: dict[str, str],
                                            database: sqlite_utils.Database) -> None:
    n = scenario(client, editor)
    finished = reconcile(database)
    assert finished["flags_opened"] == 8
    assert finished["flags_closed"] == 0
    assert finished["figures_checked"] == 20
    assert finished["series_checked"] == 8

    found = flags(client, f"conflict={CONFLICT}")
    assert summary(found) == {
        ("disagreement", (n["a1"], n["b1"], n["a1b"], n["b1b"])),
        ("disagreement", (n["a2"], n["b2"])),
        ("decrease", (n["c1"], n["c2"])),
        ("duplicate", (n["d1"], n["d2"])),
        ("duplicate", (n["d3"], n["d4"])),
        ("duplicate", (n["d5"], n["d6"])),
        ("part_exceeds_whole", (n["w1"], n["p1"])),
        ("disputed", (n["m1"],)),
    }
    by_ids = {tuple(flag["figure_ids"]): flag for flag in found}
    for flag in found:
        assert set(flag) >= FLAG_FIELDS
        assert flag["conflict"] == CONFLICT
        assert flag["status"] == "open"
        assert flag["note"] is None
        assert flag["first_seen_run"] == flag["last_seen_run"] == finished["id"]
        assert TIMESTAMP.fullmatch(flag["created_at"])

    def check(ids: tuple[int, ...], severity: str, *parts: str) -> None:
        flag = by_ids[ids]
        assert flag["severity"] == severity, flag
        assert_sentence(flag["explanation"], *parts)

    # The worst pair (350 against 110 on 2024-03-02, a gap of 218 %) sets severity and words.
    check((n["a1"], n["b1"], n["a1b"], n["b1b"]), "high",
          BETA, ALPHA, "350", "110", "2024-03-02")
    # 500 on 2024-03-01, then 400 on 2024-03-05: gap 100 / 400 = 25 %.
    check((n["a2"], n["b2"]), "medium", ALPHA, BETA, "500", "400", "2024-03-01",
          "2024-03-05")
    # 1,000 then 900: gap 100 / 900 = 11 %.
    check((n["c1"], n["c2"]), "medium", GAMMA, "1,000", "900", "2024-03-01", "2024-03-10")
    check((n["d1"], n["d2"]), "low", ALPHA, "50", "2024-03-02")
    check((n["d3"], n["d4"]), "medium", ALPHA, "50", "about 60", "2024-03-03")
    check((n["d5"], n["d6"]), "high", ALPHA, "70", "200", "2024-03-04")
    # 120 in Harbor Town against 100 for the whole: gap 20 %.
    check((n["w1"], n["p1"]), "medium", BETA, ALPHA, "120", "100", "Harbor Town",
          "2024-03-05")
    check((n["m1"],), "medium", ALPHA, BETA, GAMMA, "40", "2024-03-01", "2024-03-06",
          "2024-03-07")

    # One flag per the "one flag per" column: the keys name what §6 says.
    keys = dict(database.execute("SELECT id, flag_key FROM flags").fetchall())
    alpha, beta, gamma = (source_id(client, name) for name in (ALPHA, BETA, GAMMA))
    # 1.1: names folded in keys, and group closes the series fields.
    series = [CONFLICT, "military", "north", None, None, "people", None, None]
    assert json.loads(keys[by_ids[(n["a1"], n["b1"], n["a1b"], n["b1b"])]["id"]]) == \
        [*series, alpha, beta]
    assert json.loads(keys[by_ids[(n["c1"], n["c2"])]["id"]]) == \
        [CONFLICT, "civilian", "north", None, None, "people", None, None, gamma]
    assert json.loads(keys[by_ids[(n["d3"], n["d4"])]["id"]]) == \
        [CONFLICT, "injured", "north", None, None, "people", None, None, alpha, "2024-03-03"]
    assert json.loads(keys[by_ids[(n["w1"], n["p1"])]["id"]]) == [n["p1"], n["w1"]]
    assert json.loads(keys[by_ids[(n["m1"],)]["id"]]) == [n["m1"]]


def test_contradictions_in_other_units_and_ranges(client: FlaskClient, editor: dict[str, str],
                                                  database: sqlite_utils.Database) -> None:
    """Damage counted in buildings, and a stated range, contradict like any figure."""
    base = {"category": "damage", "unit": "buildings", "side": "North", "location": "Port"}
    low, high = post_batch(client, editor, [
        body(ALPHA, 20, "2024-03-01", count_high=30, **base),
        body(BETA, 31, "2024-03-01", **base),
    ])
    reconcile(database)
    flag = only_flag(client, f"conflict={CONFLICT}")
    assert (flag["rule"], flag["figure_ids"], flag["severity"]) == \
        ("disagreement", [low, high], "low")  # 31 against 30: gap 1 / 30 = 3 %
    assert_sentence(flag["explanation"], ALPHA, BETA, "20 to 30", "31", "buildings",
                    "Port", "2024-03-01")


# --- what raises no flag -----------------------------------------------------------------

def test_no_flag_edges(client: FlaskClient, editor: dict[str, str],
                       database: sqlite_utils.Database) -> None:
    period = "2024-03-01"
    ids = post_batch(client, editor, [
        # overlapping intervals: about 200 = [180, 220], 215, at least 150 = [150, ∞)
        body(ALPHA, 200, "2024-03-01", category="military", side="West", qualifier="about"),
        body(BETA, 215, "2024-03-01", category="military", side="West"),
        body(GAMMA, 150, "2024-03-01", category="military", side="West",
             qualifier="at_least"),
        # the about tolerance: about 100 = [90, 110] takes 110 and 90 ...
        body(ALPHA, 100, "2024-03-01", category="civilian", side="West", qualifier="about"),
        body(BETA, 110, "2024-03-01", category="civilian", side="West"),
        body(ALPHA, 100, "2024-03-01", category="civilian", side="East", qualifier="about"),
        body(GAMMA, 90, "2024-03-01", category="civilian", side="East"),
        # ... but not 111 (the control that proves the edge)
        body(ALPHA, 100, "2024-03-01", category="injured", side="West", qualifier="about"),
        body(BETA, 111, "2024-03-01", category="injured", side="West"),
        # a period count that rises, in one source and across sources, is no decrease
        # (1.1: every series counts up from its first day; 1.0 pinned a falling one here) ...
        body(ALPHA, 100, "2024-03-05", category="killed", side="West", period_start=period),
        body(ALPHA, 500, "2024-03-10", category="killed", side="West", period_start=period),
        body(BETA, 150, "2024-03-07", category="killed", side="West", period_start=period),
        # ... nor is a part dated after every whole it exceeds
        body(GAMMA, 900, "2024-03-11", category="killed", side="West", period_start=period,
             location="Ridge"),
        # a cumulative toll that rises, in one source and across sources, is no decrease
        body(ALPHA, 10, "2024-03-01", category="missing", side="West"),
        body(ALPHA, 20, "2024-03-02", category="missing", side="West"),
        body(BETA, 30, "2024-03-03", category="missing", side="West"),
        # a later part above an earlier whole is no contradiction in a cumulative family
        body(ALPHA, 10, "2024-03-01", category="missing", side="West", location="Ridge"),
        body(BETA, 25, "2024-03-03", category="missing", side="West", location="Ridge"),
    ])
    finished = reconcile(database)
    assert summary(flags(client, f"conflict={CONFLICT}")) == {
        ("disagreement", (ids[7], ids[8])),
    }
    assert finished["flags_opened"] == 1


def test_retracted_figures_take_part_in_no_rule(client: FlaskClient, editor: dict[str, str],
                                                database: sqlite_utils.Database) -> None:
    fields = {"category": "military", "side": "North"}
    ids = post_batch(client, editor, [
        body(ALPHA, 100, "2024-03-01", **fields),  # disagreement with 1
        body(BETA, 300, "2024-03-01", **fields),  # retracted
        body(ALPHA, 90, "2024-03-05", **fields),  # decrease from 0; retracted
        body(ALPHA, 100, "2024-03-01", **fields, location="Port"),  # part; retracted
        body(GAMMA, 500, "2024-03-01", category="missing", side="North"),  # disputed; retracted
    ])
    dispute(client, editor, ids[4], BETA, "2024-03-02")
    for figure_id in ids[1:]:
        retract(client, editor, figure_id)
    finished = reconcile(database)
    assert flags(client) == []
    assert finished["figures_checked"] == 1
    assert finished["flags_opened"] == 0


# --- the lifecycle -----------------------------------------------------------------------

def test_lifecycle_of_a_disagreement(client: FlaskClient, editor: dict[str, str],
                                     database: sqlite_utils.Database) -> None:
    fields = {"category": "military", "side": "North"}
    a, b = post_batch(client, editor, [body(ALPHA, 100, "2024-03-01", **fields),
                                       body(BETA, 300, "2024-03-01", **fields)])
    first = reconcile(database)
    assert (first["flags_opened"], first["flags_closed"]) == (1, 0)
    flag = only_flag(client, "rule=disagreement")
    flag_id = flag["id"]
    assert (flag["status"], flag["figure_ids"]) == ("open", [a, b])
    assert flag["first_seen_run"] == flag["last_seen_run"] == first["id"]

    # A rerun keeps id, status and first_seen_run, and advances last_seen_run.
    again = reconcile(database, full=True)
    assert (again["flags_opened"], again["flags_closed"]) == (0, 0)
    seen = client.get(f"{FLAGS}/{flag_id}").get_json()
    assert (seen["id"], seen["status"], seen["first_seen_run"], seen["last_seen_run"]) == \
        (flag_id, "open", first["id"], again["id"])

    # People's judgement: 200 with the whole object; a rerun leaves it.
    for status in ("acknowledged", "resolved"):
        changed = patch_flag(client, editor, flag_id, status=status, note=f"checked: {status}")
        assert changed == client.get(f"{FLAGS}/{flag_id}").get_json()
        assert set(changed) >= FLAG_FIELDS
        assert (changed["status"], changed["note"], changed["figure_ids"]) == \
            (status, f"checked: {status}", [a, b])
        rerun = reconcile(database, full=True)
        assert (rerun["flags_opened"], rerun["flags_closed"]) == (0, 0)
        kept = client.get(f"{FLAGS}/{flag_id}").get_json()
        assert (kept["status"], kept["note"], kept["last_seen_run"]) == \
            (status, f"checked: {status}", rerun["id"])

    # Corrected so the condition stops: obsolete, counted as closed.
    correct(client, editor, b, count=100)
    closing = reconcile(database)
    assert (closing["flags_opened"], closing["flags_closed"]) == (0, 1)
    assert client.get(f"{FLAGS}/{flag_id}").get_json()["status"] == "obsolete"
    assert reconcile(database, full=True)["flags_closed"] == 0  # obsolete stays, uncounted

    # Corrected back: the same flag opens again, counted as opened.
    correct(client, editor, b, count=300)
    reopening = reconcile(database)
    assert (reopening["flags_opened"], reopening["flags_closed"]) == (1, 0)
    reopened = client.get(f"{FLAGS}/{flag_id}").get_json()
    assert (reopened["id"], reopened["status"], reopened["figure_ids"]) == \
        (flag_id, "open", [a, b])
    assert (reopened["first_seen_run"], reopened["last_seen_run"]) == \
        (first["id"], reopening["id"])
    assert len(flags(client)) == 1

    # figure_ids change: an acknowledged flag opens again ...
    patch_flag(client, editor, flag_id, status="acknowledged", note="seen")
    c = post(client, editor, ALPHA, 90, "2024-03-01", **fields)
    grown = reconcile(database)
    assert grown["flags_opened"] == 2  # this flag, and Alpha's new duplicate
    moved = client.get(f"{FLAGS}/{flag_id}").get_json()
    assert (moved["status"], moved["figure_ids"]) == ("open", [a, b, c])
    assert moved["note"] == "seen"
    # ... and a resolved one too.
    patch_flag(client, editor, flag_id, status="resolved")
    d = post(client, editor, BETA, 310, "2024-03-01", **fields)
    grown = reconcile(database)
    assert grown["flags_opened"] == 2  # this flag, and Beta's new duplicate
    moved = client.get(f"{FLAGS}/{flag_id}").get_json()
    assert (moved["status"], moved["figure_ids"]) == ("open", [a, b, c, d])
    # An open flag whose figures change stays open and is not counted as opened again.
    e = post(client, editor, BETA, 320, "2024-03-01", **fields)
    grown = reconcile(database)
    assert grown["flags_opened"] == 0
    assert client.get(f"{FLAGS}/{flag_id}").get_json()["figure_ids"] == [a, b, c, d, e]
    assert {flag["id"] for flag in flags(client)} == {flag_id, *(
        flag["id"] for flag in flags(client, "rule=duplicate"))}

    # Retracting every Beta figure: the disagreement and Beta's duplicate become obsolete.
    for figure_id in (b, d, e):
        retract(client, editor, figure_id)
    gone = reconcile(database)
    assert (gone["flags_opened"], gone["flags_closed"]) == (0, 2)
    assert client.get(f"{FLAGS}/{flag_id}").get_json()["status"] == "obsolete"
    assert [flag["figure_ids"] for flag in flags(client, "status=open")] == [[a, c]]


def test_disputing_a_figure_raises_a_disputed_flag(client: FlaskClient,
                                                   editor: dict[str, str],
                                                   database: sqlite_utils.Database) -> None:
    target = post(client, editor, ALPHA, 12, "2024-03-01", category="missing", side="North")
    reconcile(database)
    assert flags(client) == []
    dispute(client, editor, target, BETA, "2024-03-03")
    finished = reconcile(database)
    assert finished["flags_opened"] == 1
    flag = only_flag(client, "rule=disputed")
    assert (flag["figure_ids"], flag["severity"], flag["status"]) == \
        ([target], "medium", "open")
    assert_sentence(flag["explanation"], ALPHA, BETA, "12", "2024-03-01", "2024-03-03")
    # A second dispute keeps the one flag (and its acknowledged status: same figure_ids).
    patch_flag(client, editor, flag["id"], status="acknowledged")
    dispute(client, editor, target, GAMMA, "2024-03-04")
    assert reconcile(database)["flags_opened"] == 0
    again = only_flag(client, "rule=disputed")
    assert (again["id"], again["status"]) == (flag["id"], "acknowledged")
    assert_sentence(again["explanation"], BETA, GAMMA, "2024-03-04")
    # Retracting the disputed figure makes the flag obsolete.
    retract(client, editor, target)
    assert reconcile(database)["flags_closed"] == 1
    assert only_flag(client, "rule=disputed")["status"] == "obsolete"


def test_patching_flags_refuses_what_people_may_not_set(
        client: FlaskClient, editor: dict[str, str], reader: dict[str, str],
        database: sqlite_utils.Database) -> None:
    fields = {"category": "military", "side": "North"}
    _, b = post_batch(client, editor, [body(ALPHA, 100, "2024-03-01", **fields),
                                       body(BETA, 300, "2024-03-01", **fields)])
    reconcile(database)
    flag = only_flag(client, "")
    before = client.get(f"{FLAGS}/{flag['id']}").get_json()
    for bad in ({"status": "obsolete"}, {"status": "open"}, {"status": "closed"},
                {"status": None}, {"status": 1}, {}, {"note": "x", "colour": "red"},
                {"note": "x" * 2001}):
        response = client.patch(f"{FLAGS}/{flag['id']}", json=bad, headers=editor)
        assert_problem(response, 422)
    assert_problem(client.patch(f"{FLAGS}/{flag['id']}", json={"status": "resolved"},
                                headers=reader), 403)
    assert_problem(client.patch(f"{FLAGS}/{flag['id']}", json={"status": "resolved"}), 401)
    assert client.get(f"{FLAGS}/{flag['id']}").get_json() == before

    assert_problem(client.get(f"{FLAGS}/999999"), 404)
    assert_problem(client.patch(f"{FLAGS}/999999", json={"status": "resolved"},
                                headers=editor), 404)

    correct(client, editor, b, count=100)
    reconcile(database)
    obsolete = client.get(f"{FLAGS}/{flag['id']}").get_json()
    assert obsolete["status"] == "obsolete"
    for status in ("acknowledged", "resolved"):
        assert_problem(client.patch(f"{FLAGS}/{flag['id']}", json={"status": status},
                                    headers=editor), 409)
    assert client.get(f"{FLAGS}/{flag['id']}").get_json() == obsolete


# --- listing flags -----------------------------------------------------------------------

def test_flag_filters_and_pages(client: FlaskClient, editor: dict[str, str],
                                database: sqlite_utils.Database) -> None:
    n = scenario(client, editor)
    other = post_batch(client, editor, [
        figure(conflict="otherland-2023", source=ALPHA, count=5, reported_on="2023-05-01",
               category="civilian", side="North"),
        figure(conflict="otherland-2023", source=BETA, count=50, reported_on="2023-05-01",
               category="civilian", side="North"),
    ])
    reconcile(database)
    # Make one obsolete (the decrease) and one acknowledged (the disputed).
    correct(client, editor, n["c2"], count=1000)
    reconcile(database)
    disputed = only_flag(client, "rule=disputed")
    patch_flag(client, editor, disputed["id"], status="acknowledged")

    everything = flags(client)
    assert len(everything) == 9
    assert [flag["id"] for flag in everything] == sorted(flag["id"] for flag in everything)
    statuses = [flag["status"] for flag in everything]
    assert (statuses.count("open"), statuses.count("obsolete"),
            statuses.count("acknowledged")) == (7, 1, 1)
    assert {flag["rule"] for flag in flags(client, "status=obsolete")} == {"decrease"}
    assert [flag["id"] for flag in flags(client, "status=acknowledged")] == [disputed["id"]]
    assert len(flags(client, "status=open")) == 7
    assert flags(client, "status=resolved") == []
    assert len(flags(client, "rule=duplicate")) == 3
    assert len(flags(client, "rule=disagreement")) == 3
    assert len(flags(client, "rule=decrease&status=open")) == 0
    assert summary(flags(client, "conflict=otherland-2023")) == {
        ("disagreement", tuple(other))}
    assert len(flags(client, f"conflict={CONFLICT}")) == 8
    assert flags(client, "conflict=nowhere") == []
    assert summary(flags(client, f"figure_id={n['a1']}")) == {
        ("disagreement", (n["a1"], n["b1"], n["a1b"], n["b1b"]))}
    assert summary(flags(client, f"figure_id={n['p1']}")) == {
        ("part_exceeds_whole", (n["w1"], n["p1"]))}
    assert flags(client, f"figure_id={n['c3']}") == []
    assert flags(client, f"figure_id={n['a1']}&rule=duplicate") == []

    # Pages of two, in id order, with every flag exactly once.
    paged: list[dict] = []
    response = client.get(f"{FLAGS}?limit=2")
    while True:
        page = response.get_json()
        assert len(page["items"]) <= 2
        paged += page["items"]
        if page["next_cursor"] is None:
            break
        response = client.get(f"{FLAGS}?limit=2&cursor={page['next_cursor']}")
    assert paged == everything
    for bad in ("status=closed", "rule=nonsense", "limit=0", "limit=1001", "figure_id=x",
                "cursor=garbage", "colour=red"):
        assert_problem(client.get(f"{FLAGS}?{bad}"), 422)


# --- the report --------------------------------------------------------------------------

def entry(report: dict, category: str, side: str, location: str | None = None) -> dict:
    matches = [series for series in report["series"] if series["category"] == category
               and series["side"] == side and series["location"] == location]
    assert len(matches) == 1, report["series"]
    return matches[0]


def source_entry(name: str, affiliation: str | None, figure_id: int, count: int,
                 qualifier: str, low: int, high: int | None, as_of: str) -> dict:
    return {"source": name, "affiliation": affiliation, "figure_id": figure_id,
            "count": count, "qualifier": qualifier, "low": low, "high": high, "as_of": as_of}


def sources_of(series: dict) -> list[dict]:
    keys = ("source", "affiliation", "figure_id", "count", "qualifier", "low", "high", "as_of")
    return sorted(({key: item[key] for key in keys} for item in series["sources"]),
                  key=lambda item: item["source"])


def get_report(client: FlaskClient, conflict: str = CONFLICT) -> dict:
    response = client.get(f"{REPORT}?conflict={conflict}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_report(client: FlaskClient, editor: dict[str, str],
                database: sqlite_utils.Database) -> None:
    civ = {"category": "civilian", "side": "North"}
    inj = {"category": "injured", "side": "North", "period_start": "2024-03-01"}
    mis = {"category": "missing", "side": "North"}
    south = {"category": "civilian", "side": "South"}
    named_bodies = [
        # a cumulative series: contested twice
        ("r1", body(ALPHA, 100, "2024-03-01", **civ)),
        ("r2", body(ALPHA, 120, "2024-03-05", **civ)),
        ("r3", body(BETA, 200, "2024-03-05", qualifier="about", **civ)),  # [180, 220]
        ("r4", body(GAMMA, 110, "2024-03-05", qualifier="at_least", **civ)),  # [110, ∞)
        ("r5", body(DELTA, 95, "2024-03-02", **civ)),
        # a period series: only duplicates; latest by as_of, then reported_on, then id
        ("s1", body(ALPHA, 49, "2024-03-03", **inj)),  # not current, highest low of Alpha
        ("s2", body(GAMMA, 50, "2024-03-06", as_of="2024-03-05", qualifier="about", **inj)),
        ("s3", body(GAMMA, 52, "2024-03-07", as_of="2024-03-05", qualifier="about", **inj)),
        ("s4", body(DELTA, 54, "2024-03-06", as_of="2024-03-05", qualifier="about", **inj)),
        ("s5", body(DELTA, 50, "2024-03-06", as_of="2024-03-05", qualifier="about", **inj)),
        # one source, latest unbounded
        ("t1", body(ALPHA, 10, "2024-03-01", **mis)),
        ("t2", body(ALPHA, 12, "2024-03-04", qualifier="more_than", **mis)),  # [13, ∞)
        # a part above its whole
        ("u1", body(BETA, 100, "2024-03-05", **south)),
        ("u2", body(GAMMA, 300, "2024-03-05", location="Harbor Town", **south)),
        # retracted only: absent
        ("v1", body(ALPHA, 3, "2024-03-01", category="damage", unit="bridges", side="North")),
    ]
    ids = post_batch(client, editor, [item for _, item in named_bodies])
    n = dict(zip([name for name, _ in named_bodies], ids, strict=True))
    retract(client, editor, n["v1"])
    affiliate(client, editor, ALPHA, "North")
    affiliate(client, editor, BETA, "South")
    finished = reconcile(database)

    report = get_report(client)
    assert set(report) >= {"conflict", "generated_at", "last_run", "series"}
    assert report["conflict"] == CONFLICT
    assert TIMESTAMP.fullmatch(report["generated_at"])
    assert report["last_run"] == client.get(f"{RUNS}/{finished['id']}").get_json()
    assert len(report["series"]) == 5  # the retracted-only series is absent
    assert not [series for series in report["series"] if series["category"] == "damage"]

    series_fields = ("conflict", "category", "side", "location", "incident", "unit",
                     "period_start", "as_of", "low", "high", "best", "independent_best",
                     "open_flags", "grade")

    def fields_of(series: dict) -> dict:
        return {key: series[key] for key in series_fields}

    cumulative = entry(report, "civilian", "North")
    assert fields_of(cumulative) == {
        "conflict": CONFLICT, "category": "civilian", "side": "North", "location": None,
        "incident": None, "unit": "people", "period_start": None, "as_of": "2024-03-05",
        "low": 180,  # Beta's about 200 is the largest low of all
        "high": 120,  # Alpha's 120 (Gamma's at least 110 is unbounded)
        "best": 120,  # median of 120, 200, 110
        "independent_best": 102.5,  # Gamma 110 and Delta 95
        "open_flags": 2,  # Alpha-Beta and Alpha-Delta disagreements
        "grade": "contested",
    }
    assert sources_of(cumulative) == [
        source_entry(ALPHA, "North", n["r2"], 120, "exact", 120, 120, "2024-03-05"),
        source_entry(BETA, "South", n["r3"], 200, "about", 180, 220, "2024-03-05"),
        source_entry(DELTA, None, n["r5"], 95, "exact", 95, 95, "2024-03-02"),
        source_entry(GAMMA, None, n["r4"], 110, "at_least", 110, None, "2024-03-05"),
    ]
    period = entry(report, "injured", "North")
    assert fields_of(period) == {
        "conflict": CONFLICT, "category": "injured", "side": "North", "location": None,
        "incident": None, "unit": "people", "period_start": "2024-03-01",
        "as_of": "2024-03-05",
        "low": 49,  # 1.1: every series rises, so Alpha's earlier 49 still holds
        "high": 55,  # about 50 = [45, 55]
        "best": 51,  # median of 50, 52, 54, 50
        "independent_best": 51,  # Gamma's latest 52 (reported later), Delta's 50 (later id)
        "open_flags": 2,  # two duplicates
        "grade": "corroborated",
    }
    assert sources_of(period) == [
        source_entry(ALPHA, "North", n["s1"], 49, "exact", 49, 49, "2024-03-03"),
        source_entry(DELTA, None, n["s5"], 50, "about", 45, 55, "2024-03-05"),
        source_entry(GAMMA, None, n["s3"], 52, "about", 46, 58, "2024-03-05"),
    ]
    single = entry(report, "missing", "North")
    assert fields_of(single) == {
        "conflict": CONFLICT, "category": "missing", "side": "North", "location": None,
        "incident": None, "unit": "people", "period_start": None, "as_of": "2024-03-04",
        "low": 13, "high": None,
        "best": 13,  # 1.1 point value: "more than 12" is 13
        "independent_best": None, "open_flags": 0,
        "grade": "single_source",
    }
    whole = entry(report, "civilian", "South")
    part = entry(report, "civilian", "South", "Harbor Town")
    assert (whole["grade"], whole["open_flags"], part["grade"], part["open_flags"]) == \
        ("contested", 1, "contested", 1)
    assert (part["low"], part["high"], part["best"], part["independent_best"]) == \
        (300, 300, 300, 300)
    assert (whole["independent_best"], whole["best"]) == (None, 100)
    assert sources_of(part) == [
        source_entry(GAMMA, None, n["u2"], 300, "exact", 300, 300, "2024-03-05")]

    # Before Alpha is affiliated, its latest figure counts as independent.
    affiliate(client, editor, ALPHA, None)
    assert entry(get_report(client), "injured", "North")["independent_best"] == 50
    assert entry(get_report(client), "missing", "North")["independent_best"] == 13
    affiliate(client, editor, ALPHA, "North")

    # Acknowledged disagreements still contest; resolved ones no longer do.
    disagreements = flags(client, f"rule=disagreement&figure_id={n['r2']}") + \
        flags(client, f"rule=disagreement&figure_id={n['r1']}")
    assert len(disagreements) == 2
    for flag in disagreements:
        patch_flag(client, editor, flag["id"], status="acknowledged")
    cumulative = entry(get_report(client), "civilian", "North")
    assert (cumulative["grade"], cumulative["open_flags"]) == ("contested", 0)
    for flag in disagreements:
        patch_flag(client, editor, flag["id"], status="resolved")
    cumulative = entry(get_report(client), "civilian", "North")
    assert (cumulative["grade"], cumulative["open_flags"]) == ("corroborated", 0)
    # The same for part_exceeds_whole.
    (pew,) = flags(client, "rule=part_exceeds_whole")
    patch_flag(client, editor, pew["id"], status="acknowledged")
    assert entry(get_report(client), "civilian", "South", "Harbor Town")["grade"] == \
        "contested"
    patch_flag(client, editor, pew["id"], status="resolved")
    report = get_report(client)
    assert entry(report, "civilian", "South", "Harbor Town")["grade"] == "single_source"
    assert entry(report, "civilian", "South")["grade"] == "single_source"
    # A duplicate acknowledged stops counting as open.
    duplicate = flags(client, f"rule=duplicate&figure_id={n['s2']}")[0]
    patch_flag(client, editor, duplicate["id"], status="acknowledged")
    assert entry(get_report(client), "injured", "North")["open_flags"] == 1

    assert get_report(client, "nowhere-2000")["series"] == []
    # 1.1: without `conflict` the report covers every conflict (no longer a 422).
    assert client.get(REPORT).get_json()["conflict"] is None
    assert_problem(client.get(f"{REPORT}?conflict=Not%20A%20Slug"), 422, "conflict")
    assert_problem(client.get(f"{REPORT}?conflict={CONFLICT}&colour=red"), 422)


def test_report_best_is_the_mean_of_the_middle_two(client: FlaskClient,
                                                   editor: dict[str, str]) -> None:
    fields = {"category": "killed", "side": "North", "qualifier": "about"}
    post_batch(client, editor, [body(ALPHA, 101, "2024-03-01", **fields),
                                body(BETA, 104, "2024-03-01", **fields)])
    (series,) = get_report(client)["series"]
    assert (series["best"], series["independent_best"]) == (102.5, 102.5)
    assert (series["low"], series["high"], series["grade"]) == (93, 112, "corroborated")
    assert get_report(client)["last_run"] is None  # no run yet


# --- incremental runs --------------------------------------------------------------------

def test_incremental_runs_check_only_changed_series(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    post_batch(client, editor, [
        body(ALPHA, 10, "2024-03-01", category="military", side="North"),
        body(BETA, 12, "2024-03-01", category="military", side="North", location="Port"),
        body(ALPHA, 20, "2024-03-01", category="civilian", side="North"),
        body(ALPHA, 30, "2024-03-01", category="civilian", side="South"),
    ])
    first = reconcile(database)
    assert (first["series_checked"], first["figures_checked"]) == (4, 4)
    idle = reconcile(database)
    assert (idle["series_checked"], idle["figures_checked"], idle["flags_opened"],
            idle["flags_closed"]) == (0, 0, 0, 0)
    new = post(client, editor, GAMMA, 11, "2024-03-02", category="military", side="North")
    one = reconcile(database)
    # figures_checked counts the figures of the series re-checked (the part in Port is
    # read to compare with its whole, but its series is not re-checked).
    assert (one["series_checked"], one["figures_checked"]) == (1, 2)
    assert reconcile(database)["series_checked"] == 0
    # A correction that moves a figure to another series re-checks both.
    correct(client, editor, new, side="South")
    assert reconcile(database)["series_checked"] == 2
    # A dispute, a retraction and a re-affiliation each mark their series.
    dispute(client, editor, new, ALPHA, "2024-03-03")
    assert reconcile(database)["series_checked"] == 1
    retract(client, editor, new)
    retracted = reconcile(database)
    assert (retracted["series_checked"], retracted["figures_checked"]) == (1, 0)
    affiliate(client, editor, BETA, "North")
    # BETA's part in Port is listed by a part_exceeds_whole flag that the whole's series
    # owns: that series is re-checked with it.
    assert reconcile(database)["series_checked"] == 2
    full = reconcile(database, full=True)  # a fifth series holds only the retracted figure
    assert (full["series_checked"], full["figures_checked"]) == (4, 4)


@contextmanager
def copied(database: sqlite_utils.Database, path: Path) -> Iterator[sqlite_utils.Database]:
    """A consistent copy of the whole database (WAL included) at `path`; on PostgreSQL, a
    new database on the same server, filled by `casualty-tracker copy`'s code, closed and
    dropped afterwards (its connections would otherwise pile up over a session)."""
    if not isinstance(database, engines.PgDatabase):
        target = sqlite3.connect(path)
        database.conn.backup(target)
        target.close()
        copy = service_db.connect(path)
        try:
            yield copy
        finally:
            copy.close()
        return
    name = f"copy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database.url, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    url = f"{database.url.rsplit('/', 1)[0]}/{name}"
    try:
        copy_database(database.url, url)
        copy = service_db.connect(url)
        try:
            yield copy
        finally:
            copy.close()
    finally:
        engines.close_pool(url)
        with psycopg.connect(database.url, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}"')


def random_changes(client: FlaskClient, editor: dict[str, str],
                   database: sqlite_utils.Database, rng: random.Random,
                   steps: int) -> Iterator[None]:
    """Random figures, corrections, retractions, disputes, judgements and affiliations."""
    sources = [ALPHA, BETA, GAMMA]
    days = [f"2024-03-{day:02d}" for day in range(1, 8)]
    qualifiers = ["exact", "exact", "about", "at_least", "at_most", "nearly", "more_than"]

    def random_body() -> dict:
        fields: dict[str, Any] = {
            "category": rng.choice(["military", "civilian"]),
            "side": rng.choice(["North", None]),
            "location": rng.choice([None, None, "Port", "Ridge"]),
            "qualifier": rng.choice(qualifiers),
        }
        if rng.random() < 0.3:
            fields["period_start"] = "2024-03-01"
        return body(rng.choice(sources), rng.randint(5, 60), rng.choice(days), **fields)

    active: list[int] = []
    for _ in range(steps):
        action = rng.choices(["add", "correct", "retract", "dispute", "judge", "affiliate"],
                             weights=[6, 3, 1, 1, 2, 1])[0]
        if action == "add" or len(active) < 4:
            active += post_batch(client, editor,
                                 [random_body() for _ in range(rng.randint(1, 3))])
        elif action == "correct":
            changes: dict[str, Any] = {"count": rng.randint(5, 60)}
            if rng.random() < 0.3:
                changes["location"] = rng.choice([None, "Port", "Ridge"])
            if rng.random() < 0.2:
                changes["category"] = rng.choice(["military", "civilian"])
            if rng.random() < 0.2:
                changes["source"] = rng.choice(sources)
            if rng.random() < 0.2:
                changes["reported_on"] = changes["as_of"] = rng.choice(days)
            if rng.random() < 0.15:
                changes["period_start"] = rng.choice([None, "2024-03-01"])
            if rng.random() < 0.15:
                changes["side"] = rng.choice(["North", None])
            correct(client, editor, rng.choice(active), **changes)
        elif action == "retract":
            target = rng.choice(active)
            retract(client, editor, target)
            active.remove(target)
        elif action == "dispute":
            target = rng.choice(active)
            owner = client.get(f"{FIGURES}/{target}").get_json()["source"]
            dispute(client, editor, target, rng.choice([s for s in sources if s != owner]),
                    rng.choice(days))
        elif action == "judge":
            open_flags = flags(client, "status=open")
            if open_flags:
                patch_flag(client, editor, rng.choice(open_flags)["id"],
                           status=rng.choice(["acknowledged", "resolved"]), note="judged")
        else:
            affiliate(client, editor, rng.choice(sources), rng.choice([None, "North"]))
        yield


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_full_and_incremental_runs_leave_identical_flags(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for _ in random_changes(client, editor, database, rng, 120):
        reconcile(database)
    incremental = flags_table(database)
    assert len(incremental) > 5
    statuses = {row[2] for row in incremental}
    assert "obsolete" in statuses and len(statuses) >= 3, statuses
    with copied(database, tmp_path / "copy.db") as copy:
        full = reconcile(copy, full=True)
        assert full["flags_opened"] == full["flags_closed"] == 0
        assert flags_table(copy) == incremental
    # The same, the other way round: the full run's database, run incrementally, is stable.
    assert reconcile(database)["series_checked"] == 0
    assert flags_table(database) == incremental


# --- runs over HTTP, health, CLI, seeds --------------------------------------------------

@pytest.fixture
def launcher(app: Flask) -> Iterator[Any]:
    before = set(threading.enumerate())
    runs = app.extensions["casualty_tracker_runs"]
    yield runs
    runs.shutdown()
    assert set(threading.enumerate()) <= before  # the run worker is gone


def wait_for_run(client: FlaskClient, location: str, seconds: float = 5.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(location)
        assert response.status_code == 200, response.get_data(as_text=True)
        current = response.get_json()
        if current["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return current
        time.sleep(0.02)


def test_post_run_starts_a_run_outside_the_request(
        client: FlaskClient, editor: dict[str, str], reader: dict[str, str],
        launcher: Any) -> None:
    fields = {"category": "military", "side": "North"}
    a, b = post_batch(client, editor, [body(ALPHA, 100, "2024-03-01", **fields),
                                       body(BETA, 300, "2024-03-01", **fields)])
    response = client.post(RUNS, headers=editor)
    assert response.status_code == 202, response.get_data(as_text=True)
    queued = response.get_json()
    assert queued["status"] in ("queued", "running")
    assert isinstance(queued["id"], int)
    assert queued["full"] is False
    assert response.headers["Location"].endswith(f"{RUNS}/{queued['id']}")
    done = wait_for_run(client, response.headers["Location"])
    assert done["status"] == "succeeded", done
    assert (done["series_checked"], done["figures_checked"], done["flags_opened"],
            done["flags_closed"], done["error"]) == (1, 2, 1, 0, None)
    assert TIMESTAMP.fullmatch(done["started_at"]) and TIMESTAMP.fullmatch(done["finished_at"])
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert summary(flags(client)) == {("disagreement", (a, b))}

    full = client.post(RUNS, json={"full": True}, headers=editor)
    assert full.status_code == 202
    assert full.get_json()["full"] is True
    done = wait_for_run(client, full.headers["Location"])
    assert (done["status"], done["full"], done["series_checked"]) == ("succeeded", True, 1)

    listed = client.get(RUNS).get_json()
    assert [run["id"] for run in listed["items"]] == [queued["id"], full.get_json()["id"]]
    assert listed["next_cursor"] is None
    assert [run["id"] for run in client.get(f"{RUNS}?status=succeeded").get_json()["items"]] \
        == [queued["id"], full.get_json()["id"]]
    assert client.get(f"{RUNS}?status=failed").get_json()["items"] == []
    health = client.get(f"{API}/health").get_json()
    assert health == {"status": "ok", "database": "ok", "scheduler": "off",
                      "last_run": client.get(full.headers["Location"]).get_json()}

    assert_problem(client.post(RUNS, headers=reader), 403)
    assert_problem(client.post(RUNS), 401)
    before = client.get(RUNS).get_json()["items"]
    for not_a_boolean in ("yes", 1, "true", None):
        assert_problem(client.post(RUNS, json={"full": not_a_boolean}, headers=editor), 422,
                       "full")
    assert_problem(client.post(RUNS, json={"fast": True}, headers=editor), 422, "fast")
    assert client.get(RUNS).get_json()["items"] == before  # a refused request starts nothing
    assert_problem(client.post(RUNS, json={"full": True, "colour": "red"}, headers=editor),
                   422)
    assert_problem(client.post(RUNS, json=[], headers=editor), 422)
    assert_problem(client.get(f"{RUNS}/999999"), 404)
    assert len(client.get(RUNS).get_json()["items"]) == 2  # refused posts made no run


def test_health_shows_the_latest_run(client: FlaskClient, editor: dict[str, str],
                                     database: sqlite_utils.Database) -> None:
    assert client.get(f"{API}/health").get_json()["last_run"] is None
    reconcile(database)
    latest = reconcile(database, full=True)
    health = client.get(f"{API}/health")
    assert health.status_code == 200
    assert health.get_json()["last_run"] == client.get(f"{RUNS}/{latest['id']}").get_json()
    assert health.get_json()["last_run"]["full"] is True


def test_cli_reconcile_prints_a_summary_by_rule(client: FlaskClient, editor: dict[str, str],
                                                runner: CliRunner, db_path: Path) -> None:
    scenario(client, editor)
    result = runner.invoke(main, ["reconcile", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("Run 1 succeeded: 8 series, 20 figures checked; "
                        "8 flags opened, 0 closed.")
    assert lines[1:] == ["  decrease: 1 open", "  disagreement: 2 open", "  disputed: 1 open",
                         "  duplicate: 3 open", "  part_exceeds_whole: 1 open"]
    result = runner.invoke(main, ["reconcile", "--full", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Run 2 succeeded (full): 8 series, 20 figures checked; 0 flags opened, 0 closed.")
    result = runner.invoke(main, ["reconcile", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Run 3 succeeded: 0 series, 0 figures checked; 0 flags opened, 0 closed.")
    runs = client.get(RUNS).get_json()["items"]
    assert [(run["trigger"], run["full"], run["status"]) for run in runs] == [
        ("cli", False, "succeeded"), ("cli", True, "succeeded"), ("cli", False, "succeeded")]


def test_seeded_airfield_claim_is_flagged_disputed(client: FlaskClient, runner: CliRunner,
                                                   db_path: Path) -> None:
    result = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["reconcile", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "  disputed: 1 open" in result.output.splitlines()
    damage = client.get(f"{FIGURES}?category=damage").get_json()["items"]
    (airfield,) = [item for item in damage if item["unit"] == "airfields"]
    assert airfield["source"] == "Vahram Poghosyan"
    (flag,) = flags(client, "rule=disputed")
    assert (flag["figure_ids"], flag["status"], flag["severity"], flag["conflict"]) == \
        ([airfield["id"]], "open", "medium", "nagorno-karabakh-2020")
    assert_sentence(flag["explanation"], "Vahram Poghosyan", "Azerbaijani officials",
                    "2020-10-04")
    # The seed article's other figures do not contradict one another.
    assert summary(flags(client)) == {("disputed", (airfield["id"],))}


# --- changes that land while a run reads -------------------------------------------------

def when_run_executes(database: sqlite_utils.Database, marker: str, action: Any) -> None:
    """Do `action` (a write through the API, on another connection) once, at the moment
    the run's connection starts the statement containing `marker`."""
    fired: list[bool] = []

    def trace(sql: str) -> None:
        if marker in sql and not fired:
            fired.append(True)
            action()

    database.conn.set_trace_callback(trace)


def test_a_figure_added_and_disputed_while_its_family_is_read(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    fields = {"category": "military", "side": "North"}
    x = post(client, editor, ALPHA, 10, "2024-03-01", **fields)
    added: list[int] = []

    def add_and_dispute() -> None:
        added.append(post(client, editor, BETA, 99, "2024-03-01", **fields))
        dispute(client, editor, added[0], GAMMA, "2024-03-02")

    # Between reading the family's figures and reading their disputes.
    when_run_executes(database, "SELECT d.figure_id", add_and_dispute)
    try:
        during = reconcile(database)
    finally:
        database.conn.set_trace_callback(None)
    assert added
    assert (during["figures_checked"], during["flags_opened"]) == (1, 0)
    after = reconcile(database)  # the family changed during the run: checked again
    assert (after["series_checked"], after["figures_checked"], after["flags_opened"]) == \
        (1, 2, 2)
    assert summary(flags(client)) == {("disagreement", (x, added[0])),
                                      ("disputed", (added[0],))}


def test_a_disputed_figure_moving_family_during_a_run_keeps_its_flag(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    x = post(client, editor, ALPHA, 10, "2024-03-01", category="military", side="North")
    dispute(client, editor, x, BETA, "2024-03-02")
    reconcile(database)
    flag = only_flag(client, "rule=disputed")
    patch_flag(client, editor, flag["id"], status="acknowledged", note="known claim")
    post(client, editor, GAMMA, 10, "2024-03-01", category="military", side="North")

    # x leaves its family (military → civilian) just before the run reads that family.
    when_run_executes(database, "SELECT f.id, f.source_id",
                      lambda: correct(client, editor, x, category="civilian"))
    try:
        during = reconcile(database)
    finally:
        database.conn.set_trace_callback(None)
    assert client.get(f"{FIGURES}/{x}").get_json()["category"] == "civilian"
    assert during["flags_closed"] == 0
    assert client.get(f"{FLAGS}/{flag['id']}").get_json()["status"] == "acknowledged"
    after = reconcile(database)
    assert (after["series_checked"], after["flags_opened"], after["flags_closed"]) == \
        (2, 0, 0)
    kept = client.get(f"{FLAGS}/{flag['id']}").get_json()
    assert (kept["status"], kept["note"], kept["figure_ids"], kept["last_seen_run"]) == \
        ("acknowledged", "known claim", [x], after["id"])
