"""Sources (§5): listed, read, and described (kind, affiliation) by PATCH."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient

SOURCES = "/api/v1/sources"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
NAMES = ["Azerbaijani officials", "Nagorno-Karabakh officials", "Vahram Poghosyan",
         "Azerbaijan's Foreign Ministry", "Armenian Defense Ministry"]


@pytest.fixture
def sources(client: FlaskClient, editor: dict[str, str]) -> list[dict]:
    response = client.post("/api/v1/figures/batch",
                           json={"figures": [figure(source=name) for name in NAMES]},
                           headers=editor)
    assert response.status_code == 201
    items = client.get(SOURCES).get_json()["items"]
    assert [s["name"] for s in items] == NAMES
    return items


def test_list_sources(client: FlaskClient, sources: list[dict]) -> None:
    assert [s["id"] for s in sources] == sorted({s["id"] for s in sources})
    for source in sources:
        assert {k: source[k] for k in ("kind", "affiliation")} == {
            "kind": "unknown", "affiliation": None}
        assert TIMESTAMP.fullmatch(source["created_at"])


def test_sources_pages(client: FlaskClient, sources: list[dict]) -> None:
    pages, cursor = [], None
    while True:
        body = client.get(f"{SOURCES}?limit=2" + (f"&cursor={cursor}" if cursor else "")
                          ).get_json()
        pages.append([s["name"] for s in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [NAMES[0:2], NAMES[2:4], NAMES[4:5]]


def test_empty_source_list(client: FlaskClient) -> None:
    assert client.get(SOURCES).get_json() == {"items": [], "next_cursor": None}


def test_get_one_source(client: FlaskClient, sources: list[dict]) -> None:
    response = client.get(f"{SOURCES}/{sources[2]['id']}")
    assert response.status_code == 200
    source = response.get_json()
    assert source == sources[2]
    assert {"id", "name", "kind", "affiliation", "created_at"} <= set(source)
    assert source["name"] == "Vahram Poghosyan"


@pytest.mark.parametrize("source_id", ["999", "0", "99999999999999999999999"])
def test_unknown_source(client: FlaskClient, sources: list[dict], source_id: str) -> None:
    assert_problem(client.get(f"{SOURCES}/{source_id}"), 404)


def test_patch_unknown_source(client: FlaskClient, editor: dict[str, str],
                              database: Any) -> None:
    before = stored_state(database)
    assert_problem(client.patch(f"{SOURCES}/999", json={"kind": "media"}, headers=editor), 404)
    assert stored_state(database) == before


def test_patch_kind_and_affiliation(client: FlaskClient, editor: dict[str, str],
                                    sources: list[dict]) -> None:
    path = f"{SOURCES}/{sources[0]['id']}"
    response = client.patch(path, json={"kind": "government", "affiliation": "Azerbaijan"},
                            headers=editor)
    assert response.status_code == 200
    updated = response.get_json()
    assert {k: updated[k] for k in ("id", "name", "kind", "affiliation", "created_at")} == {
        **{k: sources[0][k] for k in ("id", "name", "created_at")},
        "kind": "government", "affiliation": "Azerbaijan"}
    assert client.get(path).get_json() == updated

    only_kind = client.patch(path, json={"kind": "official"}, headers=editor).get_json()
    assert (only_kind["kind"], only_kind["affiliation"]) == ("official", "Azerbaijan")
    only_side = client.patch(path, json={"affiliation": "Turkey"}, headers=editor).get_json()
    assert (only_side["kind"], only_side["affiliation"]) == ("official", "Turkey")
    # the other sources are untouched
    assert client.get(f"{SOURCES}/{sources[1]['id']}").get_json() == sources[1]


def test_affiliation_null_is_allowed(client: FlaskClient, editor: dict[str, str],
                                     sources: list[dict]) -> None:
    path = f"{SOURCES}/{sources[4]['id']}"
    client.patch(path, json={"affiliation": "Armenia"}, headers=editor)
    response = client.patch(path, json={"affiliation": None}, headers=editor)
    assert response.status_code == 200
    assert response.get_json()["affiliation"] is None
    assert client.get(path).get_json()["affiliation"] is None


@pytest.mark.parametrize("kind", ["government", "military", "official", "ngo", "un", "media",
                                  "independent", "individual", "unknown"])
def test_every_kind_is_accepted(client: FlaskClient, editor: dict[str, str],
                                sources: list[dict], kind: str) -> None:
    response = client.patch(f"{SOURCES}/{sources[0]['id']}", json={"kind": kind},
                            headers=editor)
    assert response.status_code == 200
    assert response.get_json()["kind"] == kind


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "press"}, "kind"),
    ({"kind": "Government"}, "kind"),
    ({"kind": None}, "kind"),
    ({"kind": 1}, "kind"),
    ({"affiliation": ""}, "affiliation"),
    ({"affiliation": "a" * 201}, "affiliation"),
    ({"affiliation": "Azer\x00baijan"}, "affiliation"),
    ({"kind": "media", "name": "Renamed"}, "name"),
    ({"kind": "media", "id": 7}, "id"),
    ({"kind": "media", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ({}, None),
])
def test_bad_source_patch(client: FlaskClient, editor: dict[str, str], database: Any,
                          sources: list[dict], body: dict, field: str | None) -> None:
    path = f"{SOURCES}/{sources[0]['id']}"
    before = stored_state(database)
    assert_problem(client.patch(path, json=body, headers=editor), 422, field)
    assert stored_state(database) == before
    assert client.get(path).get_json() == sources[0]


def test_source_patch_needs_json(client: FlaskClient, editor: dict[str, str],
                                 sources: list[dict]) -> None:
    response = client.patch(f"{SOURCES}/{sources[0]['id']}", data="kind=media",
                            headers={**editor, "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)


@pytest.mark.parametrize(("query", "field"), [("limit=1001", "limit"), ("limit=0", "limit"),
                                              ("kind=press", "kind"), ("colour=red", "colour"),
                                              ("cursor=forged", "cursor")])
def test_bad_source_query(client: FlaskClient, query: str, field: str) -> None:
    assert_problem(client.get(f"{SOURCES}?{query}"), 422, field)
