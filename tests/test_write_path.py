"""The faster write path keeps every version (API §4): a new figure is its own version 1
until it first changes, and then that version is kept exactly as the figure stood."""

from __future__ import annotations

import sqlite_utils
from conftest import figure
from flask.testing import FlaskClient

FIGURES = "/api/v1/figures"


def test_a_figure_never_changed_is_its_own_version_1(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    stored = client.post(FIGURES, json=figure(via="AFP"), headers=editor).get_json()
    assert database.execute("SELECT count(*) FROM figure_versions").fetchone()[0] == 0
    history = client.get(f"{FIGURES}/{stored['id']}/history").get_json()
    assert history == {"items": [stored | {"change": "created",
                                           "recorded_at": stored["created_at"]}],
                       "next_cursor": None}


def test_the_first_correction_keeps_version_1_as_it_stood(
        client: FlaskClient, editor: dict[str, str]) -> None:
    stored = client.post(FIGURES, json=figure(location_code="AZ"), headers=editor).get_json()
    before = client.get(f"{FIGURES}/{stored['id']}").get_json()
    first = client.patch(f"{FIGURES}/{stored['id']}", json={"count": 25}, headers=editor)
    second = client.patch(f"{FIGURES}/{stored['id']}", json={"count": 30}, headers=editor)
    assert (first.status_code, second.status_code) == (200, 200)
    history = client.get(f"{FIGURES}/{stored['id']}/history").get_json()["items"]
    assert history[0] == before | {"change": "created", "recorded_at": before["created_at"]}
    assert [(v["version"], v["change"], v["count"]) for v in history] == [
        (1, "created", 22), (2, "corrected", 25), (3, "corrected", 30)]
    assert history[2] == second.get_json() | {"change": "corrected",
                                              "recorded_at": history[2]["recorded_at"]}


def test_retracting_a_figure_never_changed_keeps_both_versions(
        client: FlaskClient, editor: dict[str, str]) -> None:
    stored = client.post(FIGURES, json=figure(), headers=editor).get_json()
    retracted = client.post(f"{FIGURES}/{stored['id']}/retract", json={"reason": "wrong"},
                            headers=editor)
    assert retracted.status_code == 200
    history = client.get(f"{FIGURES}/{stored['id']}/history").get_json()["items"]
    assert [(v["version"], v["change"], v["status"]) for v in history] == [
        (1, "created", "active"), (2, "retracted", "retracted")]
    assert history[0] == stored | {"change": "created", "recorded_at": stored["created_at"]}


def test_a_batch_stores_what_single_posts_store(client: FlaskClient,
                                               editor: dict[str, str]) -> None:
    bodies = [figure(count=n, side=" North ", location_code="ua14", via=" Wire ",
                     url="https://example.org/a", quote="  ") for n in (1, 2)]
    ids = client.post(f"{FIGURES}/batch", json={"figures": bodies},
                      headers=editor).get_json()["ids"]
    single = client.post(FIGURES, json=bodies[0], headers=editor).get_json()
    batched = client.get(f"{FIGURES}/{ids[0]}").get_json()
    different = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in batched.items() if k not in different} == \
        {k: v for k, v in single.items() if k not in different}
    assert (batched["side"], batched["via"], batched["quote"]) == ("North", "Wire", None)
