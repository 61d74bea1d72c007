"""Figures through the API (§4): create, batch, list with every filter, pages, corrections,
history, retraction, disputes, and sources made on first use."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient

FIGURES = "/api/v1/figures"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
FIGURE_FIELDS = {"id", "conflict", "source", "category", "side", "location", "incident",
                 "count", "count_high", "qualifier", "unit", "reported_on", "as_of",
                 "period_start", "quote", "url", "notes", "low", "high", "status", "version",
                 "created_at", "updated_at"}


def post(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict:
    response = client.post(FIGURES, json=figure(**overrides), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def ids(client: FlaskClient, query: str = "") -> list[int]:
    response = client.get(f"{FIGURES}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_json()
    assert page["next_cursor"] is None
    return [item["id"] for item in page["items"]]


# --- creating ----------------------------------------------------------------------------

def test_post_one_figure(client: FlaskClient, editor: dict[str, str]) -> None:
    response = client.post(FIGURES, json=figure(), headers=editor)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    created = response.get_json()
    assert set(created) >= FIGURE_FIELDS
    assert response.headers["Location"].endswith(f"/api/v1/figures/{created['id']}")
    expected = {
        "conflict": "nagorno-karabakh-2020", "source": "Azerbaijani officials",
        "category": "civilian", "side": "Azerbaijan", "location": None, "incident": None,
        "count": 22, "count_high": None, "qualifier": "exact", "unit": "people",
        "reported_on": "2020-10-04", "as_of": "2020-10-04", "period_start": None,
        "quote": None, "url": None, "notes": None, "low": 22, "high": 22,
        "status": "active", "version": 1,
    }
    assert {key: created[key] for key in expected} == expected
    assert isinstance(created["id"], int)
    assert TIMESTAMP.fullmatch(created["created_at"])
    assert TIMESTAMP.fullmatch(created["updated_at"])
    assert created["updated_at"] == created["created_at"]
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == created


def test_post_keeps_every_given_field(client: FlaskClient, editor: dict[str, str]) -> None:
    given = figure(category="damage", side=None, location="Ganja", incident="Missile strike",
                   count=3, qualifier="at_least", unit="buildings", reported_on="2020-10-05",
                   as_of="2020-10-04", period_start="2020-10-04", quote="at least three",
                   url="https://example.org/ganja?day=4", notes="from a video")
    created = post(client, editor, **given)
    assert {key: created[key] for key in given} == given
    assert (created["low"], created["high"]) == (3, None)


def test_text_is_trimmed(client: FlaskClient, editor: dict[str, str]) -> None:
    created = post(client, editor, source="  Azerbaijani officials ", location=" Ganja ")
    assert (created["source"], created["location"]) == ("Azerbaijani officials", "Ganja")


@pytest.mark.parametrize(("qualifier", "count", "count_high", "low", "high"), [
    ("exact", 22, None, 22, 22),
    ("exact", 20, 30, 20, 30),
    ("exact", 20, 20, 20, 20),
    ("about", 200, None, 180, 220),
    ("about", 95, None, 85, 105),
    ("about", 1, None, 0, 2),
    ("about", 0, None, 0, 0),
    ("nearly", 30000, None, 27000, 30000),
    ("nearly", 15, None, 13, 15),
    ("at_least", 50, None, 50, None),
    ("more_than", 5, None, 6, None),
    ("at_most", 40, None, 0, 40),
    ("fewer_than", 0, None, 0, 0),
    ("fewer_than", 10, None, 0, 9),
    ("about", 1_000_000_000, None, 900_000_000, 1_100_000_000),
])
def test_interval_for_each_qualifier(client: FlaskClient, editor: dict[str, str],
                                     qualifier: str, count: int, count_high: int | None,
                                     low: int, high: int | None) -> None:
    created = post(client, editor, qualifier=qualifier, count=count, count_high=count_high)
    assert (created["low"], created["high"]) == (low, high)
    stored = client.get(f"{FIGURES}/{created['id']}").get_json()
    assert (stored["qualifier"], stored["count"], stored["count_high"]) == (
        qualifier, count, count_high)
    assert (stored["low"], stored["high"]) == (low, high)


def test_batch_stores_all_in_order(client: FlaskClient, editor: dict[str, str]) -> None:
    first = post(client, editor, count=1)
    items = [figure(count=n, source=f"Source {n % 3}") for n in range(2, 12)]
    response = client.post(f"{FIGURES}/batch", json={"figures": items}, headers=editor)
    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == ["ids"]
    assert body["ids"] == list(range(first["id"] + 1, first["id"] + 11))
    for figure_id, item in zip(body["ids"], items, strict=True):
        stored = client.get(f"{FIGURES}/{figure_id}").get_json()
        assert (stored["count"], stored["source"], stored["version"]) == (
            item["count"], item["source"], 1)
    assert ids(client) == [first["id"], *body["ids"]]


def test_batch_of_10000_is_accepted(client: FlaskClient, editor: dict[str, str],
                                    database: Any) -> None:
    response = client.post(f"{FIGURES}/batch", json={"figures": [figure()] * 10_000},
                           headers=editor)
    assert response.status_code == 201
    assert len(response.get_json()["ids"]) == 10_000
    assert database.execute("SELECT count(*) FROM figures").fetchone()[0] == 10_000
    last = response.get_json()["ids"][-1]
    history = client.get(f"{FIGURES}/{last}/history").get_json()["items"]
    assert [(v["version"], v["change"], v["id"]) for v in history] == [(1, "created", last)]


# --- listing -----------------------------------------------------------------------------

@pytest.fixture
def corpus(client: FlaskClient, editor: dict[str, str]) -> dict[str, int]:
    """Four figures that differ in every filtered field; D is retracted."""
    items = {
        "A": figure(conflict="c1", source="Alpha", category="military", side="Armenia",
                    location="Stepanakert", incident=None, reported_on="2020-10-01",
                    as_of="2020-09-30"),
        "B": figure(conflict="c1", source="Beta", category="civilian", side="Azerbaijan",
                    location="Ganja", incident="Strike one", reported_on="2020-10-04",
                    as_of="2020-10-04"),
        "C": figure(conflict="c2", source="ALPHA", category="civilian", side="Azerbaijan",
                    location="Ganja", incident="Strike two", reported_on="2020-10-10",
                    as_of="2020-10-08"),
        "D": figure(conflict="c1", source="Beta", category="injured", side=None,
                    location=None, reported_on="2020-10-05", as_of="2020-10-02"),
    }
    response = client.post(f"{FIGURES}/batch", json={"figures": list(items.values())},
                           headers=editor)
    assert response.status_code == 201
    named = dict(zip(items, response.get_json()["ids"], strict=True))
    retract = client.post(f"{FIGURES}/{named['D']}/retract", json={"reason": "a mistake"},
                          headers=editor)
    assert retract.status_code == 200
    return named


@pytest.mark.parametrize(("query", "expected"), [
    ("", "ABC"),
    ("conflict=c1", "AB"),
    ("conflict=c2", "C"),
    ("conflict=c3", ""),
    ("source=Alpha", "AC"),
    ("source=alpha", "AC"),
    ("source=BETA", "B"),
    ("source=Gamma", ""),
    ("category=civilian", "BC"),
    ("category=military", "A"),
    ("category=injured", ""),
    ("side=Azerbaijan", "BC"),
    ("side=Armenia", "A"),
    ("location=Ganja", "BC"),
    ("location=Stepanakert", "A"),
    ("incident=Strike+one", "B"),
    ("incident=Strike+two", "C"),
    ("status=active", "ABC"),
    ("status=retracted", "D"),
    ("status=all", "ABCD"),
    ("status=all&conflict=c1&source=beta", "BD"),
    ("status=all&category=injured", "D"),
    ("reported_from=2020-10-04", "BC"),
    ("reported_from=2020-10-05", "C"),
    ("reported_to=2020-10-04", "AB"),
    ("reported_to=2020-10-03", "A"),
    ("reported_from=2020-10-04&reported_to=2020-10-10", "BC"),
    ("reported_from=2020-10-04&reported_to=2020-10-10&status=all", "BCD"),
    ("reported_from=2020-10-02&reported_to=2020-10-03", ""),
    ("as_of_from=2020-09-30&as_of_to=2020-10-04", "AB"),
    ("as_of_from=2020-09-30&as_of_to=2020-10-04&status=all", "ABD"),
    ("as_of_from=2020-10-04", "BC"),
    ("as_of_to=2020-10-07", "AB"),
    ("as_of_from=2020-10-08&as_of_to=2020-10-08", "C"),
    ("conflict=c1&category=civilian&side=Azerbaijan&location=Ganja", "B"),
])
def test_list_filters(client: FlaskClient, corpus: dict[str, int], query: str,
                      expected: str) -> None:
    assert ids(client, query) == [corpus[name] for name in expected]


def test_list_items_are_whole_figures(client: FlaskClient, corpus: dict[str, int]) -> None:
    page = client.get(f"{FIGURES}?status=all").get_json()
    assert set(page) == {"items", "next_cursor"}
    for item in page["items"]:
        assert item == client.get(f"{FIGURES}/{item['id']}").get_json()


def walk_pages(client: FlaskClient, query: str) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        url = f"{FIGURES}?{query}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).get_json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and cursor
        assert len(pages) < 10


@pytest.mark.parametrize(("total", "sizes"), [(25, [10, 10, 5]), (20, [10, 10]),
                                              (10, [10]), (1, [1])])
def test_cursor_pagination(client: FlaskClient, editor: dict[str, str], total: int,
                           sizes: list[int]) -> None:
    response = client.post(f"{FIGURES}/batch",
                           json={"figures": [figure(count=n) for n in range(total)]},
                           headers=editor)
    created = response.get_json()["ids"]
    pages = walk_pages(client, "limit=10")
    assert [len(page) for page in pages] == sizes
    flat = [figure_id for page in pages for figure_id in page]
    assert flat == created  # strictly increasing, no duplicates, no gaps
    assert flat == sorted(set(flat))


def test_pagination_keeps_the_filter(client: FlaskClient, editor: dict[str, str]) -> None:
    items = [figure(category="civilian" if n % 2 else "military", count=n) for n in range(9)]
    created = client.post(f"{FIGURES}/batch", json={"figures": items},
                          headers=editor).get_json()["ids"]
    pages = walk_pages(client, "limit=2&category=civilian")
    assert pages == [created[1:4:2], created[5:8:2]]


def test_empty_list(client: FlaskClient) -> None:
    assert client.get(FIGURES).get_json() == {"items": [], "next_cursor": None}


def test_default_limit_is_100(client: FlaskClient, editor: dict[str, str]) -> None:
    client.post(f"{FIGURES}/batch", json={"figures": [figure()] * 101}, headers=editor)
    page = client.get(FIGURES).get_json()
    assert len(page["items"]) == 100
    assert page["next_cursor"] is not None
    rest = client.get(f"{FIGURES}?cursor={page['next_cursor']}").get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


# --- corrections and history -------------------------------------------------------------

def test_patch_makes_a_new_version(client: FlaskClient, editor: dict[str, str]) -> None:
    created = post(client, editor)
    response = client.patch(f"{FIGURES}/{created['id']}", json={"count": 25}, headers=editor)
    assert response.status_code == 200
    patched = response.get_json()
    assert (patched["count"], patched["version"], patched["low"], patched["high"]) == (
        25, 2, 25, 25)
    assert patched["created_at"] == created["created_at"]
    assert TIMESTAMP.fullmatch(patched["updated_at"])
    assert patched["updated_at"] >= created["updated_at"]
    unchanged = {k: v for k, v in created.items()
                 if k not in ("count", "low", "high", "version", "updated_at")}
    assert {k: patched[k] for k in unchanged} == unchanged
    assert client.get(f"{FIGURES}/{created['id']}").get_json() == patched

    history = client.get(f"{FIGURES}/{created['id']}/history").get_json()
    assert history["next_cursor"] is None
    assert [v["version"] for v in history["items"]] == [1, 2]
    assert [v["count"] for v in history["items"]] == [22, 25]
    assert [v["change"] for v in history["items"]] == ["created", "corrected"]
    old = {k: v for k, v in history["items"][0].items() if k not in ("change", "recorded_at")}
    assert old == created
    assert all(TIMESTAMP.fullmatch(v["recorded_at"]) for v in history["items"])


def test_patch_recomputes_the_interval(client: FlaskClient, editor: dict[str, str]) -> None:
    created = post(client, editor, count=200)
    path = f"{FIGURES}/{created['id']}"
    about = client.patch(path, json={"qualifier": "about"}, headers=editor).get_json()
    assert (about["low"], about["high"], about["version"]) == (180, 220, 2)
    ranged = client.patch(path, json={"qualifier": "exact", "count_high": 250},
                          headers=editor).get_json()
    assert (ranged["low"], ranged["high"], ranged["version"]) == (200, 250, 3)
    more = client.patch(path, json={"count": 95, "count_high": None, "qualifier": "more_than"},
                        headers=editor).get_json()
    assert (more["low"], more["high"], more["version"]) == (96, None, 4)


def test_patch_as_of_null_goes_back_to_reported_on(client: FlaskClient,
                                                   editor: dict[str, str]) -> None:
    created = post(client, editor, as_of="2020-10-01")
    patched = client.patch(f"{FIGURES}/{created['id']}", json={"as_of": None},
                           headers=editor).get_json()
    assert (patched["as_of"], patched["version"]) == ("2020-10-04", 2)


def test_patch_moves_a_figure_to_another_source(client: FlaskClient,
                                                editor: dict[str, str]) -> None:
    created = post(client, editor)
    patched = client.patch(f"{FIGURES}/{created['id']}", json={"source": "Hikmat Hajiyev"},
                           headers=editor).get_json()
    assert (patched["source"], patched["version"]) == ("Hikmat Hajiyev", 2)
    names = [s["name"] for s in client.get("/api/v1/sources").get_json()["items"]]
    assert names == ["Azerbaijani officials", "Hikmat Hajiyev"]


@pytest.mark.parametrize("changes", [
    {"count": 22},
    {"count": 22, "side": "Azerbaijan", "qualifier": "exact", "unit": "people"},
    {"as_of": "2020-10-04"},
    {"source": "AZERBAIJANI OFFICIALS"},
    {"location": None, "count_high": None},
])
def test_noop_patch_keeps_the_version(client: FlaskClient, editor: dict[str, str],
                                      database: Any, changes: dict) -> None:
    created = post(client, editor)
    before = stored_state(database)
    response = client.patch(f"{FIGURES}/{created['id']}", json=changes, headers=editor)
    assert response.status_code == 200
    assert response.get_json() == created
    assert stored_state(database) == before
    history = client.get(f"{FIGURES}/{created['id']}/history").get_json()["items"]
    assert [v["version"] for v in history] == [1]


def test_history_pages(client: FlaskClient, editor: dict[str, str]) -> None:
    created = post(client, editor)
    for count in range(23, 28):
        client.patch(f"{FIGURES}/{created['id']}", json={"count": count}, headers=editor)
    first = client.get(f"{FIGURES}/{created['id']}/history?limit=4").get_json()
    assert [v["version"] for v in first["items"]] == [1, 2, 3, 4]
    rest = client.get(f"{FIGURES}/{created['id']}/history?limit=4"
                      f"&cursor={first['next_cursor']}").get_json()
    assert [v["version"] for v in rest["items"]] == [5, 6]
    assert [v["count"] for v in rest["items"]] == [26, 27]
    assert rest["next_cursor"] is None


# --- retraction --------------------------------------------------------------------------

def test_retract(client: FlaskClient, editor: dict[str, str]) -> None:
    created = post(client, editor)
    other = post(client, editor, count=30)
    path = f"{FIGURES}/{created['id']}"
    client.patch(path, json={"count": 25}, headers=editor)
    response = client.post(f"{path}/retract", json={"reason": "Counted twice."},
                           headers=editor)
    assert response.status_code == 200
    retracted = response.get_json()
    assert (retracted["status"], retracted["version"], retracted["count"]) == (
        "retracted", 3, 25)
    assert retracted["retraction_reason"] == "Counted twice."
    assert client.get(path).get_json() == retracted

    assert ids(client) == [other["id"]]
    assert ids(client, "status=all") == [created["id"], other["id"]]
    assert ids(client, "status=retracted") == [created["id"]]

    history = client.get(f"{path}/history").get_json()["items"]
    assert [(v["version"], v["change"], v["status"], v["count"]) for v in history] == [
        (1, "created", "active", 22), (2, "corrected", "active", 25),
        (3, "retracted", "retracted", 25)]


def test_retracted_figure_cannot_change(client: FlaskClient, editor: dict[str, str],
                                        database: Any) -> None:
    created = post(client, editor)
    path = f"{FIGURES}/{created['id']}"
    retracted = client.post(f"{path}/retract", json={"reason": "wrong"},
                            headers=editor).get_json()
    before = stored_state(database)
    assert_problem(client.patch(path, json={"count": 5}, headers=editor), 409)
    assert_problem(client.post(f"{path}/retract", json={"reason": "again"}, headers=editor),
                   409)
    assert stored_state(database) == before
    assert client.get(path).get_json() == retracted


# --- disputes ----------------------------------------------------------------------------

def test_disputes(client: FlaskClient, editor: dict[str, str]) -> None:
    created = post(client, editor, source="Vahram Poghosyan", category="damage",
                   unit="airfields", count=1)
    path = f"{FIGURES}/{created['id']}/disputes"
    assert client.get(path).get_json() == {"items": [], "next_cursor": None}
    response = client.post(path, json={
        "source": "Azerbaijani officials", "reported_on": "2020-10-04",
        "quote": "a claim denied by Azerbaijani officials",
        "url": "https://example.org/denial"}, headers=editor)
    assert response.status_code == 201
    dispute = response.get_json()
    assert {k: dispute[k] for k in ("figure_id", "source", "reported_on", "quote", "url")} == {
        "figure_id": created["id"], "source": "Azerbaijani officials",
        "reported_on": "2020-10-04", "quote": "a claim denied by Azerbaijani officials",
        "url": "https://example.org/denial"}
    assert isinstance(dispute["id"], int)
    assert TIMESTAMP.fullmatch(dispute["created_at"])
    second = client.post(path, json={"source": "azerbaijani OFFICIALS",
                                     "reported_on": "2020-10-05"}, headers=editor).get_json()
    assert (second["source"], second["quote"], second["url"]) == (
        "Azerbaijani officials", None, None)

    listed = client.get(path).get_json()
    assert listed == {"items": [dispute, second], "next_cursor": None}
    paged = client.get(f"{path}?limit=1").get_json()
    assert paged["items"] == [dispute] and paged["next_cursor"]
    # a dispute is not a correction
    assert client.get(f"{FIGURES}/{created['id']}").get_json() == created


def test_disputes_are_per_figure(client: FlaskClient, editor: dict[str, str]) -> None:
    first, second = post(client, editor), post(client, editor, count=30)
    client.post(f"{FIGURES}/{first['id']}/disputes",
                json={"source": "Armenia", "reported_on": "2020-10-04"}, headers=editor)
    listed = client.get(f"{FIGURES}/{second['id']}/disputes").get_json()
    assert listed == {"items": [], "next_cursor": None}


# --- sources made on first use -------------------------------------------------------------

def test_sources_are_created_on_first_use(client: FlaskClient, editor: dict[str, str]) -> None:
    first = post(client, editor, source="Azerbaijani officials")
    second = post(client, editor, source="Azerbaijani Officials")
    third = post(client, editor, source="AZERBAIJANI OFFICIALS ")
    sources = client.get("/api/v1/sources").get_json()["items"]
    assert [s["name"] for s in sources] == ["Azerbaijani officials"]
    assert (sources[0]["kind"], sources[0]["affiliation"]) == ("unknown", None)
    assert {f["source"] for f in (first, second, third)} == {"Azerbaijani officials"}
    assert ids(client, "source=azerbaijani+OFFICIALS") == [
        first["id"], second["id"], third["id"]]


def test_batch_sources_match_case_insensitively(client: FlaskClient,
                                                editor: dict[str, str]) -> None:
    items = [figure(source="Nagorno-Karabakh officials"),
             figure(source="NAGORNO-KARABAKH OFFICIALS"), figure(source="Armenia MoD")]
    client.post(f"{FIGURES}/batch", json={"figures": items}, headers=editor)
    sources = client.get("/api/v1/sources").get_json()["items"]
    assert [s["name"] for s in sources] == ["Nagorno-Karabakh officials", "Armenia MoD"]
